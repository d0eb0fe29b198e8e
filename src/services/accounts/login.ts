/**
 * The lockout counter for the HMIS web application. Counting happens in one SQL statement under a
 * row lock, never read-then-write, so parallel failed logins neither lose counts nor lock twice.
 */
import type { Knex } from 'knex';
import { writeAudit } from './audit.js';
import { requireNativeHost } from './host-guard.js';

export interface LoginOptions {
  /** Failed logins that lock the account (HMIS_LOCKOUT_THRESHOLD; default 3). */
  threshold?: number;
  /** The time of the attempt (tests inject it). */
  now?: Date;
}

/** The same shape whether or not the username exists, so a caller cannot leak which accounts do. */
export interface LoginResult {
  /** The account is locked now: refuse the sign-in and point at the reset / administrator route. */
  locked: boolean;
  /** This attempt was the one that locked it. */
  lockedNow: boolean;
}

function thresholdOf(options: LoginOptions): number {
  const t = options.threshold ?? Number(process.env.HMIS_LOCKOUT_THRESHOLD ?? 3);
  if (!Number.isInteger(t) || t < 1 || t > 100) throw new RangeError(`lockout threshold ${t} must be a whole number from 1 to 100`);
  return t;
}

/** Count one failed login for `username` (any case); lock with 'failed_logins' at the threshold. */
export async function recordLoginFailure(db: Knex, username: string, options: LoginOptions = {}): Promise<LoginResult> {
  await requireNativeHost(db, 'recordLoginFailure', 'lockable counts failed_attempts and sets locked_at');
  const threshold = thresholdOf(options);
  const now = options.now ?? new Date();
  return db.transaction(async (trx) => {
    // An unknown username runs this same statement and matches nothing: same work, same answer shape.
    const rows = (await trx.raw(
      `with old as (select id, locked_at from users where lower(username) = lower(?) for update)
       update users u set
         failed_login_attempts = u.failed_login_attempts + 1,
         last_failed_login_at = ?,
         locked_at = case when u.locked_at is null and u.failed_login_attempts + 1 >= ? then ? else u.locked_at end,
         lock_reason = case when u.locked_at is null and u.failed_login_attempts + 1 >= ? then 'failed_logins' else u.lock_reason end,
         updated_at = ?
       from old
       where u.id = old.id
       returning u.id, u.failed_login_attempts, (u.locked_at is not null) as locked,
                 (old.locked_at is null and u.locked_at is not null) as locked_now`,
      [username, now, threshold, now, threshold, now],
    )).rows as Array<{ id: number; failed_login_attempts: number; locked: boolean; locked_now: boolean }>;
    const row = rows[0];
    if (!row) return { locked: false, lockedNow: false };
    if (row.locked_now) {
      await writeAudit(trx, {
        actor: 'hmis-login',
        action: 'lock',
        userId: Number(row.id),
        details: { reason: 'failed_logins', failedLoginAttempts: Number(row.failed_login_attempts), threshold },
      });
    }
    return { locked: Boolean(row.locked), lockedNow: Boolean(row.locked_now) };
  });
}

/** A successful sign-in: reset the counter and stamp last_login_at, unless the account is locked. */
export async function recordLoginSuccess(db: Knex, username: string, options: LoginOptions = {}): Promise<LoginResult> {
  await requireNativeHost(db, 'recordLoginSuccess', 'lockable resets failed_attempts on a successful sign-in');
  const now = options.now ?? new Date();
  // One statement either way; a locked account is left untouched and reported locked.
  const rows = (await db.raw(
    `update users set
       failed_login_attempts = case when locked_at is null then 0 else failed_login_attempts end,
       last_login_at = case when locked_at is null then ? else last_login_at end,
       updated_at = case when locked_at is null then ? else updated_at end
     where lower(username) = lower(?)
     returning (locked_at is not null) as locked`,
    [now, now, username],
  )).rows as Array<{ locked: boolean }>;
  return { locked: Boolean(rows[0]?.locked), lockedNow: false };
}
