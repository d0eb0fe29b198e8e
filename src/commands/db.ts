/** `db migrate` and `db status`. */
import type { AppContext } from '../context.js';
import type { HostReport } from '../store/types.js';

export interface MigrateResult {
  database: string;
  /** HMIS_SCHEMA: whose tables hold the accounts. */
  schema: 'native' | 'devise';
  applied: string[];
  pending: string[];
  /** devise mode: the host table found, its optional features and the settings to compare with the application's. */
  host?: HostReport;
}

export async function migrate(_opts: unknown, ctx: AppContext): Promise<MigrateResult> {
  // With no server configured, `db migrate` (like `demo`) may create the embedded database.
  const db = await ctx.db({ skipSchemaCheck: true, create: true });
  // devise: a table that is not a usable Devise users table is refused before anything is created.
  const host = await hostReport(ctx);
  const { migrateLatest, migrationStatus } = await import('../db/migrate.js');
  const applied = await migrateLatest(db.knex, ctx.config.schema);
  const status = await migrationStatus(db.knex, ctx.config.schema);
  return { database: db.where, schema: ctx.config.schema, applied, pending: status.pending, ...(host ? { host } : {}) };
}

export async function status(_opts: unknown, ctx: AppContext): Promise<MigrateResult> {
  const db = await ctx.db({ skipSchemaCheck: true });
  const host = await hostReport(ctx);
  const { migrationStatus } = await import('../db/migrate.js');
  const s = await migrationStatus(db.knex, ctx.config.schema);
  return { database: db.where, schema: ctx.config.schema, applied: s.applied, pending: s.pending, ...(host ? { host } : {}) };
}

/** devise mode: what the host's table offers; a missing required column is exit 2 with the list (openStore). */
async function hostReport(ctx: AppContext): Promise<HostReport | undefined> {
  if (ctx.config.schema === 'native') return undefined;
  return (await ctx.store()).describe();
}
