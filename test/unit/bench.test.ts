import { describe, expect, it } from 'vitest';
import { mergeSection, table } from '../../bench/report.js';
import { median } from '../../bench/run.js';
import { capturedQuery } from '../../bench/sql.js';

describe('npm run bench helpers', () => {
  it('reads the SQL the tool sent from knex debug lines, bindings put back as literals', () => {
    const stderr = [
      '2026-11-28T21:15:22.408Z knex:query select 1 undefined',
      '2026-11-28T21:15:22.412Z knex:bindings [] undefined',
      `2026-11-28T21:15:22.422Z knex:query select u.id from users u where u.username = $2 and u.email <> $3 order by u.id limit $1 undefined`,
      `2026-11-28T21:15:22.422Z knex:bindings [ 1000, 'o\\'brien', 'a, b' ] undefined`,
    ].join('\n');
    expect(capturedQuery(stderr, /from users/)).toBe("select u.id from users u where u.username = 'o''brien' and u.email <> 'a, b' order by u.id limit 1000");
    expect(capturedQuery(stderr, /from agencies/)).toBeUndefined();
  });

  it('replaces the section of its own label in BENCHMARKS.md and keeps the others', () => {
    const first = mergeSection(undefined, "before issue 11's changes", "## before issue 11's changes\n\nold figures\n");
    expect(first).toMatch(/^# Benchmarks\n/);
    const second = mergeSection(first, 'latest run', '## latest run\n\nnew figures\n\n### EXPLAIN ANALYZE: x\n\nplan\n');
    const third = mergeSection(second, 'latest run', '## latest run\n\nnewer figures\n');
    expect(third).toContain("## before issue 11's changes\n\nold figures\n");
    expect(third).toContain('## latest run\n\nnewer figures\n');
    expect(third).not.toContain('new figures');
    expect(third).not.toContain('EXPLAIN');
    expect(third.match(/^## /gm)).toHaveLength(2);
  });

  it('takes the median of an odd or even number of runs', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('prints the table with pass and FAIL', () => {
    const t = table([
      { what: '`--help`', now: '1.42×', floor: '`node -e 0`', target: '≤ 1.3×', pass: false },
      { what: '`locked`', now: '1.02×', floor: '`locked --json`', target: '≤ 1.5×', pass: true },
    ]);
    expect(t.split('\n')).toHaveLength(4);
    expect(t).toMatch(/\| `--help` +\| 1\.42× +\| `node -e 0` +\| ≤ 1\.3× +\| FAIL \|/);
    expect(t).toMatch(/\| pass \|$/);
  });
});
