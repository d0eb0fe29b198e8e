/** The built binary, spawned: start-up, errors and exit codes, the embedded lock, both databases. */
import { spawn } from 'node:child_process';
import { chmodSync, closeSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, spawnCli, type CliResult } from '../helpers/cli.js';
import { onServer, spawnTestDb, withOpen, type SpawnDb } from '../helpers/db.js';
import { binPath, repoRoot, sandboxEnv, templateDir, testRoot } from '../helpers/paths.js';

let sdb: SpawnDb;
/** The embedded-lock test: a child that waits its full 15 s for a lock this process holds, started first so the wait overlaps the rest of the file. */
let lockWait: { db: SpawnDb; release: () => void; run: Promise<CliResult> } | undefined;
/**
 * The embedded database created from nothing by `db migrate`, filled by `demo`, then used by `locked` (the slowest
 * runs of the file, on a folder of their own): started in beforeAll so they overlap the rest of the file; the test
 * below awaits and checks them.
 */
let fresh: Promise<{ dir: string; runs: CliResult[] }> | undefined;
beforeAll(async () => {
  if (!onServer) {
    const dir = join(mkdtempSync(join(testRoot, 'fresh-')), 'hmis-admin');
    fresh = (async () => {
      const runs = [await spawnCli(['db', 'migrate', '--json'], { HMIS_DATA_DIR: dir })];
      if (runs[0]!.code === 0) runs.push(await spawnCli(['demo', '--users', '20'], { HMIS_DATA_DIR: dir }));
      if (runs[1]?.code === 0) runs.push(await spawnCli(['locked', '--json'], { HMIS_DATA_DIR: dir }));
      return { dir, runs };
    })();
    fresh.catch(() => undefined); // awaited (and its failure reported) by the test
  }
  if (!onServer) {
    const { acquireLock } = await import('../../src/db/connection.js');
    const db = await spawnTestDb();
    const release = await acquireLock(join(db.env.HMIS_DATA_DIR!, 'pgdata.lock'), 1000);
    lockWait = { db, release, run: spawnCli(['locked'], { ...db.env }) };
  }
  sdb = await spawnTestDb();
  // Set-up in-process on the file's database (no spawn); the tests spawn the binary for what they check.
  await withOpen(sdb, async (database) => {
    if (onServer) expect((await cli(['db', 'migrate'], { database, env: sdb.env })).code).toBe(0);
    const r = await cli(['demo', '--users', '120'], { database, env: sdb.env });
    expect(r.code, r.stderr).toBe(0);
  });
});
afterAll(async () => {
  await fresh?.catch(() => undefined);
  lockWait?.release();
  await lockWait?.run.catch(() => undefined);
  await lockWait?.db.drop();
  await sdb?.drop();
});

/** The module URLs a run of the binary resolved (test/fixtures/record-imports.mjs), and its exit code. */
async function importsOf(args: string[], env: Record<string, string> = {}): Promise<{ code: number; urls: string[] }> {
  const log = join(mkdtempSync(join(testRoot, 'imports-')), 'imports.log');
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, ['--import', join(repoRoot, 'test/fixtures/register-imports.mjs'), binPath, ...args], {
      env: { ...process.env, ...sandboxEnv(), HMIS_IMPORT_LOG: log, ...env },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    child.stdout.resume();
    child.on('close', (c) => resolve(c ?? -1));
  });
  return { code, urls: readFileSync(log, 'utf8').split('\n').filter(Boolean) };
}

