/** Pieces every command registration shares: examples in --help, the mutating options, option hand-over. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { UsageError } from './errors.js';
import { value } from './validate/values.js';
import type { Presenter } from './output/present.js';

/** Loads the presenter after the handler ran, so --help never imports output code. */
export type Present = (p: typeof import('./output/present.js')) => Presenter<any> | Promise<Presenter<any>>; // eslint-disable-line @typescript-eslint/no-explicit-any
/** Makes a command's action: load the handler module, call `name`, present its data. */
export type Action = (load: () => Promise<Record<string, unknown>>, name: string, present: Present) => (...args: unknown[]) => Promise<void>;

/** The Examples section of a command's --help. */
export const examples = (...lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;

/** `--by` may be repeated: every role given is kept (checked here, so a bad one is a usage error like any choice). */
export function collectSigners(value: string, previous: string[] | undefined): string[] {
  if (!['user', 'supervisor', 'director'].includes(value)) throw new InvalidArgumentError('Allowed choices are user, supervisor, director.');
  return [...(previous ?? []), value];
}

/**
 * Mutating commands share --dry-run and --ticket. Only those that ask before bulk work (`asks`) offer
 * --yes; the others never ask, and take a hidden --yes so scripts that always pass it keep working.
 */
export function mutating(cmd: Command, asks = false): Command {
  cmd.option('--dry-run', 'show what would change; change and send nothing');
  if (asks) cmd.option('-y, --yes', 'do the bulk work without asking (needed without a terminal)');
  else cmd.addOption(new Option('-y, --yes').hideHelp());
  // Checked while parsing: a bad ticket is a usage error (exit 2) before any work.
  return cmd.option('--ticket <id>', 'helpdesk ticket recorded with the audit entry', value.ticket());
}

/** Help lists as global only the program's own options, never a parent command's (outbox's --status). */
export function rootOptions(cmd: Command): Option[] {
  let root = cmd;
  while (root.parent) root = root.parent;
  return root === cmd ? [] : root.options.filter((o) => !o.hidden);
}

/**
 * Commander lets a parent with options (`outbox --status --limit`) take them wherever they stand, also
 * after its subcommand. Before the subcommand runs: an option the subcommand has too (`outbox flush
 * --limit 5`) is handed to it; one it lacks (`outbox flush --status failed`) is refused, never ignored.
 */
export function handOverOptions(parent: Command, sub: Command): void {
  for (const option of parent.options) {
    const key = option.attributeName();
    if (parent.getOptionValueSource(key) !== 'cli') continue;
    const own = sub.options.find((o) => o.long === option.long);
    if (!own) {
      throw new UsageError(`${option.long} is an option of \`hmis-admin ${parent.name()}\`, not of \`${parent.name()} ${sub.name()}\`; see \`hmis-admin ${parent.name()} ${sub.name()} --help\``);
    }
    sub.setOptionValueWithSource(own.attributeName(), parent.getOptionValue(key), 'cli');
    parent.setOptionValueWithSource(key, undefined, 'default');
  }
}
