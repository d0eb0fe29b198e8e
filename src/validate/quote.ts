/** Showing an untrusted value inside a one-line message. */
import { BIDI, CONTROL, INVISIBLE, SEPARATOR } from './chars.js';

const ESCAPE = new RegExp(`${CONTROL.source}|${SEPARATOR.source}|${BIDI.source}|${INVISIBLE.source}`, 'g');

/** Quoted, bounded to 80 characters, every control, bidi or invisible character written as \uXXXX. */
export function quote(value: string): string {
  const short = value.length > 80 ? `${value.slice(0, 77)}...` : value;
  // JSON.stringify escapes C0 controls, quotes and lone surrogates; the rest (which can make a message
  // read differently from what it holds) is escaped by hand, so the person sees what was typed.
  return JSON.stringify(short).replace(ESCAPE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
