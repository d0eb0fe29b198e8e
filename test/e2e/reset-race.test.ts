/**
 * 20 `reset send` processes for one person at once (a helpdesk double-clicking, several agents on one
 * ticket): a run whose message a newer send cancelled before it went out says `superseded`, never
 * `queued` — nothing will retry it. Separate processes against the server, as it happens in practice
 * (the embedded database lets one process in at a time, so there it cannot race; see test/integration/reset.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnCli } from '../helpers/cli.js';
import { onServer, spawnTestDb, type SpawnDb } from '../helpers/db.js';
import { seedUsers, SITE } from '../helpers/links.js';

let sdb: SpawnDb;

describe.skipIf(!onServer)('concurrent reset send (built binary, PostgreSQL server)', () => {
  beforeAll(async () => {
    sdb = await spawnTestDb();
    expect((await spawnCli(['db', 'migrate', '--json'], sdb.env)).code).toBe(0);
    const db = await sdb.open();
    await seedUsers(db.knex, [{ username: 'alice' }]);
    await db.close();
  });
  afterAll(async () => sdb?.drop());

  it('every run says sent or superseded; no run promises a retry that will not come', async () => {
    const runs = await Promise.all(Array.from({ length: 20 }, () => spawnCli(['reset', 'send', 'alice', '--json'], { ...sdb.env, HMIS_SITE_URL: SITE })));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const results = runs.map((r) => r.json().results[0] as { outcome: string; message: string });
    const outcomes = results.map((r) => r.outcome);
    const counts = outcomes.reduce<Record<string, number>>((c, o) => ({ ...c, [o]: (c[o] ?? 0) + 1 }), {});
    expect(counts.superseded ?? 0, JSON.stringify(counts)).toBeGreaterThan(0);
    const others = results.filter((r) => r.outcome !== 'sent' && r.outcome !== 'superseded');
    expect(others, JSON.stringify(counts)).toEqual([]);
    const db = await sdb.open();
    try {
      const rows = await db.knex('mail_outbox').where('kind', 'reset').select('status', 'last_error');
      expect(rows.filter((r) => r.status === 'pending' || r.status === 'sending')).toEqual([]);
      expect(rows.filter((r) => /^cancelled: /.test(r.last_error ?? ''))).toHaveLength(counts.superseded!);
    } finally {
      await db.close();
    }
  }, 120_000);
});
