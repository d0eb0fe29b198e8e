/** Once per run: build the CLI is done by `npm test`; here a migrated PGlite template is made for every test file to copy. */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { templateDir, testRoot } from './paths.js';

export default async function setup(): Promise<() => void> {
  rmSync(testRoot, { recursive: true, force: true });
  mkdirSync(testRoot, { recursive: true });
  const { default: knexFactory } = await import('knex');
  const { default: ClientPgLite } = await import('knex-pglite');
  const { migrateLatest } = await import('../../src/db/migrate.js');
  const knex = knexFactory({ client: ClientPgLite as never, dialect: 'postgres', connection: { filename: templateDir } as never });
  await migrateLatest(knex);
  await knex.destroy();
  if (!existsSync(templateDir)) throw new Error('PGlite template was not created');
  return () => rmSync(testRoot, { recursive: true, force: true });
}
