/** AppContext: everything a command may use — config, database, clock, prompts, output. */
import type { Writable } from 'node:stream';
import { isatty } from 'node:tty';
import type { Config } from './config.js';
import type { Database, OpenOptions } from './db/connection.js';
import type { AccountStore } from './store/types.js';
import { CancelledError, UsageError } from './errors.js';
import { sanitizeForDisplay, sanitizeLines } from './output/sanitize.js';

export interface Output {
  stdout: Writable;
  stderr: Writable;
  /** Progress, notices: stderr, silenced by --quiet. */
  notice(message: string): void;
  /** Warnings: stderr, always. */
  warn(message: string): void;
  /** A progress bar on a TTY, nothing otherwise. */
  progress(total: number, label: string): Progress;
  /**
   * A bar for work that reports no steps (creating the embedded database): it fills with the time
   * passed against `expectedMs`, stops short of full until done(), and shows only on a TTY.
   */
  estimate(label: string, expectedMs: number): Progress;
  /** stdin and stderr are terminals: prompts and progress bars may be shown. */
  interactive: boolean;
  /** stdout's width when it is a terminal; undefined when it is not (a pipe or file: tables never cut then). */
  columns?: number;
}

export interface Progress {
  tick(n?: number): void;
  done(): void;
}

/** The prompt functions a command may use; tests inject their own. */
export interface Prompts {
  confirm(message: string, defaultValue?: boolean): Promise<boolean>;
  /** `validate` may be async (a database look-up): a message refuses the answer and the prompt asks again. */
  input(
    message: string,
    options?: { default?: string; validate?: (v: string) => true | string | Promise<true | string>; /** How the answer stays on screen. */ shown?: (v: string) => string },
  ): Promise<string>;
  select<T>(message: string, choices: Array<{ name: string; value: T; description?: string }>): Promise<T>;
  search<T>(message: string, source: (term: string | undefined) => Promise<Array<{ name: string; value: T; description?: string }>>): Promise<T>;
}

export interface AppContext {
  config: Config;
  /** The database, opened on first use. */
  db(options?: OpenOptions): Promise<Database>;
  /** The account store of the configured host (HMIS_SCHEMA), on the database above. */
  store(): Promise<AccountStore>;
  clock: () => Date;
  out: Output;
  prompt: Prompts;
  /**
   * Close the embedded database now and free its lock, so other commands can use it while this one waits
   * for a person; the next db()/store() reopens it. A server database (or one handed in) stays open.
   */
  release(): Promise<void>;
  close(): Promise<void>;
}

export interface ContextOptions {
  stdout?: Writable;
  stderr?: Writable;
  interactive?: boolean;
  clock?: () => Date;
  prompt?: Prompts;
  /** An already-open database (tests share one per file). */
  database?: Database;
  /** stdout's width (tests pose as a terminal with it); default: stdout's own, when it is a terminal. */
  columns?: number;
}

export function createContext(config: Config, options: ContextOptions = {}): AppContext {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  // isatty, not process.stdin.isTTY: that would open stdin as a stream (~1 ms) in every run, prompts or not.
  const interactive = options.interactive ?? (isatty(0) && isatty(2));
  let database: Promise<Database> | undefined = options.database ? Promise.resolve(options.database) : undefined;
  let store: Promise<AccountStore> | undefined;
  const owned = !options.database;
  let noticed = false;

  const tty = stdout as NodeJS.WriteStream;
  const out: Output = {
    stdout,
    stderr,
    interactive,
    columns: options.columns ?? (tty.isTTY ? tty.columns || 80 : undefined),
    notice: (m) => {
      if (!config.quiet) stderr.write(`${sanitizeLines(m)}\n`);
    },
    warn: (m) => {
      stderr.write(`warning: ${sanitizeLines(m)}\n`);
    },
    progress: (total, label) => (interactive && !config.quiet ? progressBar(stderr, total, label) : NO_PROGRESS),
    estimate: (label, expectedMs) => (interactive && !config.quiet ? estimatedBar(stderr, label, expectedMs) : NO_PROGRESS),
  };

  const clock = options.clock ?? (() => new Date());
  const ctx: AppContext = {
    config,
    clock,
    out,
    // Every prompt's text, injected or real, reaches the terminal without control characters (names from the database).
    prompt: displaySafe(options.prompt ?? inquirerPrompts(config.color)),
    db: (openOptions) => {
      if (!database) {
        // Said once per run, however often release() makes the database reopen.
        const notice = (m: string) => {
          if (!noticed) out.notice(m);
          noticed = true;
        };
        database = import('./db/connection.js').then((m) => m.openDatabase(config, { notice, estimate: out.estimate, ...openOptions }));
        database.catch(() => (database = undefined));
      }
      return database;
    },
    store: () => {
      if (!store) {
        store = Promise.all([ctx.db(), import('./store/index.js')]).then(([db, m]) => m.openStore(db, config, clock));
        store.catch(() => (store = undefined));
      }
      return store;
    },
    release: async () => {
      const open = database;
      if (!owned || !open) return;
      const db = await open.catch(() => undefined);
      // Another caller may have released or replaced it meanwhile; a server pool holds no lock.
      if (database !== open || !db || db.kind !== 'pglite') return;
      database = undefined;
      store = undefined;
      await db.close();
    },
    close: async () => {
      if (owned && database) {
        const db = await database.catch(() => undefined);
        await db?.close();
      }
    },
  };
  return ctx;
}

const NO_PROGRESS: Progress = { tick: () => {}, done: () => {} };

