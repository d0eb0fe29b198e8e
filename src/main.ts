/** The one exit point: run the program, turn every error into a one-line message and an exit code. */
import { readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { CommanderError } from 'commander';
import { CliError, databaseMessage, UsageError } from './errors.js';
import { sanitizeForDisplay } from './output/sanitize.js';
import { buildProgram, type RunState } from './program.js';
import type { ContextOptions } from './context.js';

export interface MainIO extends ContextOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  stdout?: Writable;
  stderr?: Writable;
  isTTY?: boolean;
}

function packageVersion(): string {
  for (const rel of ['../package.json', '../../package.json', '../../../package.json']) {
    try {
      return (JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      /* try the next layout: src/ under tsx, dist/src/ when built, dist/src/bundle/ when bundled */
    }
  }
  return '0.0.0';
}

/** Run hmis-admin with `argv` (user arguments only); resolves to the exit code. */
export async function main(argv: string[], io: MainIO = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const env = io.env ?? process.env;
  const state: RunState = {
    exitCode: 0,
    makeContext: async (flags) => {
      const [{ loadConfig }, { createContext }, { setColour }] = await Promise.all([
        import('./config.js'),
        import('./context.js'),
        import('./output/table.js'),
      ]);
      const config = loadConfig(flags, env, io.cwd ?? process.cwd(), io.isTTY ?? Boolean((stdout as NodeJS.WriteStream).isTTY));
      await setColour(config.color);
      return createContext(config, { ...io, stdout, stderr });
    },
  };
  const program = buildProgram(state, packageVersion());
  let usageMessage = '';
  program.exitOverride();
  program.configureOutput({
    writeOut: (s) => stdout.write(s),
    writeErr: (s) => stderr.write(s),
    outputError: (s) => {
      usageMessage = s.trim().replace(/^error: /, '');
    },
  });
  for (const cmd of allCommands(program)) {
    cmd.exitOverride();
    cmd.configureOutput({ writeOut: (s) => stdout.write(s), writeErr: (s) => stderr.write(s), outputError: (s) => (usageMessage = s.trim().replace(/^error: /, '')) });
  }

  let code: number;
  try {
    await program.parseAsync(helpAsOption(program, argv), { from: 'user' });
    code = state.exitCode;
  } catch (err) {
    code = report(err, stderr, env, usageMessage);
  } finally {
    await state.ctx?.close().catch(() => undefined);
  }
  return code;
}

function allCommands(cmd: import('commander').Command): import('commander').Command[] {
  return cmd.commands.flatMap((c) => [c, ...allCommands(c)]);
}

/**
 * Every argument list that asks only for a command's help: `<cmd…> --help`, `<cmd…> -h`, `help <cmd>` and
 * `<parent> help <sub>`, each also after -q / --quiet. scripts/help-texts.mjs renders each through main() at build time, so the launcher
 * can print it without loading the bundle (issue 11); the rendering decides which of them print help.
 */
export function helpRequests(): string[][] {
  const program = buildProgram({ exitCode: 0, makeContext: async () => Promise.reject(new Error('help only')) }, '0');
  const requests: string[][] = [['help']];
  const walk = (cmd: import('commander').Command, path: string[]) => {
    requests.push([...path, '--help'], [...path, '-h']);
    if (cmd.commands.length) requests.push([...path, 'help']);
    for (const sub of cmd.commands) {
      requests.push([...path, 'help', sub.name()]);
      if (path.length) requests.push(['help', ...path, sub.name()]);
      walk(sub, [...path, sub.name()]);
    }
  };
  walk(program, []);
  // Quiet changes no help text; cron lines and the bench pass it everywhere.
  return requests.flatMap((r) => [r, ['-q', ...r], ['--quiet', ...r]]);
}

/**
 * `help users list`, `users help list` and `outbox help` mean `users list --help` and `outbox --help`:
 * commander's help command takes one name, and a command with an action of its own (outbox) has none. A
 * name that is no command (`help nonsense`) is refused (exit 2), not answered with the whole help and 0.
 * Only where `help` stands in a command's place: `users show help` still shows the account called help.
 */
export function helpAsOption(program: import('commander').Command, argv: string[]): string[] {
  let i = 0;
  while (i < argv.length && ['-q', '--quiet', '--no-color', '--json'].includes(argv[i]!)) i++;
  let cmd = program;
  for (; i < argv.length; i++) {
    if (argv[i] === 'help' && cmd.commands.length > 0) {
      const rest = argv.slice(i + 1);
      if (rest.some((r) => r.startsWith('-'))) return argv;
      let target = cmd;
      // `help help`: the help of where it stands, as `help` alone.
      for (const name of rest.filter((r) => r !== 'help')) {
        const sub = target.commands.find((c) => c.name() === name || c.aliases().includes(name));
        if (!sub) {
          const where = [...argv.slice(0, i).filter((a) => !a.startsWith('-')), ...rest.slice(0, rest.indexOf(name))].join(' ');
          throw new UsageError(`help: ${quoteName(name)} is not a command${where ? ` of \`hmis-admin ${where}\`` : ''}; see \`hmis-admin ${where ? `${where} ` : ''}--help\``);
        }
        target = sub;
      }
      return [...argv.slice(0, i), ...rest, '--help'];
    }
    const sub = cmd.commands.find((c) => c.name() === argv[i] || c.aliases().includes(argv[i]!));
    if (!sub) return argv;
    cmd = sub;
  }
  return argv;
}

