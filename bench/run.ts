/**
 * Running and timing child processes for `npm run bench`: each command runs to completion with its
 * stdout drained (a pipe, as under cron) and its wall time taken from spawn to exit. Ratios are
 * measured in rounds that alternate the floor and the subjects, so a burst of load elsewhere on the
 * machine lands on both sides rather than on one.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const root = fileURLToPath(new URL('../..', import.meta.url));
export const bin = join(root, 'bin', 'hmis-admin.js');
const probe = join(root, 'bench', 'rss-probe.mjs');

export interface Sample {
  ms: number;
  /** Peak RSS of a Node child (KiB), 0 for other programs. */
  rssKiB: number;
  stdout: string;
  stderr: string;
}

/** A command line: a Node script (run with the RSS probe) or another program such as psql. */
export interface Cmd {
  label: string;
  argv: string[];
  node?: boolean;
  env?: Record<string, string>;
  /** Keep stdout (for checks); otherwise it is drained and dropped. */
  keep?: boolean;
  /** Extra environment for the warm-up run only (e.g. DEBUG=knex:query to read the SQL it runs). */
  warmEnv?: Record<string, string>;
}

/** The tool itself, quiet, with the bench environment. */
export function tool(label: string, args: string[], env: Record<string, string> = {}): Cmd {
  return { label, argv: [bin, '-q', ...args], node: true, env };
}

/** Run a command to completion; reject with its stderr when it fails. */
export function run(cmd: Cmd, baseEnv: Record<string, string>): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const [file, ...args] = cmd.node ? [process.execPath, '--import', probe, ...cmd.argv] : cmd.argv;
    const start = process.hrtime.bigint();
    const child = spawn(file!, args, {
      env: { ...process.env, ...baseEnv, ...cmd.env },
      stdio: ['ignore', 'pipe', 'pipe', cmd.node ? 'pipe' : 'ignore'],
    });
    let out = '';
    let err = '';
    let rss = '';
    child.stdout!.on('data', (c: Buffer) => {
      if (cmd.keep) out += c;
    });
    child.stderr!.on('data', (c: Buffer) => (err += c));
    child.stdio[3]?.on('data', (c: Buffer) => (rss += c));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (code !== 0) reject(new Error(`${cmd.label} exited ${code}: ${err.trim().slice(0, 2000)}`));
      else resolve({ ms, rssKiB: Number(rss.trim()) || 0, stdout: out, stderr: err });
    });
  });
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface Timing {
  label: string;
  ms: number;
  rssKiB: number;
  samples: number[];
}

/**
 * One warm-up round, then `runs` measured rounds; each round runs every command once, in order, and
 * the order alternates between rounds (floor first, then subjects first) so neither side always runs
 * on a cache the other has just warmed. `before` runs ahead of every round (e.g. to restore state).
 */
export async function interleaved(
  cmds: Cmd[],
  runs: number,
  baseEnv: Record<string, string>,
  opts: { before?: () => Promise<void>; onWarmup?: (samples: Sample[]) => void } = {},
): Promise<Timing[]> {
  const samples: Sample[][] = cmds.map(() => []);
  for (let round = 0; round <= runs; round++) {
    const order = cmds.map((_, i) => i);
    if (round % 2 === 0) order.reverse();
    const got: Sample[] = [];
    for (const i of order) {
      await opts.before?.();
      const cmd = cmds[i]!;
      // The warm-up keeps its output, for the checks that floor and tool did the same work.
      got[i] = await run(round === 0 ? { ...cmd, keep: true, env: { ...cmd.env, ...cmd.warmEnv } } : cmd, baseEnv);
    }
    if (round === 0) opts.onWarmup?.(got);
    else got.forEach((s, i) => samples[i]!.push(s));
  }
  return cmds.map((c, i) => ({
    label: c.label,
    ms: median(samples[i]!.map((s) => s.ms)),
    rssKiB: median(samples[i]!.map((s) => s.rssKiB)),
    samples: samples[i]!.map((s) => s.ms),
  }));
}

/** Progress for whoever watches the run, on stderr (stdout carries the table). */
const t0 = Date.now();
export function say(line: string): void {
  process.stderr.write(`bench: [${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${line}\n`);
}
