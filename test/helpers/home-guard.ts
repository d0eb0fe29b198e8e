/**
 * The guard that proves the suite left the operator's files alone: global setup snapshots the real
 * hmis-admin data folder (and HMIS_DATA_DIR, if the runner has one) and teardown fails the run if
 * anything in it appeared, vanished or changed.
 */
import { lstatSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** path (relative to the folder) → what it is, its size and when it last changed. */
export type Snapshot = Map<string, string>;

/** The folders a test must never touch: ${XDG_DATA_HOME:-$HOME/.local/share}/hmis-admin, and HMIS_DATA_DIR when set. */
export function guardedDirs(env: Record<string, string | undefined> = process.env): string[] {
  const dataHome = env.XDG_DATA_HOME || join(env.HOME || homedir(), '.local', 'share');
  const dirs = [join(dataHome, 'hmis-admin')];
  if (env.HMIS_DATA_DIR) dirs.push(resolve(env.HMIS_DATA_DIR));
  return [...new Set(dirs)];
}

/** Everything under `dir`, recursively; an absent folder is an empty snapshot. */
export function snapshot(dir: string): Snapshot {
  const out: Snapshot = new Map();
  const walk = (rel: string) => {
    let names: string[];
    try {
      names = readdirSync(join(dir, rel));
    } catch {
      return; // absent (or unreadable): nothing to compare
    }
    for (const name of names) {
      const path = rel ? join(rel, name) : name;
      let st;
      try {
        st = lstatSync(join(dir, path));
      } catch {
        continue;
      }
      out.set(path, st.isDirectory() ? 'dir' : `${st.isSymbolicLink() ? 'link' : 'file'} ${st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) walk(path);
    }
  };
  out.set('.', (() => {
    try {
      return lstatSync(dir).isDirectory() ? 'dir' : 'not a folder';
    } catch {
      return 'absent';
    }
  })());
  walk('');
  return out;
}

/** What differs between two snapshots, one line each ("added mail/x.eml"). */
export function changes(before: Snapshot, after: Snapshot): string[] {
  const lines: string[] = [];
  for (const [path, was] of before) {
    const now = after.get(path);
    if (now === undefined) lines.push(`removed ${path}`);
    else if (now !== was) lines.push(path === '.' ? `${was === 'absent' ? 'created' : 'changed'} the folder itself` : `changed ${path}`);
  }
  for (const path of after.keys()) if (!before.has(path)) lines.push(`added ${path}`);
  return lines;
}

/** Snapshot now; the returned check throws, loudly, if any guarded folder changed since. */
export function guardOperatorFiles(env: Record<string, string | undefined> = process.env): () => void {
  const before = guardedDirs(env).map((dir) => [dir, snapshot(dir)] as const);
  return () => {
    const found = before.flatMap(([dir, snap]) => changes(snap, snapshot(dir)).map((c) => `${dir}: ${c}`));
    if (!found.length) return;
    const shown = found.slice(0, 20).join('\n  ');
    const message =
      `THE TEST RUN TOUCHED THE OPERATOR'S FILES (${found.length} change(s)); a test ran hmis-admin without a temporary HOME / HMIS_DATA_DIR:\n  ${shown}` +
      `${found.length > 20 ? '\n  …' : ''}\n(If you ran hmis-admin yourself during the run, that would show here too.)`;
    process.stderr.write(`\n${'!'.repeat(78)}\n${message}\n${'!'.repeat(78)}\n\n`);
    // Vitest reports an error thrown at teardown but still exits 0: set the exit code as well.
    process.exitCode = 1;
    throw new Error(message);
  };
}
