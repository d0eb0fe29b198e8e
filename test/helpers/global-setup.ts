/**
 * Once per run: a migrated PGlite template for every test file to copy (the CLI is built by `npm test`),
 * and the guard that fails the run if any test touched the operator's hmis-admin data folder.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { guardOperatorFiles } from './home-guard.js';
import { deviseTemplateDir, templateDir, testRoot } from './paths.js';

export default async function setup(): Promise<() => void> {
  const check = guardOperatorFiles();
  rmSync(testRoot, { recursive: true, force: true });
  mkdirSync(testRoot, { recursive: true });
  const { default: knexFactory } = await import('knex');
  const { default: ClientPgLite } = await import('knex-pglite');
  const { hostKnexOptions, prepareHost } = await import('./hosts.js');
  // One template per host, made side by side: each test file copies its host's. Starting PGlite can take
  // minutes on a loaded machine: knex's 60 s wait for the first connection would fail the whole run.
  await Promise.all(
    ([['native', templateDir], ['devise', deviseTemplateDir]] as const).map(async ([host, dir]) => {
      const knex = knexFactory({ client: ClientPgLite as never, dialect: 'postgres', connection: { filename: dir } as never, ...hostKnexOptions(host), acquireConnectionTimeout: 600_000 });
      await prepareHost(knex, host);
      await knex.destroy();
      if (!existsSync(dir)) throw new Error(`PGlite template for ${host} was not created`);
    }),
  );
  return () => {
    rmSync(testRoot, { recursive: true, force: true });
    check();
  };
}
