// dist/src/bundle/main.js (scripts/bundle.mjs builds it from this file): loads the command's pieces, each one
// CommonJS file compiled through V8 with a code cache (issue 11). Node 20 keeps no code cache for ES modules
// or require(), and compiling knex and pg alone took ~40 of a 160 ms start. A piece's cache is written when
// a run first loads it (or V8 refused the one there): beside the bundle, or where that is read-only in
// ${XDG_CACHE_HOME:-~/.cache}/hmis-admin. Its name carries the hash of the piece's text and the Node version
// and architecture, so a rebuilt bundle or another Node never meets an old cache; a refused or unreadable one
// is only slower, never an error. Nothing here prints.
import { mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Script } from 'node:vm';

/** piece name → the first 16 hex digits of the sha-256 of its text (scripts/bundle.mjs defines it). */
const PIECES = __HMIS_PIECES__;
const here = dirname(fileURLToPath(import.meta.url));
const loaded = new Map();
/** Pieces whose code cache this run writes as it exits. */
const unsaved = [];

const cacheDirs = () => [here, join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'hmis-admin')];
const cacheName = (piece) => `${piece}-${PIECES[piece]}-${process.version}-${process.arch}.cache`;

/** A piece's exports: its code runs once, as a CommonJS module whose `require` resolves from the bundle's folder. */
function load(piece) {
  if (loaded.has(piece)) return loaded.get(piece);
  const file = join(here, `${piece}.js`);
  let cachedData;
  for (const dir of cacheDirs()) {
    try {
      cachedData = readFileSync(join(dir, cacheName(piece)));
      break;
    } catch {
      /* none here */
    }
  }
  const script = new Script(`(function (exports, require, module, __filename, __dirname, __hmisUrl, __hmisPiece, __hmisImport) {${readFileSync(file, 'utf8')}\n})`, {
    filename: file,
    cachedData,
  });
  if (!cachedData || script.cachedDataRejected) {
    if (!unsaved.length) process.once('exit', saveCaches);
    unsaved.push([piece, script]);
  }
  const module = { exports: {} };
  loaded.set(piece, module.exports);
  // ES modules outside the bundle (PGlite, knex-pglite) are imported from here, as the bundle's own chunks would.
  script.runInThisContext().call(module.exports, module.exports, createRequire(file), module, file, here, pathToFileURL(file).href, load, (s) => import(s));
  loaded.set(piece, module.exports);
  return module.exports;
}

/** At exit, so the cache holds the functions this run compiled too, not just the top level. */
function saveCaches() {
  for (const [piece, script] of unsaved) {
    let data;
    try {
      data = script.createCachedData();
    } catch {
      continue;
    }
    for (const dir of cacheDirs()) {
      const tmp = join(dir, `${cacheName(piece)}.${process.pid}.tmp`);
      try {
        mkdirSync(dir, { recursive: true });
        writeFileSync(tmp, data);
        renameSync(tmp, join(dir, cacheName(piece)));
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
        for (const old of readdirSync(dir)) if (old.startsWith(`${piece}-`) && old.endsWith('.cache') && !old.startsWith(`${piece}-${PIECES[piece]}-`)) unlinkSync(join(dir, old));
      } catch {
        /* left for the next write */
      }
      break;
    }
  }
}

export const { run, main, helpRequests, databaseMessage } = load('app');
