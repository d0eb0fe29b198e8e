/**
 * Paths in the configuration: the data folder (HMIS_DATA_DIR) and the DKIM key file. Checked at
 * start, so a file where a folder belongs, or a key that cannot sign, stops the run before any write.
 */
import { createPrivateKey } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { UsageError } from '../errors.js';
import { BIDI, CONTROL, INVISIBLE, SEPARATOR } from './chars.js';
import { quote } from './quote.js';

/** Why a path as typed is unusable (controls or invisible characters), or null. */
function pathProblem(path: string): string | null {
  if (path.length > 4096) return `is ${path.length} characters long; at most 4096 are allowed`;
  if (CONTROL.test(path) || SEPARATOR.test(path)) return 'contains control characters';
  if (BIDI.test(path) || INVISIBLE.test(path)) return 'contains invisible or direction-changing characters';
  return null;
}

function stat(path: string): ReturnType<typeof statSync> | null {
  try {
    return statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    // ENOTDIR: a file stands where a folder of the path should be.
    throw Object.assign(new Error(code === 'ENOTDIR' ? 'has a file where a folder should be' : `cannot be examined (${code})`), { code });
  }
}

/** What stands at a file path that must exist: the path's characters checked, then stat'ed; each problem through `fail`. */
function existingFile(path: string, fail: (problem: string) => UsageError): NonNullable<ReturnType<typeof stat>> {
  const problem = pathProblem(path);
  if (problem) throw fail(problem);
  let s: ReturnType<typeof stat>;
  try {
    s = stat(path);
  } catch (err) {
    throw fail((err as Error).message);
  }
  if (!s) throw fail('does not exist');
  return s;
}

/**
 * The data folder: it need not exist yet (it is made on first use), but whatever already stands at
 * the path, or at the nearest existing part of it, must be a folder.
 */
export function checkDataDir(path: string, what: string): string {
  const fail = (problem: string) => new UsageError(`${what} ${quote(path)} ${problem}; point it at a folder, e.g. ~/.local/share/hmis-admin`);
  const problem = pathProblem(path);
  if (problem) throw fail(problem);
  try {
    for (let p = path; ; p = dirname(p)) {
      const s = stat(p);
      if (s) {
        if (!s.isDirectory()) throw fail(p === path ? 'is a file, not a folder' : `is inside ${quote(p)}, which is a file, not a folder`);
        break;
      }
      if (dirname(p) === p) break;
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw fail((err as Error).message);
  }
  return path;
}

/** The DKIM key: a readable regular file holding an unencrypted PEM RSA private key (nodemailer signs rsa-sha256 only). */
export function readDkimKey(path: string, what: string): string {
  const fail = (problem: string) => new UsageError(`${what} ${quote(path)} ${problem}; point it at the PEM private key of the DKIM selector`);
  const s = existingFile(path, fail);
  if (!s.isFile()) throw fail(s.isDirectory() ? 'is a folder, not a key file' : 'is not a regular file');
  if (s.size > 64 * 1024) throw fail('is larger than 64 KiB, too large for a private key');
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    throw fail(`cannot be read (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  if (!/-----BEGIN (RSA )?PRIVATE KEY-----/.test(pem)) throw fail('is not a PEM private key (no BEGIN PRIVATE KEY line; an encrypted key is not accepted)');
  let type: string | undefined;
  try {
    type = createPrivateKey(pem).asymmetricKeyType;
  } catch (err) {
    throw fail(`is not a usable private key (${String((err as Error).message).split('\n')[0]})`);
  }
  if (type !== 'rsa') throw fail(`holds ${type ?? 'an unknown'} key; DKIM is signed with RSA (rsa-sha256) only`);
  return pem;
}

/** HMIS_DEVISE_SECRET_FILE: a regular file only its owner can read, holding the secret (never shown). */
export function readSecretFile(path: string, what: string): string {
  const fail = (problem: string) => new UsageError(`${what} ${quote(path)} ${problem}; put secret_key_base in a file only you can read (chmod 600)`);
  const s = existingFile(path, fail);
  if (!s.isFile()) throw fail('is not a regular file');
  // A secret others can read is no longer a secret: refuse rather than use it.
  if ((Number(s.mode) & 0o077) !== 0) throw fail(`can be read by others (mode ${(Number(s.mode) & 0o777).toString(8)})`);
  if (s.size > 64 * 1024) throw fail('is larger than 64 KiB');
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw fail(`cannot be read (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
}
