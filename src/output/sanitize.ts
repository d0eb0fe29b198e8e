/** Database text is outside data: strip control characters before it reaches a terminal or a CSV cell. */
import { UNPRINTABLE_G } from '../validate/chars.js';

/** C0 and C1 controls, DEL, line separators and every bidi control are removed (validate/chars.ts). */
export function sanitizeForDisplay(value: string): string {
  return value.replace(UNPRINTABLE_G, '');
}

/** The same, line by line: for messages that may span lines on purpose. */
export function sanitizeLines(value: string): string {
  return value.split('\n').map(sanitizeForDisplay).join('\n');
}
