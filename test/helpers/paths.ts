import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const testRoot = join(repoRoot, '.hmis-test');
export const templateDir = join(testRoot, 'template-pgdata');
export const binPath = join(repoRoot, 'dist', 'bin', 'hmis-admin.js');
