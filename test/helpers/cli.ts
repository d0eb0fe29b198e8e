/** Run hmis-admin in-process (fast, shares the test's database) or as the built binary (e2e). */
import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import type { Prompts } from '../../src/context.js';
import type { Database } from '../../src/db/connection.js';
import { main } from '../../src/main.js';
import { binPath, sandboxEnv } from './paths.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json<T = any>(): T; // eslint-disable-line @typescript-eslint/no-explicit-any
}

function collect(stream: PassThrough): () => string {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(Buffer.from(c)));
  return () => Buffer.concat(chunks).toString('utf8');
}

function result(code: number, stdout: string, stderr: string): CliResult {
  return {
    code,
    stdout,
    stderr,
    json: () => {
      try {
        return JSON.parse(stdout);
      } catch {
        throw new Error(`stdout is not JSON (exit ${code}):\n${stdout}\nstderr:\n${stderr}`);
      }
    },
  };
}

export interface InProcessOptions {
  database?: Database;
  env?: Record<string, string | undefined>;
  clock?: () => Date;
  prompt?: Prompts;
  interactive?: boolean;
  cwd?: string;
  /** Pose as a terminal this many columns wide (tables fit it); default: not a terminal. */
  columns?: number;
}

/** main() with captured output; the test's open database is handed over, not reopened; HOME and the data folder are temporary. */
export async function cli(args: string[], o: InProcessOptions = {}): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out = collect(stdout);
  const err = collect(stderr);
  const code = await main(args, {
    stdout,
    stderr,
    env: { HMIS_ACTOR: 'tester', PATH: process.env.PATH, ...sandboxEnv(), ...o.env },
    database: o.database,
    clock: o.clock,
    prompt: o.prompt,
    interactive: o.interactive ?? false,
    isTTY: false,
    cwd: o.cwd ?? process.cwd(),
    columns: o.columns,
  });
  return result(code, out(), err());
}

/** Spawn the built binary with a clean environment (a temporary HOME and data folder) plus `env`. */
export function spawnCli(args: string[], env: Record<string, string> = {}, input?: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binPath, ...args], {
      env: { PATH: process.env.PATH ?? '', ...sandboxEnv(), HMIS_ACTOR: 'e2e', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve(result(code ?? -1, stdout, stderr)));
    child.stdin.end(input ?? '');
  });
}
