import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../../src/errors.js';
import { main } from '../../src/main.js';
import { sandboxEnv } from '../helpers/paths.js';

const hostile = () => {
  throw new NotFoundError('no user evil\u001b]0;PWNED\u0007\u001b[2J; look it up');
};

describe('error messages carrying database text', () => {
  it('reach stderr without escape sequences', async () => {
    // A command whose handler fails with a message built from hostile database text.
    const stderr = new PassThrough();
    let text = '';
    stderr.on('data', (c) => (text += c));
    const code = await main(['users', 'show', 'x'], {
      stdout: new PassThrough(),
      stderr,
      env: { ...sandboxEnv(), HMIS_DATABASE_URL: 'postgres://127.0.0.1:1/x' },
      database: {
        kind: 'postgres',
        where: 'test',
        close: async () => {},
        knex: new Proxy(() => {}, { apply: hostile, get: hostile }) as never,
      },
    });
    expect(code).toBe(3);
    expect(text).not.toMatch(/[\u001b\u0007]/);
    expect(text).toContain('no user evil]0;PWNED[2J; look it up');
  });
});
