// Bundles the command (src/main.ts and everything it imports, libraries included) into dist/src/bundle/
// (issue 11: start-up). The command is a few CommonJS pieces, each one file that bundle/main.js (built from
// scripts/bundle-loader.mjs) compiles through V8 with a code cache: `app` (the tool's own code, commander and
// the small libraries), and `db` (knex, pg, knex-pglite, and knex's debug for the listing queries' log), `mail` (nodemailer) and `prompts` (@inquirer/prompts), each
// loaded only when a command first imports its library. PGlite stays external (it loads its .wasm and .data
// files beside its own module; the loader compiles its CommonJS build through a code cache too). The pieces are .js files for the package's `files` list; only the loader
// reads them. Writes dist/bundle-meta.json: which sources each file holds (the --help start-up test reads it).
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${root}dist/src/bundle`;
// knex's other dialects and drivers: never used (the tool speaks PostgreSQL through pg or PGlite).
const unusedDialects = /^\.\/(better-sqlite3|cockroachdb|mssql|mysql|mariadb|mysql2|oracle|oracledb|pgnative|redshift|sqlite3)$/;
const external = ['@electric-sql/pglite', '@electric-sql/pglite/*', 'pg-native', 'pg-query-stream', 'sqlite3', 'better-sqlite3', 'mysql', 'mysql2', 'oracledb', 'tedious', 'cloudflare:sockets'];
/** The pieces besides `app`, and the libraries each holds. */
const PIECES = { db: ['knex', 'pg', 'knex-pglite', 'debug'], mail: ['nodemailer'], prompts: ['@inquirer/prompts'] };
const pieceOf = new Map(Object.entries(PIECES).flatMap(([piece, libs]) => libs.map((lib) => [lib, piece])));
// Dynamic import() of a module outside the bundle: the loader's own import(), since a vm.Script has none.
// Each piece has exactly these (a new one must be looked at: a string that merely contains "import(" must not be rewritten).
const IMPORTS = { app: [], db: ['import(require("url").pathToFileURL(filepath))'], mail: [], prompts: [] };

/** Library code the bundle changes, and why; a require moved into the function that needs it runs on first use. */
const LIBRARY_EDITS = [
  {
    // pg asks whether it runs in a Cloudflare Worker by constructing a fetch Response, which makes Node 20
    // load its whole fetch implementation (undici, ~100 ms) on every connection. This bundle runs on Node only.
    file: /[\\/]pg[\\/]lib[\\/]stream\.js$/,
    why: 'no Cloudflare probe',
    edits: [['if (isCloudflareRuntime()) {', 'if (false) {']],
  },
  {
    // knex loads its migrator and seeder (lodash's template engine among them) with every instance; only
    // `db migrate`, `db status` and a first embedded run use the migrator, nothing the seeder.
    file: /[\\/]knex[\\/]lib[\\/]knex-builder[\\/]make-knex\.js$/,
    why: 'migrator and seeder on first use',
    edits: [
      ["const { Migrator } = require('../migrations/migrate/Migrator');\n", ''],
      ["const Seeder = require('../migrations/seed/Seeder');\n", ''],
      ['return new Migrator(this);', "return new (require('../migrations/migrate/Migrator').Migrator)(this);"],
      ['return new Seeder(this);', "return new (require('../migrations/seed/Seeder'))(this);"],
    ],
  },
  {
    // commander loads child_process (and with it dgram) for executable subcommands, which this tool has none of.
    file: /[\\/]commander[\\/]lib[\\/]command\.js$/,
    why: 'child_process on first use',
    edits: [["const childProcess = require('node:child_process');", "const childProcess = { spawn: (...a) => require('node:child_process').spawn(...a) };"]],
  },
  {
    // pg's connection parameters load dns for libpq connection strings (pg-native only).
    file: /[\\/]pg[\\/]lib[\\/]connection-parameters\.js$/,
    why: 'dns on first use',
    edits: [
      ["const dns = require('dns')\n", ''],
      ['    dns.lookup(this.host, function (err, address) {', "    require('dns').lookup(this.host, function (err, address) {"],
    ],
  },
  {
    // pg's SCRAM and MD5 helpers reach into Node's Web Crypto when the module loads (which loads all of crypto,
    // ~10 ms a run); a server with trust or a socket's peer authentication never needs them. Reached on first use.
    file: /[\\/]pg[\\/]lib[\\/]crypto[\\/]utils\.js$/,
    why: 'Web Crypto on first use',
    edits: [
      ['const webCrypto = nodeCrypto.webcrypto || globalThis.crypto', 'const webCrypto = { getRandomValues: (a) => (nodeCrypto.webcrypto || globalThis.crypto).getRandomValues(a) }'],
      [
        'const subtleCrypto = webCrypto.subtle',
        'const subtleCrypto = new Proxy({}, { get: (_, k) => { const s = (nodeCrypto.webcrypto || globalThis.crypto).subtle; return s[k].bind(s) } })',
      ],
    ],
  },
];

/**
 * Node built-ins the bundle takes on first use, not when a piece loads: `require("node:crypto")` becomes
 * `__hmisLazy("node:crypto")`, the loader's stand-in that requires the module when a property of it is read
 * or it is called. Every use in the pieces is `x.name(...)` or `x(...)` (checked below: a build that destructures
 * one of these, or wraps it in __toESM, fails). crypto and assert cost ~10 ms each; `locked` needs neither.
 */
const LAZY_BUILTINS = /require\("((?:node:)?(?:crypto|assert|fs\/promises))"\)/g;
const LAZY_PIECES = ['app', 'db'];

const common = {
  absWorkingDir: root,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  metafile: true,
  write: false,
  logLevel: 'warning',
  external,
  // The loader hands each piece the file: URL of its file.
  define: { 'import.meta.url': '__hmisUrl' },
  plugins: [
    {
      // Edits of library files in the bundle, each [from, to] found exactly once (else the build fails: review it).
      name: 'library-edits',
      setup(b) {
        for (const { file, why, edits } of LIBRARY_EDITS) {
          b.onLoad({ filter: file }, async (args) => {
            let text = await readFile(args.path, 'utf8');
            for (const [from, to] of edits) {
              if (text.split(from).length !== 2) throw new Error(`${args.path} changed: review its edit in scripts/bundle.mjs (${why})`);
              text = text.replace(from, to);
            }
            return { contents: text, loader: 'js' };
          });
        }
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
};

/** `app` takes a piece's library from the loader (`__hmisPiece`) instead of bundling it. */
const fromPieces = {
  name: 'pieces',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => (pieceOf.has(args.path) ? { path: args.path, namespace: 'piece' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'piece' }, (args) => ({
      contents: `module.exports = __hmisPiece(${JSON.stringify(pieceOf.get(args.path))})(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

/**
 * A source that loads a library on first use through `createRequire(import.meta.url)` (pg-connection-string,
 * email-addresses) uses the bundle's own require instead: esbuild then bundles the library, still evaluated
 * only on first use, and compiled from the code cache rather than found and compiled in node_modules each run.
 */
const LAZY_REQUIRE = 'const require = createRequire(import.meta.url);';
const bundledRequire = {
  name: 'bundled-require',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      return text.includes(LAZY_REQUIRE) ? { contents: text.replace(LAZY_REQUIRE, ''), loader: 'ts' } : undefined;
    });
  },
};

