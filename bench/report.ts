/**
 * The bench's table (issue 11's rows, each with its floor, target and pass/fail) and BENCHMARKS.md:
 * one section per labelled run ("before issue 11's changes", "latest run", …); a run replaces the
 * section of its own label and keeps every other one, so before and after stand side by side.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { root } from './run.js';

export interface Row {
  what: string;
  /** The figure: "1.42× (120 vs 85 ms)" or "12.3 s". */
  now: string;
  floor: string;
  target: string;
  pass: boolean;
}

export interface Machine {
  date: string;
  cores: string;
  ram: string;
  /** Load averages (1, 5, 15 min) at the start and the end of the run. */
  load: string;
  node: string;
  postgres: string;
  psql: string;
  commit: string;
}

export const ms = (x: number): string => (x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`);
export const ratio = (x: number): string => `${x.toFixed(2)}×`;
export const n = (x: number): string => x.toLocaleString('en-US');

/** What is known about the machine and versions, for the record. */
/** The machine and this run: `startedAt` is when the run began (the section's time; the run takes minutes). */
export function machine(postgres: string, loadAtStart: number[], startedAt: number = Date.now()): Machine {
  const cpu = cpus();
  const sh = (file: string, args: string[]) => {
    try {
      return execFileSync(file, args, { cwd: root, encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  };
  const dirty = sh('git', ['status', '--porcelain', '--', 'src', 'bin', 'package.json']) ? ' (with uncommitted changes in src)' : '';
  return {
    date: new Date(startedAt).toISOString().replace(/\.\d+Z$/, 'Z'),
    cores: `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}`,
    ram: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    load: `${loadAtStart.map((l) => l.toFixed(1)).join(', ')} at the start, ${loadavg().map((l) => l.toFixed(1)).join(', ')} at the end`,
    node: process.version,
    postgres,
    psql: sh('psql', ['--version']),
    commit: `${sh('git', ['rev-parse', '--short', 'HEAD'])}${dirty}`,
  };
}

/** The table as Markdown (it reads as well in a terminal). */
export function table(rows: Row[]): string {
  const cells = [['what', 'measured', 'floor', 'target', ''], ...rows.map((r) => [r.what, r.now, r.floor, r.target, r.pass ? 'pass' : 'FAIL'])];
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(cells[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n');
}

/** The section BENCHMARKS.md keeps for this run. */
export function section(label: string, m: Machine, rows: Row[], notes: string[], explains: Array<[string, string]>): string {
  return [
    `## ${label}`,
    '',
    `${m.date} · commit ${m.commit} · ${m.cores}, ${m.ram} RAM · load average ${m.load} · Node ${m.node} · ${m.postgres} · ${m.psql}`,
    '',
    table(rows),
    '',
    ...notes.map((x) => `- ${x}`),
    '',
    ...explains.flatMap(([what, plan]) => [`### EXPLAIN ANALYZE: ${what}`, '', '```', plan, '```', '']),
  ].join('\n');
}

const HEAD = `# Benchmarks

\`npm run bench\` measures every row of issue 11's table in one run against a PostgreSQL server
(\`HMIS_BENCH_DATABASE_URL\`; a scratch database is created and dropped), writes its table here under
the label \`HMIS_BENCH_LABEL\` (default "latest run") and keeps the sections of other labels. Each
ratio is the median of the runs after a warm-up, the floor and the tool alternating in the same run,
so the ratios hold on a loaded machine even where the absolute times do not.
`;

/** `old` (a BENCHMARKS.md, or undefined) with the section headed `## <label>` replaced or added; other sections stay. */
export function mergeSection(old: string | undefined, label: string, text: string): string {
  const parts = (old ?? HEAD).split(/^(?=## )/m);
  const head = parts[0]!.startsWith('## ') ? HEAD : parts.shift()!;
  const i = parts.findIndex((p) => p.startsWith(`## ${label}\n`));
  if (i >= 0) parts[i] = text;
  else parts.push(text);
  return `${head.trimEnd()}\n\n${parts.map((p) => p.trimEnd()).join('\n\n')}\n`;
}

/** Write this run's section into BENCHMARKS.md at the root of the checkout; returns the file's path. */
export function writeBenchmarks(label: string, text: string, file = join(root, 'BENCHMARKS.md')): string {
  writeFileSync(file, mergeSection(existsSync(file) ? readFileSync(file, 'utf8') : undefined, label, text));
  return file;
}
