/**
 * A username that starts with "-" cannot be typed after a command (it reads as an option, quoted or not):
 * every suggested command names such an account by '#<id>'. Both databases.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { openTestDb, type TestDb } from '../helpers/db.js';
import { seedUsers, SITE } from '../helpers/links.js';

let db: TestDb;
let ids: Record<string, number>;
const run = (args: string[]) => cli(args, { database: db, env: { ...db.env, HMIS_SITE_URL: SITE } });

beforeAll(async () => {
  db = await openTestDb();
  ids = await seedUsers(db.knex, [{ username: '-evil', email: null }, { username: '-locked', lock: 'failed_logins' }]);
});
afterAll(async () => db?.close());

describe('suggestions for a username starting with "-"', () => {
  it('reset send names the account by #id in the fix, and that fix parses', async () => {
    const r = await run(['reset', 'send', `#${ids['-evil']}`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`\`hmis-admin email set '#${ids['-evil']}' <address>\``);
    expect(r.stderr).not.toMatch(/email set -evil/);
    const fix = await run(['email', 'set', `#${ids['-evil']}`, 'evil@agency.test.example.org', '--verified']);
    expect(fix.code, fix.stderr).toBe(0);
    const locked = await run(['reset', 'send', `#${ids['-locked']}`]);
    expect(locked.stderr).toContain(`\`hmis-admin unlock '#${ids['-locked']}'\``);
  });

  it('diagnose fixes use #id', async () => {
    const r = await run(['diagnose', `#${ids['-locked']}`, '--json']);
    const fixes = (r.json().checks as Array<{ fix: string | null }>).map((c) => c.fix).filter(Boolean);
    expect(fixes.length).toBeGreaterThan(0);
    for (const f of fixes) expect(f).not.toMatch(/ -locked/);
    expect(fixes.join('\n')).toContain(`unlock '#${ids['-locked']}'`);
  });
});
