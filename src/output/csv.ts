/** RFC 4180 CSV; cells that a spreadsheet would run as a formula are defused with a leading quote. */
import { sanitizeForDisplay } from './sanitize.js';

export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let s = Array.isArray(value)
    ? value.map((v) => (v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v))).join(';')
    : value instanceof Date
      ? value.toISOString()
      : typeof value === 'object'
        ? JSON.stringify(value) // audit details and other records: their JSON, not "[object Object]"
        : String(value);
  s = sanitizeForDisplay(s);
  if (/^[=+\-@\t\r]/.test(s) && !/^-?\d+(\.\d+)?$/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvLine(values: unknown[]): string {
  return `${values.map(csvCell).join(',')}\n`;
}
