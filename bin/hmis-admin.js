#!/usr/bin/env node
// The hmis-admin command. Plain JavaScript, not built: the published package ships dist/ (built by
// `prepack`), and a fresh checkout has no dist/ until its first run, which builds it here. That is how
// `npm install && npx hmis-admin demo` works from a clone without an install script (`prepare`), which
// npm 11 flags on every install of the published package.
import { existsSync } from 'node:fs';

const main = new URL('../dist/src/main.js', import.meta.url);
if (!existsSync(main)) {
  const [{ execFileSync }, { createRequire }, { fileURLToPath }] = await Promise.all([import('node:child_process'), import('node:module'), import('node:url')]);
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc'); // a devDependency: present in a checkout
  process.stderr.write('hmis-admin: first run in this checkout: building the tool (npm run build)…\n');
  execFileSync(process.execPath, [tsc, '-p', fileURLToPath(new URL('../tsconfig.build.json', import.meta.url))], { stdio: 'inherit' });
}
const { run } = await import(main.href);
await run();
