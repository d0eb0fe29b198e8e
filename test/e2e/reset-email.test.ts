/** The built binary: reset send/list/check and email set/verify/check print parseable JSON; mail goes to the .eml folder. */
import { readFileSync } from 'node:fs';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, spawnCli, type CliResult } from '../helpers/cli.js';
import { onServer, spawnTestDb, withOpen, type SpawnDb } from '../helpers/db.js';
import { Leaks, seedUsers, SITE } from '../helpers/links.js';

let sdb: SpawnDb;
const leaks = new Leaks();
const env = () => ({ ...sdb.env, HMIS_SITE_URL: SITE });
async function run(args: string[]): Promise<CliResult> {
  const r = await spawnCli(args, env());
  if (!args.includes('--print-link')) leaks.outputs.push(r.stdout);
  leaks.outputs.push(r.stderr);
  return r;
}
/** The same in-process (main() on the file's database, no spawn): for the tool's logic, not the binary's. */
async function runInProcess(args: string[]): Promise<CliResult> {
  const r = await withOpen(sdb, (database) => cli(args, { database, env: env() }));
  leaks.outputs.push(r.stdout, r.stderr);
  return r;
}
async function linkInEml(message: string): Promise<string> {
  const path = /written to (\S+\.eml)/.exec(message)?.[1];
  if (!path) throw new Error(`no .eml path in: ${message}`);
  const parsed = await simpleParser(readFileSync(path));
  const token = /\?token=([\w-]{43})/.exec(parsed.text ?? '')![1]!;
  leaks.tokens.add(token);
  return token;
}

beforeAll(async () => {
  sdb = await spawnTestDb();
  if (onServer) expect((await spawnCli(['db', 'migrate', '--json'], sdb.env)).code).toBe(0); // the embedded copy is migrated already
  const db = await sdb.open();
  await seedUsers(db.knex, [{ username: 'alice' }, { username: 'bob', verified: false }, { username: 'carl', email: null }]);
  await db.close();
});
afterAll(async () => sdb?.drop());

describe('reset and email commands (built binary)', () => {
  let link = '';

  it('reset send --print-link --json sends to the .eml folder and prints the same link', async () => {
    const r = await run(['reset', 'send', 'alice', '--print-link', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const [res] = r.json().results;
    expect(res.outcome).toBe('sent');
    link = res.link;
    expect(link).toBe(`${SITE}/password/reset?token=${await linkInEml(res.message)}`);
    leaks.tokens.add(link.slice(-43));
  });

  it('reset list --json and reset check --json', async () => {
    const list = await run(['reset', 'list', 'alice', '--json']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.json()).toMatchObject([{ state: 'valid', delivery: 'sent' }]);
    // `reset check --json` through the binary: the revoked link below (exit 5 and its JSON verdict). Which verdict a
    // link gets, and exit 0 for a valid one, is the tool's logic: in-process, on the file's database.
    const [ok, bad] = await withOpen(sdb, async (database) => [
      await cli(['reset', 'check', link, '--json'], { database, env: env() }),
      await cli(['reset', 'check', `${SITE}/password/reset`, '--json'], { database, env: env() }),
    ]);
    leaks.outputs.push(ok!.stdout, ok!.stderr, bad!.stdout, bad!.stderr);
    expect(ok!.code, ok!.stderr).toBe(0);
    expect(ok!.json()).toMatchObject({ valid: true, user: 'alice' });
    expect(bad!.code).toBe(5);
    expect(bad!.json()).toMatchObject({ valid: false, reason: 'malformed', user: null });
  });

  it('email set --json changes the address, revokes the link and writes the notice', async () => {
    const r = await run(['email', 'set', 'alice', 'Alice@NEW.example.org', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().results[0]).toMatchObject({ user: 'alice', outcome: 'email_set' });
    expect(r.json().results[0].message).toMatch(/address set to Alice@new\.example\.org.*notice to the old address .*: sent/);
    const check = await run(['reset', 'check', link, '--json']);
    expect(check.code).toBe(5);
    expect(check.json()).toMatchObject({ reason: 'revoked' });
    // The refusal of a header-injecting address is the tool's logic (exit 2 through the binary: e2e/cli.test.ts).
    const refused = await runInProcess(['email', 'set', 'bob', 'bob@x.org\r\nBcc: a@b.org']);
    expect(refused.code).toBe(2);
  });

  it('email verify --json and email check --json', async () => {
    const v = await run(['email', 'verify', 'bob', '--json']);
    expect(v.code, v.stderr).toBe(0);
    expect(v.json().results[0].outcome).toBe('verification_sent');
    await linkInEml(v.json().results[0].message);
    const c = await run(['email', 'check', '--json', '--fail-if-any']);
    expect(c.code).toBe(5);
    const doc = c.json();
    expect(doc.accounts.map((a: { user: string }) => a.user).sort()).toEqual(['alice', 'bob', 'carl']);
    expect(doc.total).toMatchObject({ accounts: 3, withProblems: 3, missingEmail: 1, unverified: 2 });
  });

  it('leaves no raw token in the database or the output', async () => {
    const db = await sdb.open();
    try {
      expect(await leaks.scan(db.knex)).toEqual([]);
    } finally {
      await db.close();
    }
  });
});
