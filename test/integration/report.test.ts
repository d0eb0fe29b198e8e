import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import type { TestDb } from '../helpers/db.js';
import { useHostDb } from '../helpers/host-suite.js';
import { agencyId, allAccounts, ensureAgency, HOSTS, insertAccounts } from '../helpers/hosts.js';
import { seedVariety } from '../helpers/variety.js';

let db: TestDb;
const now = new Date();
const clock = () => now;

/** The same numbers, counted one account at a time from the accounts as the store reads them and the pending renewals. */
async function direct(agency: string | null) {
  const day = 86_400_000;
  const id = agency === null ? null : await agencyId(db.knex, agency);
  const rows = (await allAccounts(db.knex)).filter((u) => u.agency_id === id);
  const pending = (await db.knex('user_agreements').whereNull('completed_at')) as Array<Record<string, unknown> & { user_id: number | string }>;
  const unsigned = new Set(pending.filter((g) => !g.user_signed_at || !g.supervisor_signed_at || !g.director_signed_at).map((g) => Number(g.user_id)));
  const n = (p: (u: (typeof rows)[number]) => boolean) => rows.filter(p).length;
  const t = (d: string | null) => (d ? Date.parse(d) : NaN);
  return {
    accounts: rows.length,
    expired: n((u) => t(u.account_expires_at) <= now.getTime()),
    expiring30d: n((u) => t(u.account_expires_at) > now.getTime() && t(u.account_expires_at) <= now.getTime() + 30 * day),
    missingSignatures: n((u) => unsigned.has(u.id)),
    missingEmail: n((u) => !u.email),
    unverifiedEmail: n((u) => !!u.email && !u.email_verified_at),
    missingPhone: n((u) => !u.phone),
    lockedOver30d: n((u) => t(u.locked_at) <= now.getTime() - 30 * day),
  };
}

describe.each(HOSTS)('on the %s host', (host) => {
useHostDb(host, async (d) => {
  db = d;
  // demo fills only hmis-admin's own tables; a Devise host gets the same mix (with no account lacking an address:
  // Devise has room for one, and noagency1 below takes it).
  if (host === 'native') expect((await cli(['demo', '--users', '400'], { database: db })).code).toBe(0);
  else await seedVariety(db.knex, 400, { missingEmail: false });
  // Edge cases the demo lacks: an account with no agency, one locked long ago, an empty agency.
  await ensureAgency(db.knex, 'Zeta Empty Agency');
  await insertAccounts(db.knex, [
    { username: 'noagency1', first_name: 'No', last_name: 'Agency', email: null, phone: null },
    {
      username: 'longlock', first_name: 'Long', last_name: 'Lock', email: 'long.lock@x.example.org', phone: '555-0100',
      email_verified_at: now, locked_at: new Date(now.getTime() - 45 * 86_400_000), lock_reason: 'admin',
      agency_id: (await agencyId(db.knex, 'Harbor Light Shelter'))!,
    },
  ]);
}, { reset: false });

describe('report compliance', () => {
  it('JSON: one row per agency, numbers equal direct SQL counts, totals add up', async () => {
    const r = await cli(['report', 'compliance', '--json'], { database: db, env: db.env, clock });
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
    const json = (await cli(['report', 'compliance', '--json'], { database: db, env: db.env, clock })).json();
    const r = await cli(['report', 'compliance', '--format', 'csv'], { database: db, env: db.env, clock });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('agency,accounts,expired,expiring30d,missingSignatures,missingEmail,unverifiedEmail,missingPhone,lockedOver30d');
    expect(lines).toHaveLength(json.agencies.length + 1);
    for (const [i, a] of json.agencies.entries()) expect(lines[i + 1]).toBe(Object.values(a).join(','));
  });

  it('table: one line per agency, a totals line, fits an 80-column terminal', async () => {
    const r = await cli(['report', 'compliance'], { database: db, env: db.env, clock, columns: 80 });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.some((l) => l.startsWith('(total)') && l.includes('402'))).toBe(true);
    for (const l of lines) expect(l.length, l).toBeLessThanOrEqual(80);
    // Off a terminal nothing is cut.
    const piped = await cli(['report', 'compliance'], { database: db, env: db.env, clock });
    expect(piped.stdout.split('\n').some((l) => l.startsWith('(no agency)  '))).toBe(true);
  });

  it('--agency limits the report to one agency (case-insensitive); an unknown one is exit 2', async () => {
    const r = await cli(['report', 'compliance', '--agency', 'harbor light shelter', '--json'], { database: db, env: db.env, clock });
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json();
    expect(doc.agencies.map((a: { agency: string }) => a.agency)).toEqual(['Harbor Light Shelter']);
    const { agency, ...counts } = doc.agencies[0];
    expect(counts).toEqual(await direct(agency));
    expect(doc.totals).toEqual(counts);
    expect(counts.lockedOver30d).toBeGreaterThanOrEqual(1);
    const bad = await cli(['report', 'compliance', '--agency', 'Nowhere'], { database: db, env: db.env });
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
  });
});

});
