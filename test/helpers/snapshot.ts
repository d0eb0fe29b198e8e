/**
 * Save a test database's rows once and put them back as often as needed, instead of rebuilding the same
 * state (a `demo`, a seed) before every test. Everything in the public and hmis_admin schemas is saved:
 * every row (audit rows too) and every sequence's position. The copy lives in a schema of its own in the
 * same database, so a restore is a few statements, on PGlite and on the server alike.
 */
import type { Knex } from 'knex';

const SNAPSHOT_SCHEMA = 'hmis_test_snapshot';

export interface Snapshot {
  /** Put back exactly the rows and sequence positions saved (triggers off while it does: the rows are copies). */
  restore(): Promise<void>;
}

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Save the rows of every table (but the migration bookkeeping) and the sequences; one snapshot per database at a time. */
export async function snapshot(knex: Knex): Promise<Snapshot> {
  const tables = (
    await knex.raw(`select table_schema as s, table_name as t from information_schema.tables
      where table_schema in ('public', 'hmis_admin') and table_type = 'BASE TABLE' and table_name not like 'knex_migrations%'
      order by 1, 2`)
  ).rows as Array<{ s: string; t: string }>;
  const copyOf = (x: { s: string; t: string }) => `${SNAPSHOT_SCHEMA}.${q(`${x.s}.${x.t}`)}`;
  const sequences = (
    await knex.raw(`select schemaname as s, sequencename as n, last_value as v from pg_sequences where schemaname in ('public', 'hmis_admin')`)
  ).rows as Array<{ s: string; n: string; v: string | null }>;
  await knex.transaction(async (trx) => {
    await trx.raw(`drop schema if exists ${SNAPSHOT_SCHEMA} cascade`);
    await trx.raw(`create schema ${SNAPSHOT_SCHEMA}`);
    for (const x of tables) await trx.raw(`create table ${copyOf(x)} as select * from ${q(x.s)}.${q(x.t)}`);
  });
  return {
    restore: () =>
      knex.transaction(async (trx) => {
        // replica: no foreign-key checks or triggers (the audit trail's refusals and stamps) for the copies.
        // DELETE, not TRUNCATE: on PGlite a TRUNCATE makes new files for every table (over a second).
        await trx.raw(`set local session_replication_role = replica`);
        for (const x of tables) await trx.raw(`delete from ${q(x.s)}.${q(x.t)}`);
        for (const x of tables) await trx.raw(`insert into ${q(x.s)}.${q(x.t)} overriding system value select * from ${copyOf(x)}`);
        for (const s of sequences) {
          const name = `${q(s.s)}.${q(s.n)}`;
          await trx.raw(s.v === null ? `select setval(?, 1, false)` : `select setval(?, ?, true)`, s.v === null ? [name] : [name, s.v]);
        }
      }),
  };
}
