import { mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
// One folder per test run (global setup names it), so runs side by side never delete each other's files.
process.env.HMIS_TEST_RUN ??= `run-${process.pid}`;
export const testRoot = join(repoRoot, '.hmis-test', process.env.HMIS_TEST_RUN);
export const templateDir = join(testRoot, 'template-pgdata');
/** The same for the devise host: OpenPath-shaped host tables and the tool's own in hmis_admin. */
export const deviseTemplateDir = join(testRoot, 'template-devise-pgdata');
export const binPath = join(repoRoot, 'bin', 'hmis-admin.js');

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
