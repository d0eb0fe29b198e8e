/** `db migrate` and `db status`. */
import type { AppContext } from '../context.js';
import type { Database } from '../db/connection.js';
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
  // What opening it applied (a new embedded database is migrated as it is created) and what is applied now.
  const applied = [...(db.applied ?? []), ...(await migrateLatest(db.knex, ctx.config.schema))];
  const status = await migrationStatus(db.knex, ctx.config.schema);
  await warnOpenSchema(ctx, db);
  return { database: db.where, schema: ctx.config.schema, applied, pending: status.pending, ...(host ? { host } : {}) };
}

/** native mode on a server: say so when others may create objects where the tool's tables are (migrate.ts nativeSchemaWarning). */
async function warnOpenSchema(ctx: AppContext, db: Database): Promise<void> {
  if (ctx.config.schema !== 'native' || db.kind !== 'postgres') return;
  const { nativeSchemaWarning } = await import('../db/migrate.js');
  const warning = await nativeSchemaWarning(db.knex);
  if (warning) ctx.out.warn(warning);
}

export async function status(_opts: unknown, ctx: AppContext): Promise<MigrateResult> {
  const db = await ctx.db({ skipSchemaCheck: true });
  const host = await hostReport(ctx);
  const { migrationStatus } = await import('../db/migrate.js');
  const s = await migrationStatus(db.knex, ctx.config.schema);
  await warnOpenSchema(ctx, db);
  return { database: db.where, schema: ctx.config.schema, applied: s.applied, pending: s.pending, ...(host ? { host } : {}) };
}

export interface DigestResult {
  word: string;
  sha1: string;
  sha256: string;
  /** HMIS_DEVISE_KEY_DIGEST as configured now. */
  configured: 'sha1' | 'sha256';
}

/**
 * What Devise would store for `word` as a reset token, under each key digest: the one equal to the application's own
 * `Devise.token_generator.digest(User, :reset_password_token, word)` is the HMIS_DEVISE_KEY_DIGEST to set. Needs the
 * secret (never shown), not the database.
 */
export async function deviseDigest(word: string, _opts: unknown, ctx: AppContext): Promise<DigestResult> {
  const { requireResetSecret } = await import('../services/links/tokens.js');
  requireResetSecret({ ...ctx.config, schema: 'devise' });
  const { deviseDigest: digest } = await import('../store/devise/token.js');
  const secret = ctx.config.devise.secret!;
  return {
    word,
    sha1: digest({ secret, keyDigest: 'sha1' }, 'reset_password_token', word),
    sha256: digest({ secret, keyDigest: 'sha256' }, 'reset_password_token', word),
    configured: ctx.config.devise.keyDigest,
  };
}

/** devise mode: what the host's table offers; a missing required column is exit 2 with the list (openStore). */
async function hostReport(ctx: AppContext): Promise<HostReport | undefined> {
  if (ctx.config.schema === 'native') return undefined;
  return (await ctx.store()).describe();
}
