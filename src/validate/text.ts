/**
 * Free text that is stored or sent (lock reasons, actor names, search words, agency names): refused,
 * never cut or cleaned, when it holds controls, bidi characters, nothing visible, or too much.
 */
import { UsageError } from '../errors.js';
import { INVISIBLE, invisibleOnly, unsafeCharacters } from './chars.js';
import { quote } from './quote.js';

export interface TextRules {
  /** Longest value accepted, in characters; a longer one is refused, not cut. */
  max: number;
  /**
   * Names (actors, agencies, search words) must read the way they are stored: no invisible character
   * anywhere. Prose (reasons) may carry joiners inside words (scripts need them), but not only those.
   */
  kind: 'name' | 'prose';
  /** What to write instead, for the message, e.g. 'e.g. --reason "left the agency"'. */
  example?: string;
}

/** Limits of the texts the tool stores; documented in the README's configuration section. */
export const TEXT_LIMITS = { actor: 100, reason: 500, filter: 200 } as const;

/** Why `value` is not acceptable text under `rules`, or null. `value` is the trimmed text. */
export function textProblem(value: string, rules: TextRules): string | null {
  const unsafe = unsafeCharacters(value);
  if (unsafe) return unsafe;
  if (value === '') return 'is empty';
  if (invisibleOnly(value)) return 'has no visible characters';
  if (rules.kind === 'name' && INVISIBLE.test(value)) return 'contains invisible characters (such as a zero-width space)';
  if (value.length > rules.max) return `is ${value.length} characters long; at most ${rules.max} are allowed`;
  return null;
}

/** Check free text and return it trimmed, or throw a UsageError (exit 2) naming `what`. */
export function checkText(raw: string, what: string, rules: TextRules): string {
  const value = raw.trim();
  // The raw value too: trim() removes U+FEFF, and a refused character is never cleaned away.
  const problem = unsafeCharacters(raw) ?? textProblem(value, rules);
  if (problem) throw new UsageError(`${what} ${quote(raw)} ${problem}; ${rules.example ?? 'write plain text'}`);
  return value;
}
