#!/usr/bin/env node
// The hmis-admin command. Plain JavaScript, not built: the published package ships dist/ (built by
// `prepack`), and a fresh checkout has no dist/ until its first run, which builds the bundle here. That is
// how `npm install && npx hmis-admin demo` works from a clone without an install script (`prepare`), which
// npm 11 flags on every install of the published package. The bundle (scripts/bundle.mjs) is the whole
// command in a few lazily loaded files: start-up reads a handful of files, not hundreds of modules.
import { existsSync } from 'node:fs';

const main = new URL('../dist/src/bundle/main.js', import.meta.url);
if (!existsSync(main)) {
  const [{ execFileSync }, { fileURLToPath }] = await Promise.all([import('node:child_process'), import('node:url')]);
  process.stderr.write('hmis-admin: first run in this checkout: building the tool (node scripts/bundle.mjs)…\n');
  // esbuild is a devDependency: present in a checkout.
  execFileSync(process.execPath, [fileURLToPath(new URL('../scripts/bundle.mjs', import.meta.url))], { stdio: 'inherit' });
}
const { run } = await import(main.href);
await run();
