import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
// One folder per test run (global setup names it), so runs side by side never delete each other's files.
process.env.HMIS_TEST_RUN ??= `run-${process.pid}`;
export const testRoot = join(repoRoot, '.hmis-test', process.env.HMIS_TEST_RUN);
export const templateDir = join(testRoot, 'template-pgdata');
export const binPath = join(repoRoot, 'dist', 'bin', 'hmis-admin.js');
