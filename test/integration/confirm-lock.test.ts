// The confirmations of bulk commands (unlock of several accounts, unlock --all, expire, expiring --notify)
// wait for a person: on the embedded database, which one process holds at a time, nobody else may have to
// wait meanwhile (a fresh-clone tester left `unlock a b` at its question and `locked` failed after 15 s).
import { cpSync, existsSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Prompts } from '../../src/context.js';
import { pgliteKnexOptions } from '../../src/db/pglite.js';
import { cli, spawnCli } from '../helpers/cli.js';
import { templateDir, testRoot } from '../helpers/paths.js';

const DAY = 86_400_000;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(testRoot, 'confirm-lock-'));
  cpSync(templateDir, join(dir, 'pgdata'), { recursive: true });
  const { default: knexFactory } = await import('knex');
  const k = knexFactory(await pgliteKnexOptions(join(dir, 'pgdata')));
  const locked = { failed_login_attempts: 3, locked_at: new Date(Date.now() - DAY), lock_reason: 'failed_logins', account_expires_at: new Date(Date.now() + 200 * DAY) };
  await k('users').insert([
    { username: 'cl1', first_name: 'Ay', last_name: 'One', email: 'cl1@agency.example.org', ...locked },
    { username: 'cl2', first_name: 'Bee', last_name: 'Two', email: 'cl2@agency.example.org', ...locked },
    { username: 'cl3', first_name: 'Cee', last_name: 'Three', email: 'cl3@agency.example.org', ...locked },
    { username: 'gone', first_name: 'Ex', last_name: 'Pired', email: 'gone@agency.example.org', account_expires_at: new Date(Date.now() - DAY) },
    { username: 'soon', first_name: 'So', last_name: 'On', email: 'soon@agency.example.org', account_expires_at: new Date(Date.now() + 7 * DAY) },
  ]);
  await k.destroy();
}, 60_000);

/** A confirm that checks the database is free, optionally runs another process, then answers. */
function confirming(answer: boolean, other?: string[]): Prompts & { asked: string[]; otherResult?: { code: number; stderr: string } } {
  const p: Prompts & { asked: string[]; otherResult?: { code: number; stderr: string } } = {
    asked: [],
    confirm: async (message) => {
      p.asked.push(message);
      expect(existsSync(join(dir, 'pgdata.lock')), `the lock file exists while "${message}" waits`).toBe(false);
      if (other) {
        const r = await spawnCli(other, { HMIS_DATA_DIR: dir });
        p.otherResult = { code: r.code, stderr: r.stderr };
      }
      return answer;
    },
    input: async () => { throw new Error('no input expected'); },
    select: async () => { throw new Error('no select expected'); },
    search: async () => { throw new Error('no search expected'); },
  };
  return p;
}

const env = () => ({ HMIS_DATA_DIR: dir, HMIS_SITE_URL: 'https://hmis.example.org' });

describe('bulk confirmations leave the embedded database free while they ask', () => {
  it('unlock of named accounts: another process runs `locked` during the question, then the unlock is done', async () => {
    const prompt = confirming(true, ['locked', '--json']);
    const r = await cli(['unlock', 'cl1', 'cl2'], { env: env(), prompt, interactive: true });
    expect(r.code, r.stderr).toBe(0);
    expect(prompt.asked).toEqual(['Unlock 2 accounts?']);
    expect(prompt.otherResult?.code, prompt.otherResult?.stderr).toBe(0);
    expect(r.stdout).toMatch(/^cl1: unlocked/m);
    expect(r.stdout).toMatch(/^cl2: unlocked/m);
    expect(existsSync(join(dir, 'pgdata.lock'))).toBe(false);
  });

  it('unlock --all answered No changes nothing and exits 130', async () => {
    const prompt = confirming(false);
    const r = await cli(['unlock', '--all'], { env: env(), prompt, interactive: true });
    expect(r.code, r.stderr).toBe(130);
    expect(prompt.asked).toEqual(['Unlock 1 locked account(s)?']);
    const still = await cli(['locked', '--json'], { env: env() });
    expect(still.json<Array<{ username: string }>>().map((u) => u.username)).toEqual(['cl3']);
  });

  it('expire and expiring --notify ask with the database free too', async () => {
    const ex = confirming(true);
    const r = await cli(['expire'], { env: env(), prompt: ex, interactive: true });
    expect(r.code, r.stderr).toBe(0);
    expect(ex.asked).toEqual(['Lock 1 account(s) whose user agreement has expired?']);
    expect(r.stdout).toMatch(/^gone: /m);
    const no = confirming(false);
    const n = await cli(['expiring', '--notify'], { env: env(), prompt: no, interactive: true });
    expect(n.code, n.stderr).toBe(130);
    expect(no.asked).toHaveLength(1);
  });
});
