// Bundles the command (src/main.ts and everything it imports, libraries included) into dist/src/bundle/:
// one small entry chunk for --help and lazy chunks that each command loads only when it runs. Start-up is
// then a handful of file reads rather than ~400 module resolutions (issue 11). PGlite stays external (it
// loads its .wasm and .data files beside its own module). Writes dist/bundle-meta.json: which sources
// each chunk holds (the --help start-up test reads it).
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${root}dist/src/bundle`;
// knex's other dialects and drivers: never used (the tool speaks PostgreSQL through pg or PGlite).
const unusedDialects = /^\.\/(better-sqlite3|cockroachdb|mssql|mysql|mariadb|mysql2|oracle|oracledb|pgnative|redshift|sqlite3)$/;

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: { main: 'src/main.ts' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
  chunkNames: 'chunk-[hash]',
  external: ['@electric-sql/pglite', '@electric-sql/pglite/*', 'knex-pglite', 'pg-native', 'pg-query-stream', 'sqlite3', 'better-sqlite3', 'mysql', 'mysql2', 'oracledb', 'tedious', 'cloudflare:sockets'],
  // Bundled CommonJS (knex, pg, nodemailer) calls require() for Node's own modules.
  banner: { js: "import { createRequire as __hmisRequire } from 'node:module'; const require = __hmisRequire(import.meta.url);" },
  plugins: [
    {
      // pg asks whether it runs in a Cloudflare Worker by constructing a fetch Response, which makes Node 20
      // load its whole fetch implementation (undici, ~100 ms) on every connection. This bundle runs on Node only.
      name: 'pg-node-streams',
      setup(b) {
        b.onLoad({ filter: /[\\/]pg[\\/]lib[\\/]stream\.js$/ }, async (args) => {
          const text = await readFile(args.path, 'utf8');
          if (!text.includes('if (isCloudflareRuntime()) {')) throw new Error(`pg changed ${args.path}: review the pg-node-streams patch`);
          return { contents: text.replace('if (isCloudflareRuntime()) {', 'if (false) {'), loader: 'js' };
        });
      },
    },
    {
      name: 'unused-knex-dialects',
      setup(b) {
        b.onResolve({ filter: unusedDialects }, (args) => (/knex[\\/]lib[\\/]dialects$/.test(args.resolveDir) ? { path: args.path, namespace: 'unused' } : undefined));
        b.onLoad({ filter: /.*/, namespace: 'unused' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
      },
    },
  ],
});
const chunks = Object.fromEntries(
  Object.entries(result.metafile.outputs).map(([out, o]) => [out.replace(/^dist\/src\/bundle\//, ''), Object.keys(o.inputs)]),
);
writeFileSync(`${root}dist/bundle-meta.json`, `${JSON.stringify(chunks, null, 1)}\n`);

// Every command's help, pre-rendered for the launcher (scripts/help-texts.mjs): rendered on a pipe, without
// the variables that make commander colour its output, as the launcher checks before it uses the texts.
const { FORCE_COLOR, CLICOLOR_FORCE, NO_COLOR, ...plain } = process.env;
execFileSync(process.execPath, [`${root}scripts/help-texts.mjs`], { env: plain, stdio: ['ignore', 'pipe', 'inherit'] });
