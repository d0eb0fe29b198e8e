/**
 * pg's `timestamptz` text, read fast: pg-types' parser (postgres-date: three regular expressions, a split and
 * parseInts a value) cost microseconds a value, which a few thousand rows of times add up. This reads the one
 * layout PostgreSQL writes under DateStyle ISO, `2026-09-02 23:32:21.05814+00` (any zone offset), by
 * character position, and gives exactly the Date postgres-date gives: its milliseconds are
 * `1000 * parseFloat(fraction)` truncated by Date.UTC, which for every fraction of 1–6 digits is the first
 * three digits (checked for all of them in the tests). Anything else (infinity, BC, years before 100 or
 * after 9999, another DateStyle) goes to postgres-date itself.
 *
 * Account reads take their times as UTC text and move its characters (store/sql/mapping.ts isoFromUtcText);
 * isoFromText reads the rare ones that needs a parser for (infinity, BC, year 10000 on).
 */
import pg from 'pg';

const TIMESTAMPTZ = 1184;

/** digit at `i` of `s` (0–9), or -1 when it is no digit. */
function digit(s: string, i: number): number {
  const c = s.charCodeAt(i) - 48;
  return c >= 0 && c <= 9 ? c : -1;
}

/** Two digits at `i`, or -1. */
function two(s: string, i: number): number {
  const a = digit(s, i);
  const b = digit(s, i + 1);
  return a < 0 || b < 0 ? -1 : a * 10 + b;
}

/** Where the fraction ends (19 when there is none) and the zone offset in seconds east of UTC; undefined when `s` is not in the plain layout. */
function layout(s: string): { end: number; offset: number } | undefined {
  const n = s.length;
  // YYYY-MM-DD HH:MM:SS then the zone: at least 22 characters.
  if (n < 22 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 32 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return undefined;
  if (two(s, 0) < 1 || two(s, 2) < 0 || two(s, 5) < 0 || two(s, 8) < 0 || two(s, 11) < 0 || two(s, 14) < 0 || two(s, 17) < 0) return undefined;
  let i = 19;
  if (s.charCodeAt(i) === 46) {
    i++;
    while (i < n && digit(s, i) >= 0) i++;
    // PostgreSQL writes at most microseconds; a longer fraction could round up a millisecond in postgres-date.
    if (i === 20 || i > 26) return undefined;
  }
  const end = i;
  // The zone: +HH, +HH:MM or +HH:MM:SS (or -), and nothing after it.
  const sign = s.charCodeAt(i);
  if (sign !== 43 && sign !== 45) return undefined;
  const zh = two(s, i + 1);
  if (zh < 0) return undefined;
  let offset = zh * 3600;
  i += 3;
  if (i < n) {
    const zm = s.charCodeAt(i) === 58 ? two(s, i + 1) : -1;
    if (zm < 0) return undefined;
    offset += zm * 60;
    i += 3;
    if (i < n) {
      const zs = s.charCodeAt(i) === 58 ? two(s, i + 1) : -1;
      if (zs < 0 || i + 3 !== n) return undefined;
      offset += zs;
    }
  }
  return { end, offset: sign === 45 ? -offset : offset };
}

/** The milliseconds of a fraction `.d…` (up to `end`): its first three digits, zero-padded. */
function millis(s: string, end: number): number {
  return end === 19 ? 0 : Number(`${s.slice(20, Math.min(end, 23))}00`.slice(0, 3));
}

/** The time in ms since the epoch that postgres-date gives `s`, or undefined when `s` is not in the plain layout. */
export function timestamptzMs(s: string): number | undefined {
  const l = layout(s);
  if (!l) return undefined;
  const t = Date.UTC(two(s, 0) * 100 + two(s, 2), two(s, 5) - 1, two(s, 8), two(s, 11), two(s, 14), two(s, 17), millis(s, l.end));
  return t - l.offset * 1000;
}

const slow = pg.types.getTypeParser(TIMESTAMPTZ, 'text') as (s: string) => unknown;

/** A timestamptz as a Date, as postgres-date makes it (infinity: ±Infinity). */
function asDate(s: string): unknown {
  const ms = timestamptzMs(s);
  return ms === undefined ? slow(s) : new Date(ms);
}

/**
 * PostgreSQL's text of a timestamptz as the ISO string toISOString writes, as postgres-date reads it; its own
 * text for what no Date holds (`infinity`, past year 275760), which `iso()` shows as null, as it showed
 * postgres-date's ±Infinity or Invalid Date.
 */
export function isoFromText(s: string): string {
  const d = asDate(s);
  return d instanceof Date && !Number.isNaN(d.getTime()) ? d.toISOString() : s;
}

/** The connection's type parsers (as knex's pg connection settings take them): pg's, with the fast timestamptz (a Date). */
export const fastTimeTypes: { getTypeParser(oid: number, format: string): unknown } = {
  getTypeParser: (oid, format) => (oid === TIMESTAMPTZ && format !== 'binary' ? asDate : pg.types.getTypeParser(oid, format as 'text' | 'binary')),
};

