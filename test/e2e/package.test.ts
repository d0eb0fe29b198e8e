/**
 * What `npm pack` ships (issue 10): what a user needs (the command, the built code and its types, README,
 * LICENSE) and nothing else (no bench, tests, sources or source maps), with no install script; the tarball
 * installs into a fresh prefix without npm's install-script warning, and the command runs.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { onServer } from '../helpers/db.js';
import { repoRoot, sandboxEnv, testRoot } from '../helpers/paths.js';

const run = promisify(execFile);
const npm = (args: string[], cwd = repoRoot) => run('npm', args, { cwd, env: { ...process.env, npm_config_update_notifier: 'false' }, maxBuffer: 16 * 1024 * 1024 });

// What npm packs does not depend on the database: the embedded run checks it, the server run does not repeat it.
describe.skipIf(onServer)('the npm package', () => {
  /** One `npm pack` for both tests: the tarball the second installs, and its file list (--json) the first reads. */
  let dir: string;
  let packed: Array<{ filename: string; files: Array<{ path: string }> }>;
  beforeAll(async () => {
    dir = mkdtempSync(join(testRoot, 'pack-'));
    // `npm test` built dist already; --ignore-scripts skips the prepack build.
    const { stdout } = await npm(['pack', '--ignore-scripts', '--pack-destination', dir, '--json']);
    packed = JSON.parse(stdout);
  });

  it('lists the command, dist/src (.js and .d.ts), README and LICENSE, and nothing else', async () => {
    const files = packed[0]!.files.map((f) => f.path);
    for (const want of ['LICENSE', 'README.md', 'package.json', 'bin/hmis-admin.js', 'dist/src/main.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/db/migrations/20261127000001_initial.js']) {
      expect(files).toContain(want);
    }
    const extra = files.filter((f) => !/^(LICENSE|README\.md|package\.json|bin\/hmis-admin\.js|dist\/src\/.+\.(js|d\.ts))$/.test(f));
    expect(extra).toEqual([]);
    expect(files.filter((f) => /^dist\/bench|\.map$|^test\/|^src\//.test(f))).toEqual([]);
    const scripts = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).scripts as Record<string, string>;
    for (const install of ['preinstall', 'install', 'postinstall', 'prepare']) expect(scripts[install], install).toBeUndefined();
    expect(scripts.prepack).toBe('npm run build');
    expect(readFileSync(join(repoRoot, 'LICENSE'), 'utf8')).toMatch(/^MIT License/);
  });

  it('installs globally from the tarball without an install-script warning, and hmis-admin --help runs', async () => {
    const tarball = join(dir, packed[0]!.filename);
    const prefix = join(dir, 'prefix');
    let installed: { stdout: string; stderr: string };
    try {
      installed = await npm(['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball], dir);
    } catch (err) {
      const text = String((err as { stderr?: string }).stderr ?? err);
      // No registry and no cache here: say so rather than fail on the network.
      if (/ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH/.test(text)) return void console.warn(`skipped: the registry is unreachable (${text.split('\n')[0]})`);
      throw err;
    }
    expect(installed.stderr).not.toMatch(/hmis-admin@[\d.]+ \((preinstall|install|postinstall|prepare):/);
    const help = await run(join(prefix, 'bin', 'hmis-admin'), ['--help'], { env: { PATH: process.env.PATH ?? '', ...sandboxEnv() } });
    expect(help.stdout).toMatch(/^Usage: hmis-admin /);
    const version = await run(join(prefix, 'bin', 'hmis-admin'), ['--version'], { env: { PATH: process.env.PATH ?? '', ...sandboxEnv() } });
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version);
  }, 300_000);
});
