/** A cheap fingerprint of everything a command could change: every table's rows, the sequences, the mail folder. */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Knex } from 'knex';

/** Per database: the tables differ between hosts, and one worker may run several test files. */
const queries = new WeakMap<Knex, string>();

/** One query that hashes every row of every table in the public schema, plus every sequence's position. */
async function buildQuery(knex: Knex): Promise<string> {
  const tables = (await knex('information_schema.tables').where({ table_schema: 'public', table_type: 'BASE TABLE' }).orderBy('table_name').pluck('table_name')) as string[];
  const parts = tables.map((t) => `select '${t}' as t, md5(coalesce(string_agg(x::text, '|' order by x::text), '')) as h from "${t}" x`);
  parts.push(`select 'sequences', md5(coalesce(string_agg(sequencename || '=' || coalesce(last_value, 0), '|' order by sequencename), '')) from pg_sequences`);
  return parts.join(' union all ');
}

function listing(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  return names.flatMap((n) => {
    const p = join(dir, n);
    const s = statSync(p);
    return s.isDirectory() ? [`${n}/`, ...listing(p).map((c) => `${n}/${c}`)] : [`${n}:${s.size}`];
  });
}

/** The database's rows and the mail folder's files (names and sizes), as one comparable string. */
export async function fingerprint(knex: Knex, mailFolder: string): Promise<string> {
  let query = queries.get(knex);
  if (!query) queries.set(knex, (query = await buildQuery(knex)));
  const rows = (await knex.raw(query)) as { rows: Array<{ t: string; h: string }> };
  return JSON.stringify({ db: rows.rows.map((r) => `${r.t}:${r.h}`), mail: listing(mailFolder) });
}

/**
 * The host schema's catalogue (schema public): every relation, column (type, not null, default), index, constraint,
 * trigger and function, one line each, sorted. Works on PGlite and the server; rows and sequence positions are left out.
 */
export async function hostSchemaFingerprint(knex: Knex): Promise<string[]> {
  const { rows } = (await knex.raw(`
    select 'relation ' || c.relname || ' ' || c.relkind::text as x from pg_class c where c.relnamespace = 'public'::regnamespace
    union all
    select 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
           || case when a.attnotnull then ' not null' else '' end || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
      from pg_attribute a join pg_class c on c.oid = a.attrelid left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
     where c.relnamespace = 'public'::regnamespace and a.attnum > 0 and not a.attisdropped
    union all
    select 'index ' || indexdef from pg_indexes where schemaname = 'public'
    union all
    select 'constraint ' || c.relname || ' ' || k.conname || ' ' || pg_get_constraintdef(k.oid)
      from pg_constraint k join pg_class c on c.oid = k.conrelid where k.connamespace = 'public'::regnamespace
    union all
    select 'trigger ' || pg_get_triggerdef(t.oid) from pg_trigger t join pg_class c on c.oid = t.tgrelid
     where c.relnamespace = 'public'::regnamespace and not t.tgisinternal
    union all
    select 'function ' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' from pg_proc p where p.pronamespace = 'public'::regnamespace
    order by 1`)) as { rows: Array<{ x: string }> };
  return rows.map((r) => r.x);
}
