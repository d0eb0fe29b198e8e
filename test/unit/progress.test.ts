import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { progressBar } from '../../src/context.js';

/** A terminal of `columns` that records what is drawn. */
function terminal(columns: number): Writable & { columns: number; text: string } {
  const t = Object.assign(new Writable({ write: (c, _e, cb) => ((t.text += String(c)), cb()) }), { columns, text: '' });
  return t;
}

describe('progress bar', () => {
  it.each([40, 60, 80, 200])('fits a %i-column terminal at every step (a wider line wraps and \\r redraws only its last row)', (columns) => {
    const t = terminal(columns);
    const bar = progressBar(t, 200_000, 'creating the embedded database');
    for (let i = 0; i < 4; i++) bar.tick(50_000);
    bar.done();
    const drawn = t.text.split(/[\r\n]/).filter(Boolean);
    expect(drawn.length).toBeGreaterThan(1);
    for (const line of drawn) expect(line.length, line).toBeLessThanOrEqual(Math.max(columns - 1, 'creating the embedded database [-----] 100% 200000/200000'.length));
    expect(drawn.at(-1)).toMatch(/\] 100% 200000\/200000$/);
  });
});