describe('start-up', () => {
  it('--help loads no database, mail or prompt library', async () => {
    // FORCE_COLOR=0 (no colour, as on a pipe) makes the launcher take the normal path: the bundle renders the help.
    const { code, urls } = await importsOf(['--help'], { FORCE_COLOR: '0' });
    expect(code).toBe(0);
    // The command is bundled (scripts/bundle.mjs): each file loaded stands for the sources the build put in it.
    const files = JSON.parse(readFileSync(join(repoRoot, 'dist/bundle-meta.json'), 'utf8')) as Record<string, string[]>;
    expect(urls.some((u) => u.endsWith('/dist/src/bundle/main.js'))).toBe(true);
    const loaded = urls.flatMap((u) => [u, ...(files[u.match(/\/dist\/src\/bundle\/([^/]+\.js)$/)?.[1] ?? ''] ?? [])]).join('\n');
    expect(loaded).toMatch(/commander/);
    for (const heavy of ['/knex/', '/pg/', '@electric-sql', '/nodemailer/', '@inquirer', '/zod/']) expect(loaded).not.toContain(heavy);
  });

  it('--help on a pipe prints the pre-rendered text without loading the bundle', async () => {
    const { code, urls } = await importsOf(['locked', '--help']);
    expect(code).toBe(0);
    expect(urls.filter((u) => u.includes('/dist/src/bundle/')).map((u) => u.replace(/.*\//, ''))).toEqual(['help.js']);
  });

  it('every pre-rendered help text is byte for byte what the bundle prints, and every command has one', async () => {
    // The normal path for every help request of every command (main.ts helpRequests()), in one process whose stdout is a pipe.
    const normal = await new Promise<Array<[string[], number, string, string]>>((resolve, reject) => {
      const child = spawn(process.execPath, [join(repoRoot, 'test/fixtures/help-normal.mjs')], { env: { PATH: process.env.PATH ?? '', ...sandboxEnv() }, stdio: ['ignore', 'pipe', 'inherit', 'pipe'] });
      let json = '';
      child.stdout!.resume();
      child.stdio[3]!.on('data', (c) => (json += c));
      child.on('error', reject);
      child.on('close', () => resolve(JSON.parse(json)));
    });
    const helped = normal.filter(([, code, out, err]) => code === 0 && err === '' && out.startsWith('Usage: '));
    // Every command and subcommand answers --help and -h with its help; `help <cmd>` too for all but outbox's flush.
    expect(normal.filter(([args]) => /^(--help|-h)$/.test(args.at(-1)!)).every((r) => helped.includes(r))).toBe(true);
    // The table the launcher prints from holds, for every request, exactly what the bundle printed.
    const table = (await import(pathToFileURL(join(repoRoot, 'dist/src/bundle/help.js')).href)) as { texts: string[]; requests: Map<string, number> };
    expect(new Map([...table.requests].map(([k, i]) => [k, table.texts[i]]))).toEqual(new Map(helped.map(([args, , out]) => [args.join('\0'), out])));
    // The launcher's fast path, spawned for one request in eight (the table above holds every text; the launcher's
    // lookup is the same for each key): same stdout, stderr and exit code as the bundle.
    const pending = helped.filter((_, i) => i % 8 === 0);
    const worker = async () => {
      for (let row = pending.shift(); row; row = pending.shift()) {
        const [args, , out] = row;
        const r = await spawnCli(args);
        expect({ args, code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ args, code: 0, stdout: out, stderr: '' });
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    // And the normal path of the launcher itself (FORCE_COLOR=0: no colour, not the fast path) prints the same.
    for (const args of [['--help'], ['help', 'users'], ['outbox', 'flush', '-h']]) {
      const r = await spawnCli(args, { FORCE_COLOR: '0' });
      expect(r.stdout).toBe(normal.find(([a]) => a.join(' ') === args.join(' '))![2]);
    }
  }, 60_000);

  it("writes each piece's code cache on first use and silently replaces one V8 refuses or others may write", async () => {
    // A copy of the launcher and the bundle without caches, beside a link to the repository's node_modules.
    const root = mkdtempSync(join(testRoot, 'install-'));
    symlinkSync(join(repoRoot, 'node_modules'), join(root, 'node_modules'), 'dir');
    mkdirSync(join(root, 'bin'));
    copyFileSync(binPath, join(root, 'bin', 'hmis-admin.js'));
    copyFileSync(join(repoRoot, 'package.json'), join(root, 'package.json'));
    cpSync(join(repoRoot, 'dist', 'src', 'bundle'), join(root, 'dist', 'src', 'bundle'), { recursive: true, filter: (f) => !f.endsWith('.cache') });
    const bundle = join(root, 'dist', 'src', 'bundle');
    const caches = () => readdirSync(bundle).filter((f) => f.endsWith('.cache')).sort();
    const locked = () =>
      new Promise<CliResult>((resolve) => {
        const child = spawn(process.execPath, [join(root, 'bin', 'hmis-admin.js'), 'locked', '--json'], { env: { PATH: process.env.PATH ?? '', ...sandboxEnv(), ...sdb.env } });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c) => (stdout += c));
        child.stderr.on('data', (c) => (stderr += c));
        child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, json: () => JSON.parse(stdout) }));
      });
    const first = await locked();
    expect(first.code, first.stderr).toBe(0);
    // On the embedded database PGlite's CommonJS build has one too (scripts/bundle-loader.mjs __hmisRequireCached).
    expect(caches().map((f) => f.replace(/-.*/, ''))).toEqual(onServer ? ['app', 'db'] : ['app', 'db', 'electric_sql_pglite']);
    // A cache V8 refuses (here: not a cache at all) makes the run no different, and is written anew.
    for (const f of caches()) writeFileSync(join(bundle, f), 'not a code cache');
    const again = await locked();
    expect({ code: again.code, stdout: again.stdout, stderr: again.stderr }).toEqual({ code: first.code, stdout: first.stdout, stderr: first.stderr });
    for (const f of caches()) expect(readFileSync(join(bundle, f), 'utf8')).not.toBe('not a code cache');
    expect((await locked()).stdout).toBe(first.stdout);
    // A cache others may write is not trusted (V8 would run what it holds): refused, and written anew for this user only.
    const [app] = caches();
    chmodSync(join(bundle, app!), 0o666);
    expect((await locked()).stdout).toBe(first.stdout);
    expect(statSync(join(bundle, app!)).mode & 0o777).toBe(0o644);
  });

  it('--version prints the package version', async () => {
    const r = await spawnCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version);
  });

  it('every command --help shows an example', async () => {
    for (const args of [['locked'], ['users', 'list'], ['users', 'show'], ['audit'], ['demo'], ['db', 'migrate']]) {
      const r = await spawnCli([...args, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Examples:\n {2}\$ hmis-admin/);
    }
  });
});

