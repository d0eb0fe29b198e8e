/** Schema migrations as a static list, so the same code runs from src (tsx, knex CLI) and dist. */
import type { Knex } from 'knex';
import { UsageError } from '../errors.js';
import * as initial from './migrations/20261127000001_initial.js';
import * as outboxRecipients from './migrations/20261128000001_outbox_recipients.js';
import * as auditDbUser from './migrations/20261128000002_audit_db_user.js';
import * as deviseInitial from './migrations/devise/20261129000001_hmis_admin.js';

export type HostSchema = 'native' | 'devise';

/** native: every table of CONTRACT "Database"; devise: only the tool's own, in the hmis_admin schema. */
const MIGRATIONS: Record<HostSchema, Record<string, Knex.Migration>> = {
  native: {
    '20261127000001_initial': initial,
    '20261128000001_outbox_recipients': outboxRecipients,
    '20261128000002_audit_db_user': auditDbUser,
  },
  devise: {
    '20261129000001_hmis_admin': deviseInitial,
  },
};

/** The schema that holds the tool's tables in devise mode; first on the connection's search_path. */
export const TOOL_SCHEMA = 'hmis_admin';

/** The knex migrator's configuration for a host: a static source (no directory scan), bookkeeping in the tool's schema. */
export function migrationConfig(host: HostSchema = 'native'): Knex.MigratorConfig {
  const list = MIGRATIONS[host];
  const migrationSource: Knex.MigrationSource<string> = {
    getMigrations: async () => Object.keys(list).sort(),
    getMigrationName: (name) => name,
    getMigration: async (name) => list[name]!,
  };
  return { migrationSource, tableName: 'knex_migrations', ...(host === 'devise' ? { schemaName: TOOL_SCHEMA } : {}) };
}

export interface MigrationStatus {
  applied: string[];
  pending: string[];
}

/** Apply every pending migration; returns the names applied now. */
export async function migrateLatest(db: Knex, host: HostSchema = 'native'): Promise<string[]> {
  // The one piece of DDL outside a migration, and only in devise mode: the tool's own schema.
  if (host === 'devise') {
    await db.raw(`create schema if not exists ${TOOL_SCHEMA}`);
    // "if not exists" takes a schema someone else made first: look at whose it is before the migrator runs in it.
    await refuseForeignToolSchema(db);
  }
  const [, applied] = (await db.migrate.latest(migrationConfig(host))) as [number, string[]];
  return applied;
}

/** Which migrations are applied and which are pending. */
export async function migrationStatus(db: Knex, host: HostSchema = 'native'): Promise<MigrationStatus> {
  if (host === 'devise' && !(await hasToolSchema(db))) return { applied: [], pending: Object.keys(MIGRATIONS.devise).sort() };
  const [done, pending] = (await db.migrate.list(migrationConfig(host))) as [Array<{ name: string } | string>, Array<{ file: string } | string>];
  const name = (m: unknown) => (typeof m === 'string' ? m : ((m as { name?: string; file?: string }).name ?? (m as { file: string }).file));
  return { applied: done.map(name), pending: pending.map(name) };
}

/**
 * Names of migrations not yet applied, from one plain query: the per-command schema check must be
 * cheap (knex's migrate.list also creates and inspects its lock table).
 */
export async function pendingMigrations(db: Knex, host: HostSchema = 'native'): Promise<{ applied: number; pending: string[] }> {
  let applied: string[];
  try {
    applied = (await db(host === 'devise' ? `${TOOL_SCHEMA}.knex_migrations` : 'knex_migrations').pluck('name')) as string[];
  } catch (err) {
    // Only a missing table (or schema) means nothing is applied; a refused or cancelled check is an error of
    // its own, not "run db migrate" (permission denied would send the operator to migrate as a user who cannot).
    if (!['42P01', '3F000'].includes((err as { code?: string }).code ?? '')) throw err;
    applied = [];
  }
  const done = new Set(applied.map((n) => n.replace(/\.(ts|js)$/, '')));
  return { applied: applied.length, pending: Object.keys(MIGRATIONS[host]).filter((n) => !done.has(n)) };
}

/** knex's migrate.list would create its bookkeeping tables: ask the catalogue first, so `db status` writes nothing. */
async function hasToolSchema(db: Knex): Promise<boolean> {
  const { rows } = (await db.raw('select 1 from pg_namespace where nspname = ?', [TOOL_SCHEMA])) as { rows: unknown[] };
  return rows.length > 0;
}

/**
 * native mode on a database that holds a Devise application's `users` table (OpenPath HMIS, Primero) and none
 * of hmis-admin's own tables: HMIS_SCHEMA=devise was forgotten. One catalogue query, run only while no native
 * migration is applied; the refusal comes before anything is written in the host's schema.
 */
