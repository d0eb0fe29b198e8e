import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { openTestDb, type TestDb } from '../helpers/db.js';

let db: TestDb;
beforeAll(async () => {
  db = await openTestDb();
  const r = await cli(['demo', '--users', '300'], { database: db });
  expect(r.code, r.stderr).toBe(0);
});
afterAll(async () => db?.close());

describe('demo', () => {
  it('covers every state', async () => {
    const k = db.knex;
    const count = async (q: ReturnType<typeof k>) => Number(((await q.count({ n: '*' })) as Array<{ n: number | string }>)[0]!.n);
    expect(await count(k('users'))).toBe(300);
    for (const reason of ['failed_logins', 'agreement_expired', 'admin']) {
      expect(await count(k('users').where('lock_reason', reason).whereNotNull('locked_at'))).toBeGreaterThan(0);
    }
    expect(await count(k('users').whereNull('email'))).toBeGreaterThan(0);
    expect(await count(k('users').whereNotNull('email').whereNull('email_verified_at'))).toBeGreaterThan(0);
    expect(await count(k('users').whereNull('phone'))).toBeGreaterThan(0);
    expect(await count(k('users').whereNull('locked_at').where('account_expires_at', '<', k.fn.now()))).toBeGreaterThan(0);
    expect(await count(k('users').whereRaw("account_expires_at between now() and now() + interval '30 days'"))).toBeGreaterThan(0);
    expect(await count(k('user_agreements').whereNull('completed_at').whereNotNull('user_signed_at'))).toBeGreaterThan(0);
  });

  it('is a no-op on demo data and refuses a database with real accounts', async () => {
    const again = await cli(['demo'], { database: db });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already there/);
  });
});

describe('locked', () => {
  it('lists only locked accounts in the CONTRACT shape', async () => {
    const r = await cli(['locked', '--json'], { database: db });
    expect(r.code, r.stderr).toBe(0);
    const rows = r.json<Array<Record<string, unknown>>>();
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      expect(row.locked).toBe(true);
      expect(Object.keys(row)).toEqual([
        'id', 'username', 'name', 'email', 'emailVerified', 'phone', 'agency', 'locked', 'lockedAt', 'lockReason',
        'failedLoginAttempts', 'accountExpiresAt', 'lastLoginAt',
      ]);
    }
    const times = rows.map((r) => Date.parse(r.lockedAt as string));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });

  it('pages without losing or repeating rows', async () => {
    const all = (await cli(['locked', '--json'], { database: db })).json<Array<{ id: number }>>();
    const { NativeStore } = await import('../../src/store/native/index.js');
    const paged: number[] = [];
    for await (const row of new NativeStore(db.knex, () => new Date()).page({ locked: true }, 'locked', Infinity, 3)) paged.push(row.id);
    expect(paged).toEqual(all.map((r) => r.id));
  });

  it('filters by reason and agency', async () => {
    const r = await cli(['locked', '--reason', 'admin', '--agency', 'harbor light shelter', '--json'], { database: db });
    expect(r.code, r.stderr).toBe(0);
    for (const row of r.json<Array<Record<string, unknown>>>()) {
      expect(row.lockReason).toBe('admin');
      expect(row.agency).toBe('Harbor Light Shelter');
    }
  });

  it('names an unknown agency and lists real ones (exit 2)', async () => {
    const r = await cli(['locked', '--agency', 'Nowhere'], { database: db });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/"Nowhere" is not an agency; known agencies include: Eastgate/);
    expect(r.stdout).toBe('');
  });
});

