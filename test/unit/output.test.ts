import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { csvCell, csvLine } from '../../src/output/csv.js';
import { renderList, type ListView } from '../../src/output/render.js';
import { sanitizeForDisplay } from '../../src/output/sanitize.js';
import { displayWidth, renderTable } from '../../src/output/table.js';

type Row = { id: number; name: string };
const view: ListView<Row> = {
  columns: [
    { header: 'ID', value: (r) => r.id },
    { header: 'NAME', value: (r) => r.name },
  ],
  toJson: (r) => ({ id: r.id, name: r.name }),
  empty: 'none',
};

async function render(rows: Row[], format: 'json' | 'csv' | 'table', firstPage?: number, width?: number, v: ListView<Row> = view): Promise<string> {
  const stdout = new PassThrough();
  let text = '';
  stdout.on('data', (c) => (text += c));
  await renderList(rows, v, { stdout, format, color: false, firstPage, width });
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

  it('prints one header and streams every row under it, whole, when stdout is not a terminal', async () => {
    const many = Array.from({ length: 1200 }, (_, i) => ({ id: i + 1, name: `user ${i + 1}` }));
    const long = { id: 1201, name: 'a name much longer than any on the first page' };
    const lines = (await render([...many, long], 'table', 500)).trimEnd().split('\n');
    expect(lines).toHaveLength(1202); // `| wc -l` counts rows + 1
    expect(lines.filter((l) => l.startsWith('ID'))).toHaveLength(1);
    expect(lines.filter((l) => l === '')).toHaveLength(0);
    expect(lines.at(-1)).toBe('1201  a name much longer than any on the first page');
    for (const line of lines) expect(line).toBe(line.trimEnd());
  });

  type Wide = { id: number; username: string; note: string };
  const wide: ListView<Wide> = {
    columns: [
      { header: 'ID', value: (r) => r.id },
      { header: 'USERNAME', value: (r) => r.username },
      { header: 'NOTE', value: (r) => r.note, shrink: 8 },
      { header: 'ACTION', value: () => 'reset.link_printed' },
    ],
    toJson: (r) => ({ ...r }),
    empty: 'none',
  };
  const wideRows: Wide[] = [
    { id: 1, username: 'jdoe', note: 'short' },
    { id: 22, username: 'a.very.long.username.indeed', note: 'a long note that says a great deal about nothing at all' },
  ];
  const renderWide = async (width?: number) => {
    const stdout = new PassThrough();
    let text = '';
    stdout.on('data', (c) => (text += c));
    await renderList(wideRows, wide, { stdout, format: 'table', color: false, width });
    return text.trimEnd().split('\n');
  };

  it('on a terminal, fits its width by cutting only free text; identifiers stay whole', async () => {
    const lines = await renderWide(80);
    for (const l of lines) expect(displayWidth(l), l).toBeLessThanOrEqual(80);
    expect(lines[2]).toContain('a.very.long.username.indeed');
    expect(lines[2]).toMatch(/…\s+reset\.link_printed$/);
    // Too narrow even for the identifiers: the line runs over, nothing of them is cut.
    const narrow = await renderWide(40);
    expect(narrow[2]).toContain('a.very.long.username.indeed');
    expect(narrow[2]).toContain('reset.link_printed');
  });

  it('uses the whole width of a wide terminal, and never cuts without one', async () => {
    for (const width of [200, undefined]) {
      const lines = await renderWide(width);
      expect(lines[2]).toContain('a long note that says a great deal about nothing at all');
      expect(lines.join('\n')).not.toContain('…');
    }
  });

  it('lines columns up by display width (CJK counts two)', async () => {
    const lines = (await render([{ id: 1, name: '王小明' }, { id: 2, name: 'abc' }], 'table', 500, undefined, {
      ...view,
      columns: [view.columns[1]!, view.columns[0]!],
    })).trimEnd().split('\n');
    expect(lines.map((l) => displayWidth(l.replace(/\S+$/, '')))).toEqual([8, 8, 8]);
  });

  it('renders pages exactly as the same rows one by one, wherever the pages break (the table widths too)', async () => {
    const many = Array.from({ length: 23 }, (_, i) => ({ id: i + 1, name: `user ${'x'.repeat(i % 9)}` }));
    const asPages = async (size: number, format: 'json' | 'csv' | 'table', firstPage: number) => {
      const pages: Row[][] = [];
      for (let i = 0; i < many.length; i += size) pages.push(many.slice(i, i + size));
      const stdout = new PassThrough();
      let text = '';
      stdout.on('data', (c) => (text += c));
      const n = await renderList({ pages: (async function* () { yield* pages; })() }, view, { stdout, format, color: false, firstPage });
      expect(n).toBe(many.length);
      return text;
    };
    for (const format of ['json', 'csv', 'table'] as const) {
      for (const firstPage of [1, 5, 7, 23, 500]) {
        const rows = await render(many, format, firstPage);
        for (const size of [1, 4, 5, 7, 22, 23, 100]) expect(await asPages(size, format, firstPage), `${format} ${firstPage} ${size}`).toBe(rows);
      }
    }
  });

  it('never lets database text move the cursor', () => {
    const t = renderTable(view.columns, [{ id: 1, name: 'x\u001b[2Jy' }], { color: false });
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