export async function deviseHostInNativeMode(db: Knex): Promise<boolean> {
  const { rows } = (await db.raw(
    // Compared as text: information_schema's sql_identifier is a domain, and an operator on it planted in a schema on
    // the search path would match it more closely than pg_catalog's.
    `select count(*) filter (where column_name::text in ('encrypted_password', 'reset_password_token')) as devise,
            count(*) filter (where column_name::text in ('username', 'lock_reason', 'failed_login_attempts')) as native
     from information_schema.columns where table_schema::text = pg_catalog.current_schema()::text and table_name::text = 'users'`,
  )) as { rows: Array<{ devise: number | string; native: number | string }> };
  const r = rows[0];
  return Boolean(r && Number(r.devise) > 0 && Number(r.native) === 0);
}

/** The refusal (exit 2) for deviseHostInNativeMode. */
export const DEVISE_HOST_IN_NATIVE_MODE =
  "holds a Devise application's users table (OpenPath HMIS?), and HMIS_SCHEMA is native (the default); " +
  'set HMIS_SCHEMA=devise and the HMIS_DEVISE_* settings (README section "Running against OpenPath HMIS or another Devise application"); nothing was changed';

/**
 * devise mode: the tool's schema must be this role's (or a role it is a member of, or a superuser's) and let no one
 * else create in it. It is the only schema on the connection's search path, so a
 * function or operator another role put there — or a schema another role made before the first `db migrate` — would
 * run with the administrator's rights, and its owner could change the audit trail. Refused (exit 2) before the
 * migrator or any command reads from it; nothing when the schema does not exist yet.
 */
export async function refuseForeignToolSchema(db: Knex): Promise<void> {
  const r = await schemaTrust(db, '?', [TOOL_SCHEMA]);
  if (!r) return;
  if (!r.owned) {
    throw new UsageError(
      `the schema ${TOOL_SCHEMA} belongs to ${r.owner}, not to the role this run connects as, a role it is a member of, or a superuser: functions there would run with your rights; if it is not yours, drop it and run \`hmis-admin db migrate\` again; if it is, \`grant ${r.owner} to <the role hmis-admin connects as>\``,
    );
  }
  if (r.others) {
    throw new UsageError(`the schema ${TOOL_SCHEMA} lets ${r.others} create objects in it: functions put there would run with your rights; \`revoke create on schema ${TOOL_SCHEMA} from ${r.others}\``);
  }
}

/**
 * native mode (`db migrate`, `db status`): a warning when the schema the tool's tables are in lets roles other than
 * this one create objects in it (PUBLIC on PostgreSQL 14 and older): knex's migration bookkeeping compares catalogue
 * names with whatever `=` operator is visible there. Undefined when nobody else may.
 */
export async function nativeSchemaWarning(db: Knex): Promise<string | undefined> {
  const r = await schemaTrust(db, 'pg_catalog.current_schema()', []);
  if (!r?.others) return undefined;
  return `the schema ${r.name} lets ${r.others} create objects in it; a function or operator put there can run with your rights when hmis-admin migrates: \`revoke create on schema ${r.name} from ${r.others}\``;
}

/**
 * Who owns a schema and who else may create in it, and whether each is trusted: this role, a role it is really a member of
 * (pg_auth_members: pg_has_role says yes to a superuser for every role), pg_database_owner when this role owns the
 * database, or a superuser.
 */
async function schemaTrust(db: Knex, nameSql: string, bindings: string[]): Promise<{ name: string; owner: string; owned: boolean; others: string | null } | undefined> {
  const { rows } = (await db.raw(
    // pg_database_owner (PostgreSQL 14 on; public's owner from 15) has the database's owner as its member implicitly.
    `with recursive member(oid) as (
       select oid from pg_catalog.pg_roles where rolname = current_user
       union select m.roleid from pg_catalog.pg_auth_members m join member on m.member = member.oid),
     mine(oid) as (
       select oid from member
       union select r.oid from pg_catalog.pg_roles r, pg_catalog.pg_database d
         where r.rolname = 'pg_database_owner' and d.datname = pg_catalog.current_database() and d.datdba in (select oid from member)),
     -- A superuser can run anything as anyone already: a schema a DBA made (or migrated) as a superuser is no added risk.
     trusted(oid) as (select oid from mine union select oid from pg_catalog.pg_roles where rolsuper)
     select n.nspname::text as name, pg_catalog.pg_get_userbyid(n.nspowner) as owner, n.nspowner in (select oid from trusted) as owned,
       (select pg_catalog.string_agg(case when a.grantee = 0::oid then 'PUBLIC' else pg_catalog.pg_get_userbyid(a.grantee)::text end, ', ')
        from pg_catalog.aclexplode(n.nspacl) a
        where a.privilege_type = 'CREATE' and a.grantee not in (select oid from trusted)) as others
     from pg_catalog.pg_namespace n where n.nspname = ${nameSql}`,
    bindings,
  )) as { rows: Array<{ name: string; owner: string; owned: boolean; others: string | null }> };
  return rows[0];
}
