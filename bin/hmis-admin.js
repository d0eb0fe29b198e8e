#!/usr/bin/env node
// The hmis-admin command. Plain JavaScript, not built: the published package ships dist/ (built by
// `prepack`), and a fresh checkout has no dist/ until its first run, which builds the bundle here. That is
// how `npm install && npx hmis-admin demo` works from a clone without an install script (`prepare`), which
// npm 11 flags on every install of the published package. The bundle (scripts/bundle.mjs) is the whole
// command in a few lazily loaded files: start-up reads a handful of files, not hundreds of modules.
import { existsSync, fstatSync, writeSync } from 'node:fs';

const main = new URL('../dist/src/bundle/main.js', import.meta.url);
// Held while a first run builds the bundle: a run started meanwhile waits for it instead of loading half a bundle.
const buildLock = new URL('../dist/.build-lock', import.meta.url);
if (!existsSync(main) || existsSync(buildLock)) await buildOnce();

/** Build the bundle unless another run is building it (then wait for that one); one line if the build fails. */
async function buildOnce() {
  const [fs, { execFileSync }, { fileURLToPath }] = await Promise.all([import('node:fs'), import('node:child_process'), import('node:url')]);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  fs.mkdirSync(new URL('../dist/', import.meta.url), { recursive: true });
  for (let waited = 0; ; ) {
    try {
      fs.mkdirSync(buildLock);
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      // A build killed half-way leaves its lock: after 5 minutes it is nobody's.
      const age = Date.now() - (fs.statSync(buildLock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 300_000) fs.rmSync(buildLock, { recursive: true, force: true });
      else if (waited === 0) process.stderr.write('hmis-admin: waiting for another run that is building the tool…\n');
      await sleep(200);
      waited += 200;
      continue;
    }
    try {
      if (existsSync(main)) return; // built by the run we waited for
      process.stderr.write('hmis-admin: first run in this checkout: building the tool (node scripts/bundle.mjs)…\n');
      // esbuild is a devDependency: present in a checkout.
      execFileSync(process.execPath, [fileURLToPath(new URL('../scripts/bundle.mjs', import.meta.url))], { stdio: ['ignore', 'inherit', 'pipe'] });
      return;
    } catch (err) {
      // Node ends a crash with its version line: the error is the last line that names one.
      const lines = String(err.stderr ?? err.message).split('\n').map((l) => l.trim()).filter(Boolean);
      const why = lines.filter((l) => /error/i.test(l)).at(-1) ?? lines.at(-1) ?? 'unknown error';
      process.stderr.write(`hmis-admin: building the tool failed (${why}); run \`npm run build\` in the checkout to see why\n`);
      fs.rmSync(buildLock, { recursive: true, force: true }); // process.exit runs no finally
      process.exit(1);
    } finally {
      fs.rmSync(buildLock, { recursive: true, force: true });
    }
  }
}
// A help request prints the text the bundle would print, rendered at build time (scripts/help-texts.mjs),
// only where commander renders it 80 columns wide and without colour: stdout a pipe, socket, file or a device
// that is not a terminal (/dev/null), and no FORCE_COLOR / CLICOLOR_FORCE; and only for an argument list
// rendered. Anything else takes the normal path. Written with writeSync: creating process.stdout alone costs a
// few ms of a 70 ms start.
const args = process.argv.slice(2);
const piped = async () => {
  try {
    const s = fstatSync(1);
    return s.isFIFO() || s.isSocket() || s.isFile() || (s.isCharacterDevice() && !(await import('node:tty')).isatty(1));
  } catch {
    return false;
  }
};
const help =
  (args[0] === 'help' || args.includes('--help') || args.includes('-h')) && !process.env.FORCE_COLOR && process.env.CLICOLOR_FORCE === undefined && (await piped())
    ? await import('../dist/src/bundle/help.js').then((h) => h.texts[h.requests.get(args.join('\0'))], () => undefined)
    : undefined;
if (help !== undefined) {
  const text = Buffer.from(help);
  let done = 0;
  try {
    while (done < text.length) done += writeSync(1, text, done);
    process.exit(0);
  } catch (err) {
    // The reader went away (head, less): not an error, as in main.ts run(). A full non-blocking pipe: the rest through the stream.
    if (err.code === 'EPIPE') process.exit(0);
    if (err.code !== 'EAGAIN') {
      process.stderr.write(`hmis-admin: cannot write the output (${err.code ?? err.message})\n`);
      process.exit(1);
    }
    process.stdout.on('error', (e) => {
      if (e.code === 'EPIPE') process.exit(0);
    });
    process.stdout.write(text.subarray(done), () => process.exit(0));
  }
} else {
  const { run } = await import(main.href);
  await run();
}
