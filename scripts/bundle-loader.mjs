// dist/src/bundle/main.js (scripts/bundle.mjs builds it from this file): loads the command's pieces, each one
// CommonJS file compiled through V8 with a code cache (issue 11). Node 20 keeps no code cache for ES modules
// or require(), and compiling knex and pg alone took ~40 of a 160 ms start. A piece's cache (the app's, per
// command) is written when a run first loads it (or V8 refused the one there): beside the bundle, or where
// that is read-only in ${XDG_CACHE_HOME:-~/.cache}/hmis-admin. Its name carries the hash of the piece's text,
// the command (or `all`) and the Node version and architecture, so a rebuilt bundle or another Node never
// meets an old cache; a refused or unreadable one is only slower, never an error. Nothing here prints.
import { chmodSync, closeSync, constants as fsConstants, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { Script } from 'node:vm';

/** piece name → the first 16 hex digits of the sha-256 of its text (scripts/bundle.mjs defines it). */
const PIECES = __HMIS_PIECES__;
const here = dirname(fileURLToPath(import.meta.url));
const loaded = new Map();
/** Pieces whose code cache this run writes as it exits. */
const unsaved = [];
let savesAtExit = false;
/** Part of a cache's name: which V8 flags compiled it ('' for Node's own; V8 refuses a cache made under other flags). */
let flagsMark = '';

/**
 * Called by the tool just before PGlite compiles its WebAssembly (db/connection.ts): V8's baseline WebAssembly
 * compiler only. Every run compiles PGlite's 9 MB module anew, and the optimising compiler's work on it (most
 * of a one-second run's CPU) never pays off in a short run: a command on the embedded database takes about
 * 30% less CPU and 100-150 ms less. The caches of pieces compiled so far are written first, under the flags
 * they were checked against; later ones are named for the new flags.
 */
globalThis.__hmisWasmBaseline = () => {
  if (flagsMark) return;
  saveCaches();
  unsaved.length = 0;
  setFlagsFromString('--liftoff-only');
  flagsMark = '-liftoff';
};

// XDG: a relative XDG_CACHE_HOME is to be ignored.
const cacheDirs = () => [here, join(isAbsolute(process.env.XDG_CACHE_HOME ?? '') ? process.env.XDG_CACHE_HOME : join(homedir(), '.cache'), 'hmis-admin')];
/**
 * The command a run is for, its first word: each command has a cache of the tool's code of its own, holding
 * the functions its runs compile (locked's from one written by another command is ~2 ms slower). Words of the global options
 * that take a value are skipped; anything but a plain word is `other`.
 */
function commandOf(argv) {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') break;
    if (arg.startsWith('-')) {
      if (['--db', '--format', '--actor'].includes(arg)) i++;
      continue;
    }
    return /^[a-z][a-z-]{0,31}$/.test(arg) ? arg : 'other';
  }
  return 'none';
}
const command = commandOf(process.argv.slice(2));
// Only the tool's own code differs much between commands: a library piece's cache from another command
// served locked as well as its own (db: 96.5 vs 96.3 ms CPU), so each library piece has one.
const cacheName = (piece, hash = PIECES[piece]) => `${piece}-${hash}-${piece === 'app' ? command : 'all'}${flagsMark}-${process.version}-${process.arch}.cache`;

const requireBuiltin = createRequire(import.meta.url);

/**
 * A Node built-in required on first use (scripts/bundle.mjs LAZY_BUILTINS): reading a property of it or
 * calling it loads the module.
 */
function lazyBuiltin(name) {
  let mod;
  const get = () => (mod ??= requireBuiltin(name));
  return new Proxy(() => undefined, {
    apply: (_, self, args) => Reflect.apply(get(), self, args),
    get: (_, key) => get()[key],
    has: (_, key) => key in get(),
  });
}

/** A piece's exports: its code runs once, as a CommonJS module whose `require` resolves from the bundle's folder. */
function load(piece) {
  if (loaded.has(piece)) return loaded.get(piece);
  const file = join(here, `${piece}.js`);
  const script = compile(piece, PIECES[piece], file, readFileSync(file, 'utf8'), ', __hmisUrl, __hmisPiece, __hmisImport, __hmisLazy');
  const module = { exports: {} };
  loaded.set(piece, module.exports);
  // ES modules outside the bundle (knex's migration files) are imported from here: resolved from the bundle's folder.
  script.runInThisContext().call(module.exports, module.exports, createRequire(file), module, file, here, pathToFileURL(file).href, load, (s) => import(s), lazyBuiltin);
  loaded.set(piece, module.exports);
  return module.exports;
}