describe('usage errors', () => {
  it.each([
    [['locked', '--bogus'], /unknown option '--bogus'/],
    [['lockd'], /unknown command 'lockd' \(Did you mean .*locked\?\)/],
    [['locked', '--reason', 'tired'], /argument 'tired' is invalid/],
    [['users', 'list', '--limit', '-1'], /--limit -1 is out of range; give a number from 1 to/],
    [['users', 'list', '--expiring', '30 days'], /--expiring "30 days" is not a duration/],
    [['audit', '--since', 'yesterday'], /--since "yesterday" is not a duration/],
    [['users', 'show', '#x'], /after # give the numeric account id/],
  ])('%j exits 2 with one line', async (args, message) => {
    const r = await spawnCli(args, sdb.env);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n').filter((l) => !l.startsWith('embedded database '))).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("sslmode=require: only our one line on stderr, never pg's multi-line SECURITY WARNING", async () => {
    const r = await spawnCli(['--db', 'postgres://postgres@127.0.0.1:1/x?sslmode=require', 'users', 'list'], sdb.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^hmis-admin: cannot reach the database at 127\.0\.0\.1:1\/x \(ECONNREFUSED\)[^\n]*\n$/);
  });

  it('a bad environment value names the variable', async () => {
    const r = await spawnCli(['locked'], { ...sdb.env, HMIS_LOCKOUT_THRESHOLD: 'lots' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^hmis-admin: HMIS_LOCKOUT_THRESHOLD "lots" is not a whole number/);
  });

  // One name through the binary; integration/accounts.test.ts runs the other hostile names (quotes, Unicode) in-process.
  it.each(['robert; drop table users;--'])('unknown user %j exits 3', async (name) => {
    const r = await spawnCli(['users', 'show', name, '--json'], sdb.env);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('no user');
  });

  it('an unreachable server exits 1 naming host and port, no stack', async () => {
    const r = await spawnCli(['locked'], { HMIS_DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      'hmis-admin: cannot reach the database at 127.0.0.1:1/none (ECONNREFUSED); check that PostgreSQL is running there, or fix --db / HMIS_DATABASE_URL',
    );
  });
});

describe('the main job', () => {
  it('locked --json is one JSON array of locked accounts', async () => {
    const r = await spawnCli(['locked', '--json'], sdb.env);
    expect(r.code, r.stderr).toBe(0);
    const rows = r.json<Array<{ locked: boolean; lockReason: string }>>();
    expect(rows.length).toBeGreaterThan(0);
    expect(new Set(rows.map((x) => x.lockReason))).toEqual(new Set(['failed_logins', 'agreement_expired', 'admin']));
  });

  it('users show, users list and audit answer in JSON', async () => {
    const list = (await spawnCli(['users', 'list', '--limit', '3', '--json'], sdb.env)).json<Array<{ username: string }>>();
    expect(list).toHaveLength(3);
    const show = await spawnCli(['users', 'show', list[0]!.username, '--json'], sdb.env);
    expect(show.json().account.username).toBe(list[0]!.username);
    const audit = (await spawnCli(['audit', '--json'], sdb.env)).json<Array<{ action: string }>>();
    expect(audit.map((a) => a.action)).toContain('demo.created');
  });

  it('stdout and stderr into one pipe that closes at once (`2>&1 | true`): exit 0, as with `| head`', async () => {
    const env = { ...process.env, ...sdb.env, HMIS_ACTOR: 'tester' };
    const code = await new Promise<string>((resolve, reject) => {
      const child = spawn('bash', ['-c', `"${process.execPath}" "${binPath}" users list --limit 5 2>&1 | true; echo \${PIPESTATUS[0]}`], { env, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.on('error', reject);
      child.on('close', () => resolve(out.trim()));
    });
    expect(code).toBe('0');
  });

  it('no command is a usage error: exit 2 with the help on stderr (a cron line that lost its command must not succeed)', async () => {
    for (const args of [[], ['users'], ['-q']]) {
      const r = await spawnCli(args, sdb.env);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^Usage: hmis-admin/);
    }
  });

  it('output that cannot be written (a full disk: /dev/full) is exit 1 with one line, for help and version too', async () => {
    for (const args of [['--help'], ['users', 'list', '--help'], ['--version'], ['-q', 'users', 'list', '--limit', '2']]) {
      const full = openSync('/dev/full', 'w');
      const { code, stderr } = await new Promise<{ code: number; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [binPath, ...args], { env: { ...process.env, ...sdb.env }, stdio: ['ignore', full, 'pipe'] });
        let err = '';
        child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
        child.on('error', reject);
        child.on('close', (c) => resolve({ code: c ?? -1, stderr: err }));
      });
      closeSync(full);
      expect(code, args.join(' ')).toBe(1);
      expect(stderr).toMatch(/hmis-admin: cannot write the output \(ENOSPC\)\n$/);
    }
  });

  it('db status reports the schema as current', async () => {
    const r = await spawnCli(['db', 'status', '--json'], sdb.env);
    expect(r.json()).toMatchObject({
      pending: [],
      applied: expect.arrayContaining(['20261127000001_initial', '20261128000001_outbox_recipients', '20261128000002_audit_db_user']),
    });
  });
});

describe('no database configured (cron without HMIS_DATABASE_URL)', () => {
  it('a command finding no embedded database refuses (exit 2), creates nothing and says how to point it at one', async () => {
    const dataDir = join(mkdtempSync(join(testRoot, 'none-')), 'hmis-admin');
    for (const args of [['-q', 'expire', '--yes'], ['locked', '--json'], ['db', 'status']]) {
      const r = await spawnCli(args, { HMIS_DATA_DIR: dataDir });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^hmis-admin: no HMIS database: HMIS_DATABASE_URL is not set \(in the environment or a \.env in the working directory\) and there is no embedded database in \S+pgdata;/);
      expect(r.stderr).toMatch(/--db postgres:\/\/\S+ or HMIS_DATABASE_URL/);
      expect(r.stderr).toContain('`hmis-admin demo`');
      expect(existsSync(dataDir), 'the data folder must not be created').toBe(false);
    }
  });

  // Each creates a PGlite database from nothing (initdb, migrations): slow on a busy machine, hence the timeouts.
  // Nothing here touches a server, so the server run leaves them to the embedded run.
  it.skipIf(onServer)('db migrate creates the embedded database; demo fills it; then every command uses it', async () => {
    // One database created (about 4 s of CPU): demo creating it in-process is test/integration/first-run.test.ts.
    // Spawned in beforeAll (the three runs one after the other), overlapping the rest of the file.
    const { dir, runs } = await fresh!;
    const [r, demo, locked] = runs;
    expect(r!.code, r!.stderr).toBe(0);
    expect(existsSync(join(dir, 'pgdata', 'PG_VERSION'))).toBe(true);
    // It says what it applied (it said nothing when the new database was migrated as it opened).
    expect(r!.json()).toMatchObject({ pending: [], applied: expect.arrayContaining([expect.stringMatching(/_initial/)]) });
    expect(demo?.code, demo?.stderr).toBe(0);
    expect(demo!.stderr).toMatch(/^embedded database \S*pgdata( \(--db for a server\))?$/m);
    expect(demo!.stderr).not.toMatch(/creating the embedded database|demo users \[/); // no terminal, no bar
    expect(locked?.code, locked?.stderr).toBe(0);
    expect(locked.json<unknown[]>().length).toBeGreaterThan(0);
  }, 180_000);
});

describe.skipIf(onServer)('the embedded database', () => {
  it('a second process waits for the lock file, then fails naming the holder', async () => {
    // Spawned in beforeAll while this process took the lock; it has been waiting since.
    const r = await lockWait!.run;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`in use by process ${process.pid}`));
  }, 30_000);

  it('a command started while another run creates the database waits for it instead of saying there is none', async () => {
    // As `demo` in a new folder: the lock is held and pgdata has no PG_VERSION yet; the database appears, then the lock goes.
    const env = sandboxEnv();
    mkdirSync(env.HMIS_DATA_DIR, { recursive: true });
    const { acquireLock } = await import('../../src/db/connection.js');
    const release = await acquireLock(join(env.HMIS_DATA_DIR, 'pgdata.lock'), 1000);
    const waiting = spawnCli(['locked', '--json'], env);
    await new Promise((r) => setTimeout(r, 700));
    cpSync(templateDir, join(env.HMIS_DATA_DIR, 'pgdata'), { recursive: true });
    release();
    const r = await waiting;
    expect(r.code, r.stderr).toBe(0);
    expect(r.json<unknown[]>()).toEqual([]);
  }, 30_000);
});
