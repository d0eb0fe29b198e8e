/** Schema migrations as a static list, so the same code runs from src (tsx, knex CLI) and dist. */
import type { Knex } from 'knex';
import * as initial from './migrations/20261127000001_initial.js';
import * as outboxRecipients from './migrations/20261128000001_outbox_recipients.js';
import * as auditDbUser from './migrations/20261128000002_audit_db_user.js';

const MIGRATIONS: Record<string, Knex.Migration> = {
  '20261127000001_initial': initial,
  '20261128000001_outbox_recipients': outboxRecipients,
  '20261128000002_audit_db_user': auditDbUser,
};

/** A knex migration source that needs no directory scan or file extension guessing. */
export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(MIGRATIONS).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => MIGRATIONS[name]!,
};

export const migrationConfig: Knex.MigratorConfig = { migrationSource, tableName: 'knex_migrations' };

export interface MigrationStatus {
  applied: string[];
  pending: string[];
}

/** Apply every pending migration; returns the names applied now. */
export async function migrateLatest(db: Knex): Promise<string[]> {
  const [, applied] = (await db.migrate.latest(migrationConfig)) as [number, string[]];
  return applied;
}

/** Which migrations are applied and which are pending. */
export async function migrationStatus(db: Knex): Promise<MigrationStatus> {
  const [done, pending] = (await db.migrate.list(migrationConfig)) as [Array<{ name: string } | string>, Array<{ file: string } | string>];
  const name = (m: unknown) => (typeof m === 'string' ? m : ((m as { name?: string; file?: string }).name ?? (m as { file: string }).file));
  return { applied: done.map(name), pending: pending.map(name) };
}

/**
 * Names of migrations not yet applied, from one plain query: the per-command schema check must be
 * cheap (knex's migrate.list also creates and inspects its lock table).
 */
export async function pendingMigrations(db: Knex): Promise<{ applied: number; pending: string[] }> {
  let applied: string[];
  try {
    applied = (await db('knex_migrations').pluck('name')) as string[];
  } catch {
    applied = [];
  }
  const done = new Set(applied.map((n) => n.replace(/\.(ts|js)$/, '')));
  return { applied: applied.length, pending: Object.keys(MIGRATIONS).filter((n) => !done.has(n)) };
}
