/** Small display helpers shared by the renderers. */
import { sanitizeForDisplay } from './sanitize.js';

const ISO_INSTANT = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** ISO 8601 UTC, or null: the one way times leave the tool in JSON and CSV. */
export function iso(value: Date | string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  // An account's times arrive already in this form (store/types.ts Instant): a listing makes no Date for them.
  if (typeof value === 'string' && ISO_INSTANT.test(value)) return value;
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** A short UTC date-time for tables: 2026-11-20 10:00 (a year past 9999 or before 0: +012345-06-07 08:09). */
export function shortTime(value: Date | string | null | undefined): string {
  const s = iso(value);
  if (!s) return '';
  const t = s.indexOf('T');
  return `${s.slice(0, t)} ${s.slice(t + 1, t + 6)}`;
}

/** A time for people, in messages and documents: `2026-11-28 16:24 UTC` (JSON and CSV keep ISO 8601). */
export function when(value: Date | string | null | undefined): string {
  const s = shortTime(value);
  return s ? `${s} UTC` : 'an unknown time';
}

/** "1 day", "2 days": a number and its noun, agreeing. */
export function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}

/** A UTC calendar date for tables: 2026-11-20. */
export function shortDate(value: Date | string | null | undefined): string {
  const s = iso(value);
  return s ? s.slice(0, s.indexOf('T')) : '';
}

/** Any value as safe single-line display text. */
export function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return shortTime(value);
  if (Array.isArray(value)) return value.map(cell).join(', ');
  return sanitizeForDisplay(String(value));
}

/**
 * Word-wrap `text` so that `prefix + text` fits `width` columns; continuation lines are indented to
 * line up under the text. (Long words such as URLs are left whole: they must stay copyable.)
 */
export function wrap(prefix: string, text: string, width = 80, indent = prefix.length): string {
  const room = Math.max(20, width - indent);
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > room) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines.map((l, i) => (i === 0 ? `${prefix}${l}` : `${' '.repeat(indent)}${l}`)).join('\n');
}

/** A value as one shell word for a suggested command: bare when plain, else single-quoted (display-safe). */
export function shellArg(value: string): string {
  const clean = sanitizeForDisplay(value);
  return /^[A-Za-z0-9._@+=:,/-]+$/.test(clean) ? clean : `'${clean.replace(/'/g, `'\\''`)}'`;
}

/**
 * How a suggested command names an account: its username as one shell word, or '#<id>' when the name
 * starts with "-" (the command line would read it as an option, quoted or not).
 */
export function userArg(user: { id: number | string; username: string }): string {
  return user.username.startsWith('-') ? `'#${Number(user.id)}'` : shellArg(user.username);
}