const quoteName = (s: string) => JSON.stringify(sanitizeForDisplay(s));

/** One line on stderr, never a stack trace unless DEBUG=hmis-admin. */
function report(err: unknown, stderr: Writable, env: Record<string, string | undefined>, usageMessage: string): number {
  const debug = /\bhmis-admin\b/.test(env.DEBUG ?? '');
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
    // No command (`hmis-admin`, `hmis-admin users`): the help went to stderr as for a usage error, and a cron
    // line whose command was lost must not report success.
    if (err.code === 'commander.help') return err.exitCode === 0 ? 0 : 2;
    // Commander puts "(Did you mean …?)" on a second line: keep it, on one line.
    const msg = (usageMessage || err.message).split('\n').map((l) => l.trim()).filter(Boolean).join(' ').replace(/\.$/, '');
    stderr.write(`hmis-admin: ${sanitizeForDisplay(msg)}; see \`hmis-admin --help\`\n`);
    return 2;
  }
  if (err instanceof CliError) {
    // Messages may carry database text (usernames, addresses): never let it drive the terminal.
    stderr.write(`hmis-admin: ${sanitizeForDisplay(err.message.replace(/\n/g, ' '))}\n`);
    if (debug && err.stack) stderr.write(`${err.stack}\n`);
    return err.exitCode;
  }
  const e = err as Error;
  const first = sanitizeForDisplay(databaseMessage(err) ?? (e?.message ?? String(err)).split('\n')[0]!);
  stderr.write(`hmis-admin: unexpected error: ${first} (rerun with DEBUG=hmis-admin for details)\n`);
  if (debug && e?.stack) stderr.write(`${e.stack}\n`);
  return 1;
}

/** Entry point for bin/: run, let stdout drain, exit with the code. */
export async function run(): Promise<void> {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0); // the reader (head, less) went away: not an error
    cannotWrite(err);
  });
  // Nobody reads the messages any more (`2>&1 | head` after head is done): the work and stdout go on,
  // and stdout's own EPIPE ends the run as above. An unhandled 'error' here would be exit 1.
  process.stderr.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
  });
  const code = await main(process.argv.slice(2));
  process.exitCode = code;
  // Pools and timers of libraries must not hold the process open once the work is done.
  process.stdout.write('', (err) => {
    if (!err || (err as NodeJS.ErrnoException).code === 'EPIPE') process.exit(err ? 0 : code);
    cannotWrite(err);
  });
}

/** A full disk or a closed descriptor: what was asked for did not reach its reader (exit 1, one line). */
function cannotWrite(err: NodeJS.ErrnoException): never {
  process.stderr.write(`hmis-admin: cannot write the output (${err.code ?? err.message})\n`);
  process.exit(1);
}