/** A CommonJS file's function, compiled with the cache of `name` and `hash` if there is a usable one (else saved at exit). */
function compile(name, hash, file, text, params = '') {
  let cachedData;
  for (const dir of cacheDirs()) {
    cachedData = readCache(join(dir, cacheName(name, hash)));
    if (cachedData) break;
  }
  const script = new Script(`(function (exports, require, module, __filename, __dirname${params}) {${text}\n})`, { filename: file, cachedData });
  if (!cachedData || script.cachedDataRejected) {
    // Not after a usage error (exit 2): a mistyped command is no command to keep a cache for. Hooked once: after
    // the WebAssembly switch empties `unsaved`, a file compiled later must not add a second save of the same list.
    if (!savesAtExit) process.once('exit', (code) => code !== 2 && saveCaches());
    savesAtExit = true;
    unsaved.push([name, hash, script]);
  }
  return script;
}

/** `import("name")` of a built-in, as a CommonJS file writes it (not after `.`, nor part of a longer word). */
const BUILTIN_IMPORT = /(?<![.\w$])import\((["'])((?:node:)?[a-z_/]+)\1\)/g;

/**
 * A library's CommonJS build that a piece's library requires, compiled through a code cache as the pieces are
 * and put in require()'s cache first, so that require() finds it loaded: PGlite's (520 KB), which knex-pglite
 * requires, took ~50 ms of every embedded command to compile. The cache is named for a hash of the file's
 * text (V8 checks only its length), so a reinstalled or patched library never meets an old cache.
 * Code compiled here has no import() of its own (Node 20 gives a vm.Script one only behind a flag or with an
 * experimental warning): its imports of Node built-ins go through the loader's, and a file that imports
 * anything else is left to require().
 */
globalThis.__hmisRequireCached = (fromUrl, specifier) => {
  const require = createRequire(fromUrl);
  const file = require.resolve(specifier);
  if (require.cache[file]) return require.cache[file].exports;
  const original = readFileSync(file, 'utf8');
  const text = original.replace(BUILTIN_IMPORT, (_, q, name) => (Module.isBuiltin(name) ? `__hmisImport(${q}${name}${q})` : _));
  if (/(?<![.\w$])import\s*\(/.test(text)) return require(specifier);
  const hash = requireBuiltin('node:crypto').createHash('sha256').update(original).digest('hex').slice(0, 16);
  const name = specifier.replace(/^@/, '').replace(/[^a-z0-9]+/gi, '_');
  const script = compile(name, hash, file, text, ', __hmisImport');
  const module = new Module(file, null);
  module.filename = file;
  module.paths = Module._nodeModulePaths(dirname(file));
  require.cache[file] = module;
  try {
    script.runInThisContext().call(module.exports, module.exports, createRequire(file), module, file, dirname(file), (s) => import(s));
  } catch (err) {
    delete require.cache[file];
    throw err;
  }
  module.loaded = true;
  return module.exports;
};

/**
 * A cache file this process may trust (V8 runs what it holds), or undefined: one written by this user or root,
 * writable by no one else, so a shared cache folder (an XDG_CACHE_HOME in /tmp) cannot hand it code.
 */
function readCache(path) {
  let fd;
  try {
    // Non-blocking: a FIFO planted at the path must not hold the run (it is then not a file, and refused).
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    const st = fstatSync(fd);
    const uid = process.getuid?.();
    if (!st.isFile() || (uid !== undefined && st.uid !== uid && st.uid !== 0) || (st.mode & 0o022) !== 0) return undefined;
    return readFileSync(fd);
  } catch {
    return undefined; // none here
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** `dir` made if missing (its parent must exist). */
function makeDir(dir) {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if (err.code !== 'EEXIST') throw err;
  }
}

/** At exit, so the cache holds the functions this run compiled too, not just the top level. */
function saveCaches() {
  for (const [piece, hash, script] of unsaved) {
    let data;
    try {
      data = script.createCachedData();
    } catch {
      continue;
    }
    for (const dir of cacheDirs()) {
      const tmp = join(dir, `${cacheName(piece, hash)}.${process.pid}.tmp`);
      try {
        // One level at a time, not { recursive: true }: Node 20's recursive mkdir spins forever under /proc.
        makeDir(dirname(dir));
        makeDir(dir);
        // 'wx': created here, never through a link or file someone planted at the name.
        writeFileSync(tmp, data, { mode: 0o644, flag: 'wx' });
        chmodSync(tmp, 0o644); // whatever the umask: readCache refuses a cache others may write
        renameSync(tmp, join(dir, cacheName(piece, hash)));
      } catch {
        try {
          unlinkSync(tmp);
        } catch {
          /* never written */
        }
        continue;
      }
      // Caches of this piece's earlier builds are of no more use.
      try {
        for (const old of readdirSync(dir)) if (old.startsWith(`${piece}-`) && old.endsWith('.cache') && !old.startsWith(`${piece}-${hash}-`)) unlinkSync(join(dir, old));
      } catch {
        /* left for the next write */
      }
      break;
    }
  }
}

export const { run, main, helpRequests, databaseMessage } = load('app');