/** A simple bar on stderr. `counts`: show "done/total" after the percentage (not for estimates). */
export function progressBar(stderr: Writable, total: number, label: string, counts = true): Progress {
  let done = 0;
  let last = 0;
  // The whole line fits the terminal (a wider one would wrap and \r would redraw only its last row).
  const columns = (stderr as NodeJS.WriteStream).columns || 80;
  const tail = ` 100%${counts ? ` ${total}/${total}` : ''}`;
  const width = Math.max(5, Math.min(30, columns - 1 - label.length - 3 - tail.length));
  const draw = () => {
    const filled = total > 0 ? Math.round((done / total) * width) : width;
    const pct = total > 0 ? Math.floor((done / total) * 100) : 100;
    stderr.write(`\r${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${pct}%${counts ? ` ${done}/${total}` : ''}`);
  };
  draw();
  return {
    tick: (n = 1) => {
      done = Math.min(total, done + n);
      const now = Date.now();
      if (now - last > 100 || done === total) {
        last = now;
        draw();
      }
    },
    done: () => {
      if (done !== total) {
        done = total;
        draw();
      }
      stderr.write('\n');
    },
  };
}

/** Percent of `expectedMs` passed, never past 95 until the work is done; the timer never holds the process open. */
function estimatedBar(stderr: Writable, label: string, expectedMs: number): Progress {
  const bar = progressBar(stderr, 100, label, false);
  const started = Date.now();
  let shown = 0;
  const timer = setInterval(() => {
    const due = Math.min(95, Math.floor(((Date.now() - started) / expectedMs) * 100));
    if (due > shown) bar.tick(due - shown);
    shown = Math.max(shown, due);
  }, 250);
  timer.unref();
  return {
    tick: () => {},
    done: () => {
      clearInterval(timer);
      bar.done();
    },
  };
}

type Choice<T> = { name: string; value: T; description?: string };
const safeChoices = <T>(choices: Array<Choice<T>>): Array<Choice<T>> =>
  choices.map((c) => ({ ...c, name: sanitizeForDisplay(c.name), ...(c.description === undefined ? {} : { description: sanitizeLines(c.description) }) }));

/**
 * Prompts whose text reaches the terminal without control characters: questions, defaults, choices and
 * validation messages carry names and addresses read from the database (on a Devise host, whatever the
 * application stored), and an escape sequence there would redraw or retitle the agent's terminal.
 */
export function displaySafe(p: Prompts): Prompts {
  return {
    confirm: (message, def) => p.confirm(sanitizeLines(message), def),
    input: (message, o) =>
      p.input(sanitizeLines(message), {
        ...o,
        ...(o?.default === undefined ? {} : { default: sanitizeForDisplay(o.default) }),
        ...(o?.validate ? { validate: async (v: string) => { const r = await o.validate!(v); return r === true ? r : sanitizeLines(r); } } : {}),
      }),
    select: (message, choices) => p.select(sanitizeLines(message), safeChoices(choices)),
    search: (message, source) => p.search(sanitizeLines(message), async (term) => safeChoices(await source(term))),
  };
}

/**
 * The real prompts, imported only when a prompt is shown; Ctrl-C becomes exit 130. Without colour (`--no-color`,
 * NO_COLOR, FORCE_COLOR=0, TERM=dumb) they draw none either: the prompts colour through node:util's styleText,
 * which leaves text plain under NO_COLOR, so it is set for this process before the first prompt loads.
 */
export function inquirerPrompts(color = true): Prompts {
  const wrap = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (!color) process.env.NO_COLOR = '1';
    try {
      return await fn();
    } catch (err) {
      if ((err as Error)?.name === 'ExitPromptError' || (err as Error)?.name === 'AbortPromptError') throw new CancelledError();
      throw err;
    }
  };
  return {
    // Prompts draw on stderr: stdout carries only the command's data (one JSON document under --json).
    confirm: (message, def = false) => wrap(async () => (await import('@inquirer/prompts')).confirm({ message, default: def }, { output: process.stderr })),
    input: (message, o = {}) =>
      wrap(async () => {
        const shown = o.shown;
        const transformer = shown ? (v: string, { isFinal }: { isFinal: boolean }) => (isFinal ? shown(v) : v) : undefined;
        return (await import('@inquirer/prompts')).input({ message, default: o.default, validate: o.validate, transformer }, { output: process.stderr });
      }),
    select: (message, choices) => wrap(async () => (await import('@inquirer/prompts')).select({ message, choices }, { output: process.stderr })),
    search: (message, source) =>
      wrap(async () => (await import('@inquirer/prompts')).search({ message, source: (term) => source(term) }, { output: process.stderr })),
  };
}

/**
 * Guard bulk or destructive work: confirm on a TTY (no → exit 130), require --yes otherwise (exit 2).
 */
export async function confirmOrRefuse(ctx: AppContext, question: string, yes: boolean | undefined, what: string): Promise<void> {
  if (yes) return;
  refuseUnconfirmable(ctx, yes, what);
  // The embedded database allows one process at a time: nobody waits on it while a person reads the
  // question. It reopens on the next ctx.store()/ctx.db(), so callers take the store again afterwards.
  await ctx.release();
  if (!(await ctx.prompt.confirm(question, false))) throw new CancelledError();
}

/**
 * Refuse (exit 2) before any work when nobody can confirm: no --yes and no terminal to ask on. Cron jobs
 * call it at start, so a line missing --yes fails on its first run, not on the first day with work.
 */
export function refuseUnconfirmable(ctx: AppContext, yes: boolean | undefined, what: string): void {
  if (!yes && !ctx.out.interactive) throw new UsageError(`${what} needs confirmation; rerun with --yes (no terminal to ask on)`);
}
