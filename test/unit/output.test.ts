import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { csvCell, csvLine } from '../../src/output/csv.js';
import { renderList, type ListView } from '../../src/output/render.js';
import { sanitizeForDisplay } from '../../src/output/sanitize.js';
import { renderTable } from '../../src/output/table.js';

type Row = { id: number; name: string };
const view: ListView<Row> = {
  columns: [
    { header: 'ID', width: 6, value: (r) => r.id },
    { header: 'NAME', width: 12, value: (r) => r.name },
  ],
  toJson: (r) => ({ id: r.id, name: r.name }),
  empty: 'none',
};

async function render(rows: Row[], format: 'json' | 'csv' | 'table', pageSize?: number): Promise<string> {
  const stdout = new PassThrough();
  let text = '';
  stdout.on('data', (c) => (text += c));
  await renderList(rows, view, { stdout, format, color: false, pageSize });
  return text;
}

describe('sanitizeForDisplay', () => {
  it('drops control characters and bidi overrides from database text', () => {
    expect(sanitizeForDisplay('Jane\u001b[31mRed\u0007\r\nDoe\u202eevil')).toBe('Jane[31mRedDoeevil');
  });
});

describe('csv', () => {
  it('quotes what needs quoting and defuses formulas', () => {
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('=HYPERLINK("x")')).toBe('"\'=HYPERLINK(""x"")"');
    expect(csvCell('-3')).toBe('-3');
    expect(csvCell(null)).toBe('');
    expect(csvCell({ reason: 'x', n: 1 })).toBe('"{""reason"":""x"",""n"":1}"');
    expect(csvLine([1, 'x', null])).toBe('1,x,\n');
  });
});

describe('renderList', () => {
  const rows = Array.from({ length: 7 }, (_, i) => ({ id: i + 1, name: `user ${i + 1}` }));

  it('streams exactly one JSON document, also when empty', async () => {
    expect(JSON.parse(await render(rows, 'json'))).toEqual(rows);
    expect(JSON.parse(await render([], 'json'))).toEqual([]);
  });

  it('writes a CSV header even with no rows', async () => {
    expect(await render([], 'csv')).toBe('id,name\n');
    expect((await render(rows, 'csv')).trim().split('\n')).toHaveLength(8);
  });

  it('repeats the table header per page and truncates long cells', async () => {
    const text = await render([...rows, { id: 8, name: 'a very long name indeed' }], 'table', 4);
    expect(text.match(/^ID/gm)).toHaveLength(2);
    expect(text).toContain('a very lon…');
    for (const line of text.split('\n')) expect(line).toBe(line.trimEnd());
  });

  it('never lets database text move the cursor', () => {
    const t = renderTable(view.columns, [{ id: 1, name: 'x\u001b[2Jy' }], false);
    expect(t).not.toContain('\u001b');
  });
});

describe('wrap', () => {
  it('keeps prefix + text within the width and lines up continuations', async () => {
    const { wrap } = await import('../../src/output/format.js');
    const text = wrap('  fail  locked        ', 'locked since 2026-11-26 08:46 UTC after 3 failed logins (last 2026-11-26 08:41 UTC) and more words here', 80);
    const lines = text.split('\n');
    expect(lines.length).toBeGreaterThan(1);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(80);
    expect(lines[1]).toMatch(/^ {22}\S/);
  });
});
