/** Calendar arithmetic in UTC days: the same answer on every host, whatever its time zone or DST. */

export const DAY_MS = 86_400_000;

/** Midnight UTC of the calendar day `d` falls on (UTC). */
export function utcMidnight(d: Date): number {
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
}

/**
 * Whole UTC calendar days from `now` until `expiry`: 0 on the day itself, negative once past.
 * Both ends are cut to UTC midnight first, so an hour lost or gained to DST never shifts a day.
 */
export function daysLeft(expiry: Date, now: Date): number {
  return Math.floor((utcMidnight(expiry) - utcMidnight(now)) / DAY_MS);
}

/** The start of the UTC day `days` calendar days after `now`'s day (days may be negative). */
export function utcDayStart(now: Date, days = 0): Date {
  return new Date(utcMidnight(now) + days * DAY_MS);
}

/** The calendar date (YYYY-MM-DD, UTC) of an instant (a Date or an account's ISO string), for messages. */
export function ymd(d: Date | string | null | undefined): string {
  if (!d) return '(none)';
  return (typeof d === 'string' ? d : d.toISOString()).slice(0, 10);
}
