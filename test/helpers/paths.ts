import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Where the tests' databases and folders go: memory (tmpfs, /dev/shm) where the machine has it, else
 * `.hmis-test/` in the repository; HMIS_TEST_SCRATCH names another folder. Each PGlite database is a copy of
 * a 1,000-file template: 1.2 s on this machine's ext4 disk, 0.1 s in tmpfs, and the copies, PGlite's writes and
 * their removal were a fifth of the PGlite suite. The tmpfs folder is this user's alone (made 0700, refused
 * if it is anybody else's or a link), since /dev/shm is shared by everyone on the machine, and holds one
 * folder per checkout (named for its path, which it records in `checkout`), so two checkouts at different
 * migrations never remove each other's templates; global setup removes those of checkouts that are gone.
 */
function scratchRoot(): string {
  if (process.env.HMIS_TEST_SCRATCH) return resolve(process.env.HMIS_TEST_SCRATCH);
  const uid = process.getuid?.();
  if (process.platform === 'linux' && uid !== undefined) {
    const dir = `/dev/shm/hmis-admin-test-${uid}`;
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch {
      /* there already, or no /dev/shm: looked at below */
    }
    try {
      const st = lstatSync(dir);
      if (st.isDirectory() && st.uid === uid && (st.mode & 0o077) === 0) {
        const mine = join(dir, createHash('sha256').update(repoRoot).digest('hex').slice(0, 8));
        mkdirSync(mine, { recursive: true });
        writeFileSync(join(mine, 'checkout'), repoRoot);
        return mine;
      }
    } catch {
      /* no tmpfs here */
    }
  }
  return join(repoRoot, '.hmis-test');
}
export const scratch = scratchRoot();
// One folder per test run (global setup names it), so runs side by side never delete each other's files.
process.env.HMIS_TEST_RUN ??= `run-${process.pid}`;
export const testRoot = join(scratch, process.env.HMIS_TEST_RUN);

/** A hash of everything the migrated templates are made from: the migrations, the devise host schema, the PGlite version. */
function templateHash(): string {
  const h = createHash('sha256');
  const add = (path: string) => {
    if (statSync(path).isDirectory()) for (const name of readdirSync(path).sort()) add(join(path, name));
    else h.update(path.slice(repoRoot.length)).update('\0').update(readFileSync(path)).update('\0');
  };
  for (const p of ['src/db/migrate.ts', 'src/db/migrations', 'test/devise/schema.sql', 'test/helpers/hosts.ts']) add(join(repoRoot, p));
  h.update(JSON.parse(readFileSync(join(repoRoot, 'node_modules/@electric-sql/pglite/package.json'), 'utf8')).version);
  return h.digest('hex').slice(0, 16);
}

/**
 * Migrated PGlite templates, kept between runs in the scratch folder (global setup makes them when the hash is new); test
 * files copy them, never open them in place.
 */
export const templateCache = join(scratch, `templates-${templateHash()}`);
export const templateDir = join(templateCache, 'native');
/** The same for the devise host: OpenPath-shaped host tables and the tool's own in hmis_admin. */
export const deviseTemplateDir = join(templateCache, 'devise');
export const binPath = join(repoRoot, 'bin', 'hmis-admin.js');

/** The migrated template database of this run on the test server (HMIS_TEST_DATABASE_URL), one per host. */
export function serverTemplateName(host: 'native' | 'devise'): string {
  return `hmis_tmpl_${process.env.HMIS_TEST_RUN!.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${host}`;
}

/**
 * A fresh HOME, XDG_DATA_HOME and HMIS_DATA_DIR under the run's folder: every CLI a test runs gets
 * these unless the test names its own, so nothing reaches the operator's ~/.local/share/hmis-admin.
 */
export function sandboxEnv(): { HOME: string; XDG_DATA_HOME: string; HMIS_DATA_DIR: string } {
  mkdirSync(testRoot, { recursive: true });
  const home = mkdtempSync(join(testRoot, 'home-'));
  const dataHome = join(home, '.local', 'share');
  return { HOME: home, XDG_DATA_HOME: dataHome, HMIS_DATA_DIR: join(dataHome, 'hmis-admin') };
}
