/** Every CLI a test runs gets a temporary HOME, XDG_DATA_HOME and HMIS_DATA_DIR unless it names its own. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderMail } from '../../src/mail/compose.js';
import { enqueueMail } from '../../src/mail/outbox.js';
import { cli, spawnCli } from '../helpers/cli.js';
import { openTestDb, type TestDb } from '../helpers/db.js';
import { serviceContext } from '../helpers/lockout-seed.js';
import { testRoot } from '../helpers/paths.js';

let db: TestDb;
beforeAll(async () => {
  db = await openTestDb();
});
afterAll(async () => db?.close());

describe('test runs stay in their own folder', () => {
  it('in-process: mail without a relay is written under the run folder, not ~/.local/share/hmis-admin', async () => {
    const body = renderMail({ greeting: 'Hello,', paragraphs: ['A notice.'], senderHint: 'hmis@example.org' });
    await enqueueMail(db.knex, { kind: 'notice', to: 'someone@agency.org', subject: 'Notice', ...body });
    const r = await cli(['outbox', 'flush', '--json'], { database: db, env: {} });
    expect(r.code, r.stderr).toBe(0);
    const path = /written to (\S+\.eml)/.exec(r.json().results[0].message)?.[1];
    expect(path?.startsWith(`${testRoot}/home-`), path).toBe(true);
  });

  it('service contexts and spawned binaries default to the run folder too', async () => {
    expect(serviceContext(db, {}).config.dataDir.startsWith(`${testRoot}/home-`)).toBe(true);
    const r = await spawnCli(['locked']); // no database named: the refusal names the folder it looked in
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`no embedded database in ${testRoot}/home-`);
  });
});