describe('users', () => {
  it('list filters compose', async () => {
    const r = await cli(['users', 'list', '--missing-email', '--limit', '5', '--json'], { database: db });
    const rows = r.json<Array<Record<string, unknown>>>();
    expect(rows).toHaveLength(5);
    expect(rows.every((x) => x.email === null)).toBe(true);
    const s = (await cli(['users', 'list', '--search', 'GARCIA', '--json'], { database: db })).json<Array<{ name: string }>>();
    expect(s.length).toBeGreaterThan(0);
    expect(s.every((x) => /garcia/i.test(JSON.stringify(x)))).toBe(true);
    const e = (await cli(['users', 'list', '--expiring', '30d', '--json'], { database: db })).json<Array<{ accountExpiresAt: string }>>();
    expect(e.length).toBeGreaterThan(0);
    for (const x of e) expect(Date.parse(x.accountExpiresAt) - Date.now()).toBeLessThan(30 * 86_400_000);
  });

  it('show by username (any case), email and #id agree', async () => {
    const first = (await cli(['users', 'list', '--limit', '1', '--json'], { database: db })).json<Array<{ id: number; username: string; email: string }>>()[0]!;
    const a = (await cli(['users', 'show', first.username.toUpperCase(), '--json'], { database: db })).json();
    const b = (await cli(['users', 'show', `#${first.id}`, '--json'], { database: db })).json();
    expect(a).toEqual(b);
    expect(a.account.username).toBe(first.username);
    expect(Object.keys(a)).toEqual(['account', 'supervisor', 'agreement', 'recentResets', 'recentAudit']);
  });

  it('unknown users exit 3, malformed references exit 2, hostile text is just text', async () => {
    for (const name of ["o'brien", 'x; drop table users; --', 'zoë', '用户', '"quoted"']) {
      const r = await cli(['users', 'show', name], { database: db });
      expect(r.code, name).toBe(3);
      expect(r.stderr).toMatch(/^hmis-admin: no user ".*"; look it up/);
    }
    const bad = await cli(['users', 'show', '#12abc'], { database: db });
    expect(bad.code).toBe(2);
    const ctl = await cli(['users', 'show', 'bad\u0007name'], { database: db });
    expect(ctl.code).toBe(2);
    expect(ctl.stderr).toMatch(/control characters/);
    expect(Number((await db.knex('users').count({ n: '*' }))[0]!.n)).toBe(300);
  });

  it('table output fits an 80-column terminal', async () => {
    for (const args of [['users', 'list', '--limit', '50'], ['locked'], ['audit']]) {
      const r = await cli(args, { database: db, columns: 80 });
      expect(r.code).toBe(0);
      for (const line of r.stdout.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
    }
  });

  it('csv has a header and one line per row', async () => {
    const r = await cli(['locked', '--format', 'csv'], { database: db });
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('id,username,name,email,emailVerified,phone,agency,locked,lockedAt,lockReason,failedLoginAttempts,accountExpiresAt,lastLoginAt');
    const json = (await cli(['locked', '--json'], { database: db })).json<unknown[]>();
    expect(lines).toHaveLength(json.length + 1);
  });
});

describe('audit', () => {
  it('records demo creation and refuses updates and deletes', async () => {
    const r = (await cli(['audit', '--action', 'demo', '--json'], { database: db })).json<Array<{ action: string; actor: string }>>();
    expect(r[0]).toMatchObject({ action: 'demo.created', actor: 'tester' });
    // Each administrator's lock of the demo has the `lock` entry that says who locked it and why.
    const admin = (await cli(['locked', '--reason', 'admin', '--json'], { database: db })).json<Array<{ username: string; lockedAt: string }>>();
    const locks = (await cli(['audit', '--action', 'lock', '--json'], { database: db })).json<Array<{ user: string; at: string; actor: string; details: { note: string } }>>();
    expect(admin.length).toBeGreaterThan(0);
    for (const a of admin) expect(locks.find((l) => l.user === a.username)).toMatchObject({ at: a.lockedAt, actor: 'hr.admin', details: { note: 'left the agency (demo)' } });
    await expect(db.knex('audit_log').update({ actor: 'x' })).rejects.toThrow(/append-only/);
    await expect(db.knex('audit_log').del()).rejects.toThrow(/append-only/);
  });

  it('pages by id without losing or repeating entries, and stops at the limit', async () => {
    for (let i = 0; i < 5; i++) await db.knex('audit_log').insert({ actor: 'pager', action: 'test.page', details: '{}' });
    const { pageAudit } = await import('../../src/services/accounts/audit.js');
    const ids = async (limit: number, size: number) => {
      const out: number[] = [];
      const { NativeStore } = await import('../../src/store/native/index.js');
      for await (const r of pageAudit(new NativeStore(db.knex, () => new Date()), { actor: 'pager' }, limit, size)) out.push(r.id);
      return out;
    };
    const all = await ids(Infinity, 1000);
    expect(all).toHaveLength(5);
    expect([...all].sort((a, b) => b - a)).toEqual(all);
    expect(await ids(Infinity, 2)).toEqual(all);
    expect(await ids(3, 2)).toEqual(all.slice(0, 3));
  });

  it('rejects a malformed --since and --limit -1 (exit 2)', async () => {
    const a = await cli(['audit', '--since', '3 days'], { database: db });
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--since "3 days" is not a duration/);
    const b = await cli(['audit', '--limit', '-1'], { database: db });
    expect(b.code).toBe(2);
  });
});
