/** The built binary for unlock, lock, expiring, expire and agreement: exit codes and --json output. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, spawnCli } from '../helpers/cli.js';
import { onServer, spawnTestDb, withOpen, type SpawnDb } from '../helpers/db.js';

let sdb: SpawnDb;
let env: Record<string, string>;
type Account = { username: string; locked: boolean; lockReason: string | null; daysLeft: number; missingSignatures: string[] };
/** Every demo account as the demo made it (one `users list --json`), to pick each test's subjects from. */
let demo: Account[];
/**
 * The tool's own logic on this database, in-process (main() on an open handle, no spawn): the set-up, and the
 * second runs that show a command is idempotent. What is about the binary (exit codes, JSON on stdout, two
 * processes at once) stays spawned.
 */
const inProcess = (args: string[]) => withOpen(sdb, (database) => cli(args, { database, env }));

beforeAll(async () => {
  sdb = await spawnTestDb();
  env = { ...sdb.env };
  demo = await withOpen(sdb, async (database) => {
    if (onServer) expect((await cli(['db', 'migrate'], { database, env })).code).toBe(0);
    const r = await cli(['demo', '--users', '200'], { database, env });
    expect(r.code, r.stderr).toBe(0);
    const list = await cli(['users', 'list', '--json'], { database, env });
    expect(list.code, list.stderr).toBe(0);
    return list.json<Account[]>();
  });
  expect(demo).toHaveLength(200);
});
afterAll(async () => sdb?.drop());

/** The demo's accounts locked for `reason` (no test below unlocks one another test picks). */
const locked = (reason: string) => demo.filter((a) => a.locked && a.lockReason === reason);

describe('hmis-admin (spawned) lockout, expiry and agreements', () => {
  it('unlock: unlocked, then not_locked; an expired-agreement lock is refused (exit 2); unknown exits 3', async () => {
    const [first] = locked('failed_logins');
    const r = await spawnCli(['unlock', first!.username, '--notify', '--ticket', 'HD-1', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().results[0]).toMatchObject({ user: first!.username, outcome: 'unlocked' });
    const [expired] = locked('agreement_expired');
    const refused = await spawnCli(['unlock', expired!.username, '--json'], env);
    expect(refused.code).toBe(2);
    expect(refused.json().results[0].message).toMatch(/hmis-admin agreement sign/);
    expect((await spawnCli(['unlock', '--all'], env)).code).toBe(2); // no terminal, no --yes
    // The tool's answers, in-process: a second unlock finds nothing to do; an unknown name is exit 3
    // (exit 3 through the binary: e2e/cli.test.ts, unknown user).
    await withOpen(sdb, async (database) => {
      const again = await cli(['unlock', first!.username, '--json'], { database, env });
      expect([again.code, again.json().results[0].outcome]).toEqual([0, 'not_locked']);
      expect((await cli(['unlock', 'no-such-user'], { database, env })).code).toBe(3);
    });
  });

  it('lock: locked, then locked again with nothing changed', async () => {
    const name = demo.find((u) => !u.locked)!.username;
    const r = await spawnCli(['lock', name, '--reason', 'left the agency', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().results[0].outcome).toBe('locked');
    expect((await inProcess(['lock', name, '--reason', 'again', '--json'])).json().results[0].outcome).toBe('locked');
  });

  it('expiring --json adds daysLeft and missingSignatures; --fail-if-any exits 5', async () => {
    const checkRows = (rows: Account[]) => {
      expect(rows.length).toBeGreaterThan(0);
      for (const row of rows) {
        expect(row.daysLeft).toBeGreaterThanOrEqual(0);
        expect(row.daysLeft).toBeLessThanOrEqual(30);
        expect(Array.isArray(row.missingSignatures)).toBe(true);
      }
    };
    // One spawned run shows both the JSON document and exit 5 (was two runs); exit 0 without --fail-if-any in-process below.
    const failing = await spawnCli(['expiring', '--fail-if-any', '--json'], env);
    expect(failing.code, failing.stderr).toBe(5);
    checkRows(failing.json<Account[]>());
    const notify = await spawnCli(['expiring', '--notify', '--yes', '--json'], env);
    expect(notify.code, notify.stderr).toBe(0);
    expect(notify.json().results.length).toBeGreaterThan(0);
    await withOpen(sdb, async (database) => {
      // Notifying changes no expiry: the list is the same, and exits 0 without --fail-if-any.
      const r = await cli(['expiring', '--json'], { database, env });
      expect(r.code, r.stderr).toBe(0);
      checkRows(r.json<Account[]>());
      expect((await cli(['expiring', '--notify', '--yes', '--json'], { database, env })).json().results).toEqual([]);
    });
  });

  it('expire --json: two processes at once lock each expired account once; a later run has nothing to do', async () => {
    const both = await Promise.all([spawnCli(['expire', '--yes', '--json'], env), spawnCli(['expire', '--yes', '--json'], env)]);
    for (const r of both) expect(r.code, r.stderr).toBe(0);
    const bodies = both.map((r) => r.json());
    const users = bodies.flatMap((b) => b.results.map((x: { user: string; outcome: string }) => `${x.user}:${x.outcome}`));
    expect(users.length).toBeGreaterThan(0);
    expect(new Set(users).size).toBe(users.length);
    expect(users.every((u: string) => u.endsWith(':expired'))).toBe(true);
    // The second either waited for the lock file (embedded) or found the advisory lock taken / nothing left (server).
    expect(bodies[0].counts.expired + bodies[1].counts.expired).toBe(users.length);
    expect((await inProcess(['expire', '--yes', '--json'])).json()).toMatchObject({ running: false, counts: { expired: 0 } });
  });

  it('agreement show / sign --json: three signatures renew and lift the lock', async () => {
    const [expired] = locked('agreement_expired');
    const name = expired!.username;
    const shown = await spawnCli(['agreement', 'show', name, '--json'], env);
    expect(shown.code, shown.stderr).toBe(0);
    const missing = shown.json().missingSignatures as string[];
    expect(missing.length).toBeGreaterThan(0);
    const outcomes: string[] = [];
    // All signatures but the last in-process; the last (the renewal) through the binary.
    await withOpen(sdb, async (database) => {
      for (const by of missing.slice(0, -1)) {
        const r = await cli(['agreement', 'sign', name, '--by', by, '--json'], { database, env });
        expect(r.code, r.stderr).toBe(0);
        outcomes.push(r.json().results[0].outcome);
      }
    });
    const last = await spawnCli(['agreement', 'sign', name, '--by', missing.at(-1)!, '--json'], env);
    expect(last.code, last.stderr).toBe(0);
    outcomes.push(last.json().results[0].outcome);
    expect(outcomes.at(-1)).toBe('renewed');
    await withOpen(sdb, async (database) => {
      const after = (await cli(['agreement', 'show', name, '--json'], { database, env })).json();
      expect(after).toMatchObject({ status: 'complete', missingSignatures: [] });
      expect(after.daysLeft).toBeGreaterThanOrEqual(364);
      const twice = await cli(['agreement', 'sign', name, '--by', 'user', '--date', '2999-01-01'], { database, env });
      expect(twice.code).toBe(2);
    });
  });
});
