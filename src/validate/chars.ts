/**
 * The character classes every validator and every terminal writer shares: what may never be stored,
 * sent or printed because it controls a terminal, reorders text, or cannot be seen.
 */

/** C0 and C1 controls and DEL: CR, LF, NUL, TAB, ESC, CSI (U+009B), NEL (U+0085)… */
export const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** Line and paragraph separators: they break a line in editors and some terminals. */
export const SEPARATOR = /[\u2028\u2029]/;
/** Bidi controls: they make text read in another order than it holds (U+202A–202E, U+2066–2069, LRM, RLM, ALM). */
export const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
/** Zero-width and other invisible characters (soft hyphen, joiners, variation selectors, BOM, Hangul fillers). */
export const INVISIBLE = /[\u00ad\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200d\u2060-\u2064\u206a-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb]/;
/**
 * Characters refused in every value, also at either end (JavaScript's trim() removes U+FEFF, which would
 * clean rather than refuse it): the byte-order mark / zero-width no-break space U+FEFF, tag characters
 * U+E0000–E007F (invisible text that some software still reads) and the braille blank U+2800.
 */
export const HIDDEN = /\ufeff|\u2800|\udb40[\udc00-\udc7f]/;
/** Every kind of space, ASCII and Unicode. */
export const WHITESPACE = /[\s\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]/;
/** Half of a UTF-16 surrogate pair on its own: not text (invalid UTF-8 on the command line or in the environment). */
export const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Everything a terminal must not receive from outside data (global, for replace). */
export const UNPRINTABLE_G = new RegExp(`${CONTROL.source}|${SEPARATOR.source}|${BIDI.source}`, 'g');

/** Why `value` cannot be stored or sent as text, or null when no character is unsafe. */
export function unsafeCharacters(value: string): string | null {
  if (CONTROL.test(value) || SEPARATOR.test(value)) return 'contains control characters (such as ESC, CR, LF, NUL or tab)';
  if (BIDI.test(value)) return 'contains direction-changing (bidi) characters';
  if (LONE_SURROGATE.test(value)) return 'is not valid text (broken UTF-8)';
  if (value.includes('\ufffd')) return 'contains U+FFFD, the mark of text that was not valid UTF-8';
  if (HIDDEN.test(value)) return 'contains hidden characters (a byte-order mark U+FEFF, tag characters U+E0000–E007F or the braille blank U+2800)';
  return null;
}

/** True when `value` has nothing visible: only spaces and invisible characters. */
export function invisibleOnly(value: string): boolean {
  return value.replace(new RegExp(`${WHITESPACE.source}|${INVISIBLE.source}|${HIDDEN.source}`, 'g'), '') === '';
}