const builds = {
  app: build({ ...common, entryPoints: ['src/main.ts'], outfile: `${outdir}/app.js`, plugins: [...common.plugins, fromPieces, bundledRequire] }),
  ...Object.fromEntries(
    Object.entries(PIECES).map(([piece, libs]) => [
      piece,
      build({
        ...common,
        stdin: {
          contents: `module.exports = (name) => { switch (name) { ${libs.map((l) => `case ${JSON.stringify(l)}: return require(${JSON.stringify(l)});`).join(' ')} } };`,
          resolveDir: root,
          sourcefile: `piece-${piece}.js`,
        },
        outfile: `${outdir}/${piece}.js`,
      }),
    ]),
  ),
};

rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });
const meta = {};
const hashes = {};
for (const [piece, pending] of Object.entries(builds)) {
  const result = await pending;
  let text = result.outputFiles[0].text;
  const found = [...text.matchAll(/(?<![\w$.])import\(/g)].map((m) => text.slice(m.index, m.index + 60));
  if (found.length !== IMPORTS[piece].length || found.some((f, i) => !f.startsWith(IMPORTS[piece][i]))) throw new Error(`${piece}: dynamic imports ${JSON.stringify(found)}, expected ${JSON.stringify(IMPORTS[piece])}: review IMPORTS in scripts/bundle.mjs`);
  text = text.replace(/(?<![\w$.])import\(/g, '__hmisImport(');
  if (LAZY_PIECES.includes(piece)) {
    for (const m of text.matchAll(LAZY_BUILTINS)) {
      // Only `<name>=require(...)` (esbuild's named imports, a library's `var x = require(...)`): a value read once and used later.
      if (!/[\w$]=$/.test(text.slice(m.index - 2, m.index))) throw new Error(`${piece}: ${text.slice(m.index - 40, m.index + 40)}: a lazy built-in used otherwise; review LAZY_BUILTINS in scripts/bundle.mjs`);
    }
    text = text.replace(LAZY_BUILTINS, '__hmisLazy("$1")');
  }
  writeFileSync(`${outdir}/${piece}.js`, text);
  hashes[piece] = createHash('sha256').update(text).digest('hex').slice(0, 16);
  meta[`${piece}.js`] = Object.keys(result.metafile.inputs).filter((input) => !input.startsWith('piece:')); // the stubs that ask the loader for a piece
}
await build({
  absWorkingDir: root,
  entryPoints: ['scripts/bundle-loader.mjs'],
  outfile: `${outdir}/main.js`,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
  define: { __HMIS_PIECES__: JSON.stringify(hashes) },
});
meta['main.js'] = ['scripts/bundle-loader.mjs'];
writeFileSync(`${root}dist/bundle-meta.json`, `${JSON.stringify(meta, null, 1)}\n`);

// Every command's help, pre-rendered for the launcher (scripts/help-texts.mjs): rendered on a pipe, without
// the variables that make commander colour its output, as the launcher checks before it uses the texts.
const { FORCE_COLOR, CLICOLOR_FORCE, NO_COLOR, ...plain } = process.env;
execFileSync(process.execPath, [`${root}scripts/help-texts.mjs`], { env: plain, stdio: ['ignore', 'pipe', 'inherit'] });
