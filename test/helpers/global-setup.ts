/**
 * Once per run: migrated template databases for every test file to copy (the CLI is built by `npm test`),
 * and the guard that fails the run if any test touched the operator's hmis-admin data folder.
 *
 * PGlite: one template folder per host, kept between runs under <scratch>/templates-<hash> (the hash covers
 * the migrations, the devise host schema and the PGlite version, so a change makes a new one); test files copy it.
 * Server (HMIS_TEST_DATABASE_URL): one migrated template database per host for this run, which openTestDb
 * copies with CREATE DATABASE … TEMPLATE instead of migrating again; dropped at the end.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { guardOperatorFiles } from './home-guard.js';
import { scratch, serverTemplateName, templateCache, testRoot } from './paths.js';

const HOSTS = ['native', 'devise'] as const;

async function pgliteTemplates(): Promise<void> {
  const cache = templateCache;
  if (existsSync(join(cache, 'done'))) return;
  // As the tool itself does (scripts/bundle-loader.mjs): PGlite's WebAssembly on V8's baseline compiler only.
  setFlagsFromString('--liftoff-only');
  const { default: knexFactory } = await import('knex');
  const { pgliteKnexOptions } = await import('../../src/db/pglite.js');
  const { hostKnexOptions, prepareHost } = await import('./hosts.js');
  // Made aside and renamed into place, so a run beside this one never copies half a template.
  const making = `${cache}.${process.pid}`;
  rmSync(making, { recursive: true, force: true });
  mkdirSync(making, { recursive: true });
  // One empty cluster (PGlite's initdb, ~4 s of the ~5), copied for each host and prepared there: one at a
  // time, since PGlite runs on this thread and side by side would only interleave.
  const empty = join(making, 'empty');
  const initdb = knexFactory({ ...(await pgliteKnexOptions(empty)), acquireConnectionTimeout: 600_000 });
  await initdb.raw('select 1');
  await initdb.destroy();
  for (const host of HOSTS) {
    const dir = join(making, host);
    cpSync(empty, dir, { recursive: true });
    const knex = knexFactory({ ...(await pgliteKnexOptions(dir)), ...hostKnexOptions(host), acquireConnectionTimeout: 600_000 });
    await prepareHost(knex, host);
    await knex.destroy();
    if (!existsSync(join(dir, 'PG_VERSION'))) throw new Error(`PGlite template for ${host} was not created`);
  }
  rmSync(empty, { recursive: true, force: true });
  mkdirSync(join(making, 'done'));
  try {
    renameSync(making, cache);
  } catch {
    rmSync(making, { recursive: true, force: true }); // another run finished first: use its copy
  }
  // Templates of earlier migrations are only disk space (or memory).
  for (const name of readdirSync(scratch)) {
    if (/^templates-[0-9a-f]{16}$/.test(name) && join(scratch, name) !== cache) rmSync(join(scratch, name), { recursive: true, force: true });
  }
}

/** The tmpfs folders of checkouts that are gone (paths.ts scratchRoot): memory nobody will use again. */
function pruneGoneCheckouts(): void {
  for (const name of readdirSync(dirname(scratch))) {
    if (!/^[0-9a-f]{8}$/.test(name)) continue;
    const folder = join(dirname(scratch), name);
    let checkout: string | undefined;
    try {
      checkout = readFileSync(join(folder, 'checkout'), 'utf8');
    } catch {
      continue; // being made
    }
    if (!existsSync(join(checkout, 'package.json'))) rmSync(folder, { recursive: true, force: true });
  }
}

async function serverTemplates(serverUrl: string): Promise<() => Promise<void>> {
  const { default: knexFactory } = await import('knex');
  const { hostKnexOptions, prepareHost } = await import('./hosts.js');
  const admin = knexFactory({ client: 'pg', connection: serverUrl, pool: { min: 0, max: 1 } });
  const names = HOSTS.map(serverTemplateName);
  try {
    await Promise.all(
      HOSTS.map(async (host) => {
        const name = serverTemplateName(host);
        await admin.raw(`drop database if exists ${name} with (force)`);
        await admin.raw(`create database ${name}`);
        const url = new URL(serverUrl);
        url.pathname = `/${name}`;
        const knex = knexFactory({ client: 'pg', connection: url.toString(), pool: { min: 0, max: 1 }, ...hostKnexOptions(host) });
        try {
          await prepareHost(knex, host);
        } finally {
          await knex.destroy(); // a template must have no connections when it is copied
        }
      }),
    );
  } finally {
    await admin.destroy();
  }
  return async () => {
    const drop = knexFactory({ client: 'pg', connection: serverUrl, pool: { min: 0, max: 1 } });
    for (const name of names) await drop.raw(`drop database if exists ${name} with (force)`);
    await drop.destroy();
  };
}

export default async function setup(): Promise<() => Promise<void>> {
  const check = guardOperatorFiles();
  rmSync(testRoot, { recursive: true, force: true });
  mkdirSync(testRoot, { recursive: true });
  const serverUrl = process.env.HMIS_TEST_DATABASE_URL;
  // The PGlite templates serve the embedded suite; the server suite copies server templates instead. The server
  // suite needs the native PGlite template too: the embedded-lock tests (integration/confirm-lock, the helpdesk lock
  // test) run on an embedded folder whatever the database (without it a server run in a fresh checkout failed them).
  const dropServer = serverUrl ? await serverTemplates(serverUrl) : undefined;
  await pgliteTemplates();
  pruneGoneCheckouts();
  return async () => {
    await dropServer?.();
    rmSync(testRoot, { recursive: true, force: true });
    check();
  };
}
