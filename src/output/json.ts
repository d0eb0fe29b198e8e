/**
 * JSON for a terminal or a pipe: JSON.stringify escapes C0 controls but writes DEL, C1 controls, line
 * separators and bidi controls as they are, so a name holding U+202E would reorder what the person reads
 * (tables and CSV strip them). Here they are written as \uXXXX escapes: still the same value to any JSON
 * reader, never the character itself. Outside strings JSON is ASCII, so the whole text can be escaped.
 */
import { BIDI, SEPARATOR } from '../validate/chars.js';

// JSON.stringify already escapes C0 controls inside strings (and the layout's own newlines must stay).
const SOURCE = `[\\u007f-\\u009f]|${SEPARATOR.source}|${BIDI.source}`;
const UNPRINTABLE = new RegExp(SOURCE);
const UNPRINTABLE_G = new RegExp(SOURCE, 'g');
const escape = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * `text` (JSON) with every unprintable character escaped; the same string when there is none (the usual case).
 * Every such character but DEL is outside ASCII, and a text whose UTF-8 is as long as it is ASCII: that
 * native count and a search for DEL decide the usual case 4× faster than the expression does.
 */
export function escapeJsonText(text: string): string {
  if (Buffer.byteLength(text, 'utf8') === text.length && !text.includes('\x7f')) return text;
  return UNPRINTABLE.test(text) ? text.replace(UNPRINTABLE_G, escape) : text;
}

/** JSON.stringify whose output never carries a character that controls or reorders a terminal. */
export function toJson(value: unknown, indent?: number): string {
  return escapeJsonText(JSON.stringify(value, null, indent));
}
