/**
 * `npm run bench`: speed and memory as ratios against baselines measured in the same run, so the
 * numbers mean the same on a fast or a loaded machine. Database: HMIS_BENCH_DATABASE_URL (a server;
 * a scratch database is created and dropped) or, by default, a fresh embedded PGlite folder.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(root, 'bin', 'hmis-admin.js');
const probe = join(root, 'bench', 'rss-probe.mjs');
const users = Number(process.env.HMIS_BENCH_USERS ?? 100_000);
const runs = Number(process.env.HMIS_BENCH_RUNS ?? 5);

interface Sample {
  ms: number;
  rssKiB: number;
}

/** Run a command to completion, discarding its output; time it and read its peak RSS. */
function measure(args: string[], env: Record<string, string>): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(process.execPath, ['--import', probe, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    });
    let rss = '';
    let err = '';
    child.stdio[3]!.on('data', (c) => (rss += c));
    child.stderr!.on('data', (c) => (err += c));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (code !== 0) reject(new Error(`${args.join(' ')} exited ${code}: ${err.trim()}`));
      else resolve({ ms, rssKiB: Number(rss.trim()) });
    });
  });
}

async function median(args: string[], env: Record<string, string>): Promise<Sample> {
  const samples: Sample[] = [];
  for (let i = 0; i < runs; i++) samples.push(await measure(args, env));
  const mid = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return { ms: mid(samples.map((s) => s.ms)), rssKiB: mid(samples.map((s) => s.rssKiB)) };
}

async function main(): Promise<void> {
  const { default: knexFactory } = await import('knex');
  const server = process.env.HMIS_BENCH_DATABASE_URL;
  const dataDir = mkdtempSync(join(tmpdir(), 'hmis-bench-'));
  let env: Record<string, string> = { HMIS_DATA_DIR: dataDir, HMIS_ACTOR: 'bench' };
  let dropName: string | undefined;
  if (server) {
    dropName = `hmis_bench_${process.pid}`;
    const admin = knexFactory({ client: 'pg', connection: server });
    await admin.raw(`create database ${dropName}`);
    await admin.destroy();
    const url = new URL(server);
    url.pathname = `/${dropName}`;
    env = { ...env, HMIS_DATABASE_URL: url.toString() };
    await measure([bin, '-q', 'db', 'migrate'], env);
  }
  try {
    process.stderr.write(`bench: demo --users ${users} on ${server ? 'the server' : 'the embedded database'}…\n`);
    const demo = await measure([bin, '-q', 'demo', '--users', String(users)], env);
    process.stderr.write(`bench: demo took ${(demo.ms / 1000).toFixed(1)} s\n`);

    // Baselines, measured now, on this machine.
    const bare = await median(['-e', '0'], env);
    const rawQuery = server
      ? `const k=(await import('knex')).default({client:'pg',connection:process.env.HMIS_DATABASE_URL});` +
        `const r=await k('users').whereNotNull('locked_at').orderBy('locked_at','desc').select();process.stdout.write(JSON.stringify(r));await k.destroy();`
      : `const {PGlite}=await import('@electric-sql/pglite');const db=new PGlite(process.env.HMIS_DATA_DIR+'/pgdata');` +
        `const r=await db.query('select * from users where locked_at is not null order by locked_at desc');process.stdout.write(JSON.stringify(r.rows));await db.close();`;
    const baselineQuery = await median(['--input-type=module', '-e', rawQuery], { ...env, NODE_PATH: join(root, 'node_modules') });
    const help = await median([bin, '--help'], env);
    const locked = await median([bin, '-q', 'locked', '--json'], env);
    const small = await median([bin, '-q', 'users', 'list', '--json', '--limit', '1000'], env);
    const all = await median([bin, '-q', 'users', 'list', '--json'], env);
    // A table must cost no more than 1.5x the JSON of the same rows (issue 10): stdout is a pipe here, as under cron.
    const allTable = await median([bin, '-q', 'users', 'list'], env);
    const check = await median([bin, '-q', 'email', 'check', '--json'], env);
    const checkTable = await median([bin, '-q', 'email', 'check'], env);

    const rows: Array<[string, number, string]> = [
      ['--help start-up / bare node start-up', help.ms / bare.ms, `${help.ms.toFixed(0)} ms vs ${bare.ms.toFixed(0)} ms`],
      ['locked --json / the same query in a bare script', locked.ms / baselineQuery.ms, `${locked.ms.toFixed(0)} ms vs ${baselineQuery.ms.toFixed(0)} ms`],
      [`peak RSS: users list --json (${users}) / (1000)`, all.rssKiB / small.rssKiB, `${(all.rssKiB / 1024).toFixed(0)} MiB vs ${(small.rssKiB / 1024).toFixed(0)} MiB`],
      [`wall time: users list --json (${users}) / (1000)`, all.ms / small.ms, `${all.ms.toFixed(0)} ms vs ${small.ms.toFixed(0)} ms`],
      [`users list (${users}): table / --json`, allTable.ms / all.ms, `${allTable.ms.toFixed(0)} ms vs ${all.ms.toFixed(0)} ms`],
      [`email check (${users}): table / --json`, checkTable.ms / check.ms, `${checkTable.ms.toFixed(0)} ms vs ${check.ms.toFixed(0)} ms`],
    ];
    console.log(`benchmark (median of ${runs} runs; ratios against baselines measured in this run)`);
    for (const [name, ratio, detail] of rows) console.log(`${ratio.toFixed(2).padStart(7)}x  ${name.padEnd(58)} ${detail}`);
  } finally {
    if (dropName && server) {
      const admin = knexFactory({ client: 'pg', connection: server });
      await admin.raw(`drop database if exists ${dropName} with (force)`);
      await admin.destroy();
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
