import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { openTestDb, type TestDb } from '../helpers/db.js';

let db: TestDb;
const now = new Date();
const clock = () => now;

beforeAll(async () => {
  db = await openTestDb();
  expect((await cli(['demo', '--users', '400'], { database: db })).code).toBe(0);
  // Edge cases the demo lacks: an account with no agency, one locked long ago, an empty agency.
  const k = db.knex;
  await k('agencies').insert({ name: 'Zeta Empty Agency' });
  await k('users').insert({ username: 'noagency1', first_name: 'No', last_name: 'Agency', email: null, phone: null });
  await k('users').insert({
    username: 'longlock', first_name: 'Long', last_name: 'Lock', email: 'long.lock@x.example.org', phone: '555-0100',
    email_verified_at: now, locked_at: new Date(now.getTime() - 45 * 86_400_000), lock_reason: 'admin',
    agency_id: (await k('agencies').where('name', 'Harbor Light Shelter').first('id')).id,
  });
});
afterAll(async () => db?.close());

/** The same numbers, counted one question at a time with plain SQL. */
async function direct(agency: string | null) {
  const k = db.knex;
  const base = () => {
    const q = k('users as u').leftJoin('agencies as a', 'a.id', 'u.agency_id');
    return agency === null ? q.whereNull('u.agency_id') : q.where('a.name', agency);
  };
  const n = async (q: ReturnType<typeof base>) => Number(((await q.count({ n: '*' })) as Array<{ n: string | number }>)[0]!.n);
  const day = 86_400_000;
  return {
    accounts: await n(base()),
    expired: await n(base().where('u.account_expires_at', '<=', now)),
    expiring30d: await n(base().where('u.account_expires_at', '>', now).where('u.account_expires_at', '<=', new Date(now.getTime() + 30 * day))),
    missingSignatures: await n(
      base().whereExists(
        k('user_agreements as g').whereRaw('g.user_id = u.id').whereNull('g.completed_at')
          .where((w) => w.whereNull('g.user_signed_at').orWhereNull('g.supervisor_signed_at').orWhereNull('g.director_signed_at')),
      ),
    ),
    missingEmail: await n(base().where((w) => w.whereNull('u.email').orWhere('u.email', ''))),
    unverifiedEmail: await n(base().whereNotNull('u.email').whereNot('u.email', '').whereNull('u.email_verified_at')),
    missingPhone: await n(base().where((w) => w.whereNull('u.phone').orWhere('u.phone', ''))),
    lockedOver30d: await n(base().where('u.locked_at', '<=', new Date(now.getTime() - 30 * day))),
  };
}

describe('report compliance', () => {
  it('JSON: one row per agency, numbers equal direct SQL counts, totals add up', async () => {
    const r = await cli(['report', 'compliance', '--json'], { database: db, clock });
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json();
    expect(Object.keys(doc)).toEqual(['generatedAt', 'agencies', 'totals']);
    expect(doc.generatedAt).toBe(now.toISOString());
    const names = doc.agencies.map((a: { agency: string }) => a.agency);
    expect(names).toContain('(no agency)');
    expect(names[names.length - 1]).toBe('(no agency)');
    expect(names).toContain('Zeta Empty Agency');
    for (const row of doc.agencies) {
      const { agency, ...counts } = row;
      expect(counts, agency).toEqual(await direct(agency === '(no agency)' ? null : agency));
    }
    const empty = doc.agencies.find((a: { agency: string }) => a.agency === 'Zeta Empty Agency');
    expect(empty.accounts).toBe(0);
    expect(doc.totals.accounts).toBe(402);
    for (const key of Object.keys(doc.totals)) {
      expect(doc.totals[key]).toBe(doc.agencies.reduce((s: number, a: Record<string, number>) => s + a[key]!, 0));
    }
    // Every kind of problem shows up on demo data.
    for (const key of ['expired', 'expiring30d', 'missingSignatures', 'missingEmail', 'unverifiedEmail', 'missingPhone', 'lockedOver30d']) {
      expect(doc.totals[key], key).toBeGreaterThan(0);
    }
  });

  it('CSV: a header and one row per agency matching the JSON', async () => {
    const json = (await cli(['report', 'compliance', '--json'], { database: db, clock })).json();
    const r = await cli(['report', 'compliance', '--format', 'csv'], { database: db, clock });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('agency,accounts,expired,expiring30d,missingSignatures,missingEmail,unverifiedEmail,missingPhone,lockedOver30d');
    expect(lines).toHaveLength(json.agencies.length + 1);
    for (const [i, a] of json.agencies.entries()) expect(lines[i + 1]).toBe(Object.values(a).join(','));
  });

  it('table: one line per agency, a totals line, fits an 80-column terminal', async () => {
    const r = await cli(['report', 'compliance'], { database: db, clock, columns: 80 });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.some((l) => l.startsWith('(total)') && l.includes('402'))).toBe(true);
    for (const l of lines) expect(l.length, l).toBeLessThanOrEqual(80);
    // Off a terminal nothing is cut.
    const piped = await cli(['report', 'compliance'], { database: db, clock });
    expect(piped.stdout.split('\n').some((l) => l.startsWith('(no agency)  '))).toBe(true);
  });

  it('--agency limits the report to one agency (case-insensitive); an unknown one is exit 2', async () => {
    const r = await cli(['report', 'compliance', '--agency', 'harbor light shelter', '--json'], { database: db, clock });
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json();
    expect(doc.agencies.map((a: { agency: string }) => a.agency)).toEqual(['Harbor Light Shelter']);
    const { agency, ...counts } = doc.agencies[0];
    expect(counts).toEqual(await direct(agency));
    expect(doc.totals).toEqual(counts);
    expect(counts.lockedOver30d).toBeGreaterThanOrEqual(1);
    const bad = await cli(['report', 'compliance', '--agency', 'Nowhere'], { database: db });
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
  });
});
