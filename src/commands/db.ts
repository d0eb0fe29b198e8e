/** `db migrate` and `db status`. */
import type { AppContext } from '../context.js';

export interface MigrateResult {
  database: string;
  applied: string[];
  pending: string[];
}

export async function migrate(_opts: unknown, ctx: AppContext): Promise<MigrateResult> {
  // With no server configured, `db migrate` (like `demo`) may create the embedded database.
  const db = await ctx.db({ skipSchemaCheck: true, create: true });
  const { migrateLatest, migrationStatus } = await import('../db/migrate.js');
  const applied = await migrateLatest(db.knex, ctx.config.schema);
  const status = await migrationStatus(db.knex, ctx.config.schema);
  return { database: db.where, applied, pending: status.pending };
}

export async function status(_opts: unknown, ctx: AppContext): Promise<MigrateResult> {
  const db = await ctx.db({ skipSchemaCheck: true });
  const { migrationStatus } = await import('../db/migrate.js');
  const s = await migrationStatus(db.knex, ctx.config.schema);
  return { database: db.where, applied: s.applied, pending: s.pending };
}
