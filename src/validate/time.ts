/**
 * Durations ("90m", "12h", "30d", "2w") and ISO 8601 dates, bounded to what the database stores:
 * a value PostgreSQL or a JavaScript Date cannot hold is a usage error (exit 2), never a query error.
 */
import { UsageError } from '../errors.js';
import { quote } from './quote.js';

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/**
 * The longest duration accepted: 100 years (36525d, 5217w). Any "now ± duration" then stays far inside
 * PostgreSQL's timestamptz range (4713 BC to 294276 AD) and JavaScript's (±275,000 years).
 */
export const MAX_DURATION_MS = 36_525 * UNIT_MS.d;

/** "90m", "12h", "30d", "2w" → milliseconds. `what` names the flag or variable in the error. */
export function parseDuration(value: string, what: string): number {
  const m = /^(\d+)([mhdw])$/.exec(value.trim());
  if (!m) {
    throw new UsageError(`${what} ${quote(value)} is not a duration; write a number and a unit, e.g. 90m, 12h, 30d or 2w`);
  }
  const ms = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  if (ms <= 0) throw new UsageError(`${what} ${quote(value)} must be longer than zero, e.g. 30d`);
  if (ms > MAX_DURATION_MS) throw new UsageError(`${what} ${quote(value)} is longer than 100 years (36525d); give a shorter duration`);
  return ms;
}

/** Format milliseconds back the way people write durations (largest exact unit). */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [['w', UNIT_MS.w], ['d', UNIT_MS.d], ['h', UNIT_MS.h]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${Math.round(ms / UNIT_MS.m)}m`;
}

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATETIME_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(Z|([+-])(\d{2}):(\d{2}))$/;

/**
 * ISO 8601 date ("2026-12-01", taken as UTC midnight) or date-time with zone → Date. Years 0001 to
 * 9999 (what four digits hold; PostgreSQL stores all of them), offsets up to ±23:59.
 */
export function parseDate(value: string, what: string): Date {
  const v = value.trim();
  const bad = (why = 'is not a date') =>
    new UsageError(`${what} ${quote(value)} ${why}; write ISO 8601, e.g. 2026-12-01 or 2026-12-01T09:00:00Z`);
  const d = DATE_RE.exec(v);
  const dt = d ? null : DATETIME_RE.exec(v);
  const parts = d ?? dt;
  if (!parts) {
    // A date and a time without Z or an offset: the one thing missing is the zone.
    if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$/.test(v)) throw bad('needs a time zone (Z for UTC, or an offset such as +01:00)');
    throw bad();
  }
  const [y, mo, day] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (y < 1) throw bad('is before year 1');
  const probe = new Date(0);
  probe.setUTCFullYear(y, mo - 1, day); // not Date.UTC: it reads years 0–99 as 1900–1999
  if (probe.getUTCFullYear() !== y || probe.getUTCMonth() !== mo - 1 || probe.getUTCDate() !== day) throw bad('is not a day of the calendar');
  if (!dt) return probe;
  const [hh, mi, ss] = [Number(dt[4]), Number(dt[5]), Number(dt[6] ?? 0)];
  if (hh > 23 || mi > 59 || ss > 59) throw bad('is not a time of day');
  const offset = dt[8] === 'Z' ? 0 : (dt[9] === '-' ? -1 : 1) * (Number(dt[10]) * 60 + Number(dt[11]));
  if (dt[8] !== 'Z' && (Number(dt[10]) > 23 || Number(dt[11]) > 59)) throw bad('has a time zone offset beyond ±23:59');
  const ms = Number((dt[7] ?? '0').padEnd(3, '0').slice(0, 3));
  return new Date(probe.getTime() + ((hh * 60 + mi - offset) * 60 + ss) * 1000 + ms);
}
