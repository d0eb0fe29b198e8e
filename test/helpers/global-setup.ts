/**
 * Once per run: a migrated PGlite template for every test file to copy (the CLI is built by `npm test`),
 * and the guard that fails the run if any test touched the operator's hmis-admin data folder.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { guardOperatorFiles } from './home-guard.js';
import { templateDir, testRoot } from './paths.js';

export default async function setup(): Promise<() => void> {
  const check = guardOperatorFiles();
  rmSync(testRoot, { recursive: true, force: true });
  mkdirSync(testRoot, { recursive: true });
  const { default: knexFactory } = await import('knex');
  const { default: ClientPgLite } = await import('knex-pglite');
  const { migrateLatest } = await import('../../src/db/migrate.js');
  const knex = knexFactory({ client: ClientPgLite as never, dialect: 'postgres', connection: { filename: templateDir } as never });
  await migrateLatest(knex);
  await knex.destroy();
  if (!existsSync(templateDir)) throw new Error('PGlite template was not created');
  return () => {
    rmSync(testRoot, { recursive: true, force: true });
    check();
  };
}
