import type { Knex } from 'knex';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import type { TestDb } from '../helpers/db.js';
import { useHostDb } from '../helpers/host-suite.js';
import { HOSTS, storeOf } from '../helpers/hosts.js';
import { seedVariety } from '../helpers/variety.js';

let db: TestDb;

describe.each(HOSTS)('on the %s host', (host) => {
const native = host === 'native';
useHostDb(host, async (d) => {
  db = d;
  if (native) {
    const r = await cli(['demo', '--users', '300'], { database: db, env: db.env });
    expect(r.code, r.stderr).toBe(0);
  } else await seedVariety(db.knex, 300); // demo fills only hmis-admin's own tables (on devise it refuses)
}, { reset: false });

// Native only: demo writes hmis-admin's own tables; with HMIS_SCHEMA=devise it refuses (the accounts are the application's).
describe.runIf(native)('demo', () => {
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

  it('its audit trail lists newest first, as `audit` promises (the admin locks written in time order)', async () => {
    const { auditDemoAdminLocks } = await import('../../src/db/demo.js');
    // Admin locks whose times run against their ids, as the demo's random times do; all rolled back after.
    const times = await db.knex.transaction(async (trx) => {
      const ids = (await trx('users').insert([1, 2, 3, 4].map((d) => ({
        username: `order${d}`, first_name: 'Or', last_name: 'Der', locked_at: new Date(Date.now() - d * 86_400_000), lock_reason: 'admin',
      }))).returning('id')).map((r: { id: number }) => r.id);
      await auditDemoAdminLocks(trx);
      const rows = await trx('audit_log').whereIn('user_id', ids).orderBy('id', 'desc').select('at');
      await trx.rollback(rows.map((r: { at: Date }) => new Date(r.at).getTime()));
      return [] as number[];
    }).catch((t: unknown) => t as number[]);
    expect(times).toHaveLength(4);
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });

  /**
   * createDemo on this file's database emptied inside a transaction that is rolled back after: `prepare` shapes the
   * database first; what `look` reads after the demo, and the schema (keys, indexes, their options, flags and
   * comments) before and after, come back.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const demoInside = async (prepare: (trx: Knex.Transaction) => Promise<unknown>, look: (trx: Knex.Transaction) => Promise<any>) => {
    const { createDemo } = await import('../../src/services/accounts/demo.js');
    const schema = `select c.conrelid::regclass::text || ' ' || c.conname || ' ' || pg_get_constraintdef(c.oid) || ' ' || c.convalidated
        || ' ' || coalesce(obj_description(c.oid, 'pg_constraint'), '-') as d
      from pg_constraint c where c.conrelid = 'users'::regclass or c.confrelid = 'users'::regclass
      union all select x.indexrelid::regclass::text || ' ' || pg_get_indexdef(x.indexrelid) || ' ' || x.indisreplident || ' ' || x.indisclustered
        || ' ' || coalesce(obj_description(x.indexrelid, 'pg_class'), '-')
      from pg_index x where x.indrelid in ('users'::regclass, 'user_agreements'::regclass) order by 1`;
    const seen = (await db.knex.transaction(async (trx) => {
      await trx('users').delete();
      await trx('agencies').delete();
      await prepare(trx);
      const before = (await trx.raw(schema)).rows;
      const result = await createDemo(trx, { users: 20, actor: 'test', batchSize: 7 });
      const users = await trx('users').orderBy('id').select('id', 'username', 'supervisor_id');
      const after = (await trx.raw(schema)).rows;
      await trx.rollback({ result, users, before, after, looked: await look(trx) });
    }).catch((r: unknown) => r)) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    // A sequence is not rolled back: put it where the file's accounts left it.
    await db.knex.raw("select setval(pg_get_serial_sequence('users', 'id'), (select max(id) from users))");
    if (!seen.result) throw seen;
    expect(seen.result.created).toBe(true);
    expect(seen.users[0].username).toBe('jdoe');
    const heads = new Set(seen.users.slice(0, 8).map((u: { id: number }) => Number(u.id)));
    for (const u of seen.users.slice(8)) expect(heads.has(Number(u.supervisor_id))).toBe(true);
    expect(seen.after).toEqual(seen.before);
    expect(seen.before.length).toBeGreaterThan(12);
    return { ids: seen.users.map((u: { id: number }) => Number(u.id)) as number[], looked: seen.looked };
  };

  it('takes ids from the users sequence in account order and puts back every key and index it set aside, with their comments', async () => {
    const { ids, looked } = await demoInside(async (trx) => {
      await trx.raw("select setval(pg_get_serial_sequence('users', 'id'), 1000)"); // as after deleted accounts
      await trx.raw("comment on constraint user_agreements_user_id_foreign on user_agreements is 'renewals of an account'");
      await trx.raw("comment on constraint users_supervisor_id_foreign on users is 'who signs'");
      await trx.raw("comment on index users_email_lower_idx is 'email lookups'");
    }, async (trx) => (await trx.raw("select nextval(pg_get_serial_sequence('users', 'id')) as n")).rows[0].n);
    expect(ids).toEqual(Array.from({ length: 20 }, (_, i) => 1001 + i));
    expect(Number(looked)).toBe(1021); // accounts made after the demo come after its ids
  });

  it('keeps a primary key it cannot make again as it was (replica identity, fillfactor, a view on it) and a sequence of its own', async () => {
    const { ids, looked } = await demoInside(async (trx) => {
      await trx.raw('alter table users replica identity using index users_pkey');
      await trx.raw('alter index users_pkey set (fillfactor = 60)');
      await trx.raw('create view demo_supervised as select u.id, u.username, count(s.id) as n from users u left join users s on s.supervisor_id = u.id group by u.id');
      await trx.raw('create sequence demo_ids increment by 2 start with 101');
      await trx.raw("alter table users alter column id set default nextval('demo_ids')");
    }, async (trx) => ({
      view: Number((await trx.raw('select count(*) as n from demo_supervised')).rows[0].n),
      seq: (await trx.raw("select last_value from demo_ids")).rows[0].last_value,
    }));
    expect(ids).toEqual(Array.from({ length: 20 }, (_, i) => 101 + 2 * i));
    expect(looked).toEqual({ view: 20, seq: expect.anything() });
    expect(Number(looked.seq)).toBe(139);
  });

  it('is a no-op on demo data and refuses a database with real accounts', async () => {
    const again = await cli(['demo'], { database: db, env: db.env });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already there/);
  });
});

describe('locked', () => {
  it('lists only locked accounts in the CONTRACT shape', async () => {
    const r = await cli(['locked', '--json'], { database: db, env: db.env });
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
    const all = (await cli(['locked', '--json'], { database: db, env: db.env })).json<Array<{ id: number }>>();
    const paged: number[] = [];
    for await (const row of (await storeOf(db.knex)).page({ locked: true }, 'locked', Infinity, 3)) paged.push(row.id);
    expect(paged).toEqual(all.map((r) => r.id));
  });

  it('filters by reason and agency', async () => {
    const r = await cli(['locked', '--reason', 'admin', '--agency', 'harbor light shelter', '--json'], { database: db, env: db.env });
    expect(r.code, r.stderr).toBe(0);
    for (const row of r.json<Array<Record<string, unknown>>>()) {
      expect(row.lockReason).toBe('admin');
      expect(row.agency).toBe('Harbor Light Shelter');
    }
  });

  it('names an unknown agency and lists real ones (exit 2)', async () => {
    const r = await cli(['locked', '--agency', 'Nowhere'], { database: db, env: db.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/"Nowhere" is not an agency; known agencies include: Eastgate/);
    expect(r.stdout).toBe('');
  });
});

describe('users', () => {
  it('list filters compose', async () => {
    const r = await cli(['users', 'list', '--missing-email', '--limit', '5', '--json'], { database: db, env: db.env });
    const rows = r.json<Array<Record<string, unknown>>>();
    expect(rows).toHaveLength(native ? 5 : 1); // Devise: one account per address, so at most one has none
    expect(rows.every((x) => x.email === null)).toBe(true);
    const s = (await cli(['users', 'list', '--search', 'GARCIA', '--json'], { database: db, env: db.env })).json<Array<{ name: string }>>();
    expect(s.length).toBeGreaterThan(0);
    expect(s.every((x) => /garcia/i.test(JSON.stringify(x)))).toBe(true);
    const e = (await cli(['users', 'list', '--expiring', '30d', '--json'], { database: db, env: db.env })).json<Array<{ accountExpiresAt: string }>>();
    expect(e.length).toBeGreaterThan(0);
    for (const x of e) expect(Date.parse(x.accountExpiresAt) - Date.now()).toBeLessThan(30 * 86_400_000);
  });

  it('show by username (any case), email and #id agree', async () => {
    const first = (await cli(['users', 'list', '--limit', '1', '--json'], { database: db, env: db.env })).json<Array<{ id: number; username: string; email: string }>>()[0]!;
    const a = (await cli(['users', 'show', first.username.toUpperCase(), '--json'], { database: db, env: db.env })).json();
    const b = (await cli(['users', 'show', `#${first.id}`, '--json'], { database: db, env: db.env })).json();
    expect(a).toEqual(b);
    expect(a.account.username).toBe(first.username);
    expect(Object.keys(a)).toEqual(['account', 'supervisor', 'agreement', 'recentResets', 'recentAudit']);
  });

  it('unknown users exit 3, malformed references exit 2, hostile text is just text', async () => {
    for (const name of ["o'brien", 'x; drop table users; --', 'zoë', '用户', '"quoted"']) {
      const r = await cli(['users', 'show', name], { database: db, env: db.env });
      expect(r.code, name).toBe(3);
      expect(r.stderr).toMatch(/^hmis-admin: no user ".*"; look it up/);
    }
    const bad = await cli(['users', 'show', '#12abc'], { database: db, env: db.env });
    expect(bad.code).toBe(2);
    const ctl = await cli(['users', 'show', 'bad\u0007name'], { database: db, env: db.env });
    expect(ctl.code).toBe(2);
    expect(ctl.stderr).toMatch(/control characters/);
    expect(await (await storeOf(db.knex)).count({})).toBe(300);
  });

  it('table output fits an 80-column terminal', async () => {
    for (const args of [['users', 'list', '--limit', '50'], ['locked'], ['audit']]) {
      const r = await cli(args, { database: db, env: db.env, columns: 80 });
      expect(r.code).toBe(0);
      for (const line of r.stdout.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
    }
  });

  it.runIf(native)('locked fits 80 columns with six-digit ids and long usernames (never cut) on real-sized data', async () => {
    const [agency] = await db.knex('agencies').orderByRaw('length(name) desc').limit(1).select('id');
    await db.knex('users').insert({
      id: 100_000, username: 'mrivera100000', first_name: 'Maria', last_name: 'Rivera', email: 'mrivera100000@agency.example.org', agency_id: agency.id,
      failed_login_attempts: 3, locked_at: new Date(), lock_reason: 'failed_logins',
    });
    try {
      const r = await cli(['locked', '--limit', '5'], { database: db, env: db.env, columns: 80 });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^100000 +mrivera100000 /m);
      for (const line of r.stdout.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
    } finally {
      await db.knex('users').where('id', 100_000).delete();
    }
  });

  it.runIf(native)('--json escapes bidi and C1 controls (\\u202e), as tables and CSV strip them; the value parses back unchanged', async () => {
    const [{ id }] = await db.knex('users').insert({ username: 'bidi1', first_name: 'Ev\u202eil', last_name: 'Name\u0085', email: 'bidi1@agency.example.org' }).returning('id');
    try {
      const r = await cli(['users', 'show', 'bidi1', '--json'], { database: db, env: db.env });
      const list = await cli(['users', 'list', '--search', 'bidi1', '--json'], { database: db, env: db.env });
      for (const out of [r.stdout, list.stdout]) {
        expect(out).not.toMatch(/[\u202e\u0085]/);
        expect(out).toContain('Ev\\u202eil');
      }
      expect(r.json().account.name).toBe('Ev\u202eil Name\u0085');
      expect(list.json()[0].name).toBe('Ev\u202eil Name\u0085');
    } finally {
      await db.knex('users').where('id', id).delete();
    }
  });

  it('csv has a header and one line per row', async () => {
    const r = await cli(['locked', '--format', 'csv'], { database: db, env: db.env });
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('id,username,name,email,emailVerified,phone,agency,locked,lockedAt,lockReason,failedLoginAttempts,accountExpiresAt,lastLoginAt');
    const json = (await cli(['locked', '--json'], { database: db, env: db.env })).json<unknown[]>();
    expect(lines).toHaveLength(json.length + 1);
  });
});

describe('audit', () => {
  it('records demo creation and refuses updates and deletes', async () => {
    const r = (await cli(['audit', '--action', 'demo', '--json'], { database: db, env: db.env })).json<Array<{ action: string; actor: string }>>();
    if (native) {
      expect(r[0]).toMatchObject({ action: 'demo.created', actor: 'tester' });
      // Each administrator's lock of the demo has the `lock` entry that says who locked it and why.
      const admin = (await cli(['locked', '--reason', 'admin', '--json'], { database: db, env: db.env })).json<Array<{ username: string; lockedAt: string }>>();
      const locks = (await cli(['audit', '--action', 'lock', '--json'], { database: db, env: db.env })).json<Array<{ user: string; at: string; actor: string; details: { note: string } }>>();
      expect(admin.length).toBeGreaterThan(0);
      for (const a of admin) expect(locks.find((l) => l.user === a.username)).toMatchObject({ at: a.lockedAt, actor: 'hr.admin', details: { note: 'left the agency (demo)' } });
    }
    await db.knex('audit_log').insert({ actor: 'tester', action: 'test.row', details: '{}' }); // a row to refuse changing (devise has no demo rows)
    await expect(db.knex('audit_log').update({ actor: 'x' })).rejects.toThrow(/append-only/);
    await expect(db.knex('audit_log').del()).rejects.toThrow(/append-only/);
  });

  it('pages by id without losing or repeating entries, and stops at the limit', async () => {
    for (let i = 0; i < 5; i++) await db.knex('audit_log').insert({ actor: 'pager', action: 'test.page', details: '{}' });
    const { pageAudit } = await import('../../src/services/accounts/audit.js');
    const ids = async (limit: number, size: number) => {
      const out: number[] = [];
      for await (const r of pageAudit(await storeOf(db.knex), { actor: 'pager' }, limit, size)) out.push(r.id);
      return out;
    };
    const all = await ids(Infinity, 1000);
    expect(all).toHaveLength(5);
    expect([...all].sort((a, b) => b - a)).toEqual(all);
    expect(await ids(Infinity, 2)).toEqual(all);
    expect(await ids(3, 2)).toEqual(all.slice(0, 3));
  });

  it('rejects a malformed --since and --limit -1 (exit 2)', async () => {
    const a = await cli(['audit', '--since', '3 days'], { database: db, env: db.env });
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--since "3 days" is not a duration/);
    const b = await cli(['audit', '--limit', '-1'], { database: db, env: db.env });
    expect(b.code).toBe(2);
  });
});

});
