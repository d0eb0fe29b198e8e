/**
 * Devise's link tokens, computed the way the Rails application computes them, so a link hmis-admin mints
 * is redeemed by the web application's own `reset_password_by_token`.
 *
 * Devise stores `hex(HMAC-SHA256(key, raw))`, where `key` comes from ActiveSupport's key generator:
 * PBKDF2-HMAC-<digest>(secret, salt "Devise <column>", 65536 iterations, 64 bytes). The digest is SHA-1
 * unless the application switched its key generator to SHA-256 before Devise started (see the README).
 */
import { createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

/** The hash ActiveSupport::KeyGenerator uses for PBKDF2 in the host application. */
export type DeviseKeyDigest = 'sha1' | 'sha256';

/** The token columns Devise digests (confirmation_token is stored raw by Devise 4.x and 5.x). */
export type DeviseTokenColumn = 'reset_password_token' | 'unlock_token';

export interface DeviseSecret {
  /** `Devise.secret_key`, normally the application's `secret_key_base`. */
  secret: string;
  keyDigest: DeviseKeyDigest;
}

/** ActiveSupport::KeyGenerator's defaults, which Devise does not change. */
const ITERATIONS = 2 ** 16;
const KEY_BYTES = 64;

// 65536 PBKDF2 rounds take tens of milliseconds; Devise caches the key per column (CachingKeyGenerator), so do we.
const keys = new Map<string, Buffer>();

/** The HMAC key Devise derives for one token column. */
export function deviseKey(secret: DeviseSecret, column: DeviseTokenColumn): Buffer {
  const cacheKey = `${secret.keyDigest}\u0000${column}\u0000${secret.secret}`;
  let key = keys.get(cacheKey);
  if (!key) {
    key = pbkdf2Sync(Buffer.from(secret.secret, 'utf8'), `Devise ${column}`, ITERATIONS, KEY_BYTES, secret.keyDigest);
    keys.set(cacheKey, key);
  }
  return key;
}

/** What Devise stores in `column` for the raw token in a link: `Devise.token_generator.digest(User, column, raw)`. */
export function deviseDigest(secret: DeviseSecret, column: DeviseTokenColumn, raw: string): string {
  return createHmac('sha256', deviseKey(secret, column)).update(raw, 'utf8').digest('hex');
}

/**
 * A raw token as `Devise.friendly_token` makes one: base64url of length×3/4 random bytes with l, I, O and 0
 * replaced by s, x, y and z (so a person reading it aloud cannot confuse them). 20 characters carry ~117 bits.
 */
export function friendlyToken(length = 20): string {
  if (!Number.isInteger(length) || length < 20 || length % 4 !== 0) {
    throw new RangeError(`a Devise token is a multiple of 4 characters, at least 20; ${length} is not`);
  }
  const swap: Record<string, string> = { l: 's', I: 'x', O: 'y', '0': 'z' };
  // Never a leading '-' (1 draw in 64), so the token alone on a command line does not read as an option.
  let raw: string;
  do raw = randomBytes((length * 3) / 4).toString('base64url');
  while (raw.startsWith('-'));
  return raw.replace(/[lIO0]/g, (c) => swap[c]!);
}

/** A fresh reset token: the raw value for the link and the digest for `reset_password_token`. */
export function newDeviseResetToken(secret: DeviseSecret): { raw: string; digest: string } {
  const raw = friendlyToken();
  return { raw, digest: deviseDigest(secret, 'reset_password_token', raw) };
}
