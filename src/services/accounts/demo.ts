/** Fill an empty database with demo agencies and users in every state, in one transaction. */
import type { Knex } from 'knex';
import { auditDemoAdminLocks, DEMO_AGENCIES, demoExampleIndex, insertDemoAgreements, insertDemoUsers, withUsersIndexesDeferred } from '../../db/demo.js';
import { databaseMessage, UsageError } from '../../errors.js';
import { count } from '../../output/format.js';
import { writeAudit } from './audit.js';

export interface DemoResult {
  created: boolean;
  agencies: number;
  users: number;
  message: string;
}

export interface DemoOptions {
  users: number;
  actor: string;
  batchSize?: number;
  onProgress?: (inserted: number) => void;
  /** Told when the data is in but something after the commit (the statistics) failed. */
  warn?: (message: string) => void;
}

/** Demo data already there (a no-op result), accounts that are not demo data (refused), or none (undefined). */
async function existingAccounts(db: Knex): Promise<DemoResult | undefined> {
  const existing = Number((await db('users').count<{ n: number | string }[]>({ n: '*' }))[0]!.n);
  if (existing === 0) return undefined;
  const demo = await db('audit_log').where('action', 'demo.created').first('id');
  if (demo) {
    return { created: false, agencies: 0, users: existing, message: `demo data is already there (${count(existing, 'account')}); nothing to do` };
  }
  throw new UsageError(
    `this database already holds ${count(existing, 'account')} that are not demo data; demo only fills an empty database (point --db at a scratch database)`,
  );
}

/** Create demo data; a second run on demo data is a no-op, and a database with real accounts is refused. */
export async function createDemo(db: Knex, options: DemoOptions): Promise<DemoResult> {
  // Asked first without a lock, so a database with accounts is answered without holding up its users table.
  const already = await existingAccounts(db);
  if (already) return already;
  const batch = options.batchSize ?? 50_000;
  const result = await db.transaction(async (trx): Promise<DemoResult> => {
    // Two demos at once: the second waits here until the first has committed, then finds its accounts.
    await trx.raw('lock table users in share row exclusive mode');
    const meanwhile = await existingAccounts(trx);
    if (meanwhile) return meanwhile;
    const agencies = (await trx('agencies')
      .insert(DEMO_AGENCIES.map(([name, ed, email]) => ({ name, executive_director_name: ed, executive_director_email: email })))
      .returning(['id', 'name'])) as Array<{ id: number; name: string }>;
    const ids = agencies.map((a) => Number(a.id));
    const domains = agencies.map((a) => `${a.name.toLowerCase().replace(/[^a-z]+/g, '')}.example.org`);
    await withUsersIndexesDeferred(trx, async () => {
      // The first account of each agency supervises the rest: insert those first, then every other account
      // with its supervisor and final name already set (a million rows written once, not updated after).
      const msmith = demoExampleIndex(options.users);
      const heads = Math.min(ids.length, options.users);
      const first = await insertDemoUsers(trx, 1, heads, ids, domains, { msmith, supervisors: [] });
      const supervisorOf = new Map(first.map((r) => [Number(r.agency_id), Number(r.id)]));
      const supervisors = ids.map((id) => supervisorOf.get(id) ?? null) as number[];
      options.onProgress?.(heads);
      for (let from = heads + 1; from <= options.users; from += batch) {
        const to = Math.min(options.users, from + batch - 1);
        await insertDemoUsers(trx, from, to, ids, domains, { msmith, supervisors });
        options.onProgress?.(to - from + 1);
      }
    });
    await insertDemoAgreements(trx);
    await auditDemoAdminLocks(trx);
    await writeAudit(trx, { actor: options.actor, action: 'demo.created', details: { agencies: ids.length, users: options.users } });
    return {
      created: true,
      agencies: ids.length,
      users: options.users,
      message: `created ${ids.length} agencies and ${options.users} users`,
    };
  });
  // Fresh statistics, so the first queries after a million inserts get index plans, not guesses.
  if (result.created) {
    try {
      await db.raw('analyze agencies, users, user_agreements');
    } catch (err) {
      // The accounts are committed: a lost connection here is not a failed demo.
      const why = databaseMessage(err) ?? String((err as Error)?.message ?? err).split('\n')[0];
      options.warn?.(`the demo data is in, but ANALYZE after it failed (${why}); run ANALYZE on the database, or let autovacuum do it, for good query plans`);
    }
  }
  return result;
}
