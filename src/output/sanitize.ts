/** Database text is outside data: strip control characters before it reaches a terminal or a CSV cell. */
// C0 and C1 controls, DEL, and the bidi overrides that can make a line read differently from what it holds.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

export function sanitizeForDisplay(value: string): string {
  return value.replace(CONTROL, '');
}

/** The same, line by line: for messages that may span lines on purpose. */
export function sanitizeLines(value: string): string {
  return value.split('\n').map(sanitizeForDisplay).join('\n');
}
