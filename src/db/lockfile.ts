/**
 * The embedded database's lock file: PGlite has no cross-process locking, so one process at a time
 * holds `pgdata.lock`. The file appears whole (written aside, then hard-linked into place), names
 * its holder's pid and a random nonce, and is removed only by that holder. A lock left by a dead
 * process is moved aside atomically before it is replaced, so two processes cannot both take it over.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { OperationalError } from '../errors.js';

/** Nonces this process wrote: a lock with our pid but not our nonce was left by an earlier run (pid reuse). */
const ours = new Set<string>();

interface Holder {
  pid: number;
  nonce: string;
  raw: string;
}

/** Take the lock, waiting up to `waitMs` for a live holder. Returns the release function. */
export async function acquireLock(path: string, waitMs: number): Promise<() => void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const release = tryCreate(path);
    if (release) return release;
    const holder = readHolder(path);
    if (!holder) continue; // vanished between our attempt and the read: try again at once
    if (!isAlive(holder)) {
      takeOverStale(path, holder);
      continue;
    }
    if (Date.now() >= deadline) throw new LockBusyError(path, holder.pid);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function tryCreate(path: string): (() => void) | undefined {
  const nonce = randomBytes(8).toString('hex');
  const temp = `${path}.${process.pid}.${nonce}`;
  writeFileSync(temp, `${process.pid} ${nonce}\n`, { mode: 0o600 });
  try {
    linkSync(temp, path); // atomic: fails with EEXIST when someone holds it
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return undefined;
  } finally {
    unlinkSync(temp);
  }
  ours.add(nonce);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    // Remove the file only while it is still ours: never another process's lock.
    if (readHolder(path)?.nonce === nonce) {
      try {
        unlinkSync(path);
      } catch {
        /* already gone */
      }
    }
    ours.delete(nonce);
  };
  process.on('exit', release);
  return release;
}

/** Move a dead holder's lock aside; if what moved was not that lock (someone replaced it meanwhile), put it back. */
function takeOverStale(path: string, stale: Holder): void {
  const aside = `${path}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    renameSync(path, aside);
  } catch {
    return; // someone else moved it first
  }
  let moved: string | undefined;
  try {
    moved = readFileSync(aside, 'utf8');
  } catch {
    /* unreadable: treat as the stale one */
  }
  if (moved !== undefined && moved !== stale.raw) {
    try {
      linkSync(aside, path); // a fresh lock was moved by mistake: restore it unless yet another exists
    } catch {
      /* a newer lock is in place; its holder proceeds */
    }
  }
  try {
    unlinkSync(aside);
  } catch {
    /* gone */
  }
}

/** The embedded database is held by another running process. */
export class LockBusyError extends OperationalError {
  constructor(
    readonly path: string,
    readonly pid: number,
  ) {
    super(`the embedded database is in use by process ${pid} (lock file ${path}); wait for it to finish, or use a PostgreSQL server with --db`);
  }
}

function readHolder(path: string): Holder | undefined {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const [pidText, nonce = ''] = raw.trim().split(/\s+/);
  const pid = Number(pidText);
  // A file from an older version (pid only) or garbage still counts: pid 0 is never alive.
  return { pid: Number.isInteger(pid) && pid > 0 ? pid : 0, nonce, raw };
}

function isAlive(holder: Holder): boolean {
  if (holder.pid === 0) return false;
  if (holder.pid === process.pid) return ours.has(holder.nonce);
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
