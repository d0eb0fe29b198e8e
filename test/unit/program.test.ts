import { describe, expect, it } from 'vitest';
import { buildProgram, type RunState } from '../../src/program.js';

/** Parse argv and capture what the action would receive, without running it. */
async function parse(argv: string[]): Promise<{ command: string; opts: Record<string, unknown>; args: unknown[] }> {
  const state: RunState = { exitCode: 0, makeContext: async () => { throw new Error('not used'); } };
  const program = buildProgram(state, '0.0.0');
  let seen: { command: string; opts: Record<string, unknown>; args: unknown[] } | undefined;
  program.exitOverride();
  program.configureOutput({ writeErr: () => {}, writeOut: () => {}, outputError: () => {} });
  program.hook('preAction', (_root, action) => {
    seen = { command: action.name(), opts: { ...action.optsWithGlobals(), ...action.opts() }, args: action.args };
    throw new Error('stop');
  });
  await program.parseAsync(argv, { from: 'user' }).catch((e: Error) => {
    if (e.message !== 'stop') throw e;
  });
  return seen!;
}

describe('argv → handler options', () => {
  it.each([
    [['locked'], 'locked', {}],
    [['locked', '--reason', 'admin', '--agency', 'A'], 'locked', { reason: 'admin', agency: 'A' }],
    [['--json', 'locked'], 'locked', { json: true }],
    [['locked', '--json', '--db', 'postgres://x/y'], 'locked', { json: true, db: 'postgres://x/y' }],
    [['users', 'list', '--missing-email', '--limit', '5'], 'list', { missingEmail: true, limit: '5' }],
    [['users', 'list', '--expiring', '30d', '--search', 'garcia'], 'list', { expiring: '30d', search: 'garcia' }],
    [['audit', '--user', 'jdoe', '--since', '7d'], 'audit', { user: 'jdoe', since: '7d', limit: '100' }],
    [['audit', '--ticket', 'HD-1'], 'audit', { ticket: 'HD-1' }],
    [['demo', '--users', '50'], 'demo', { users: '50' }],
    [['--no-color', '-q', 'db', 'status'], 'status', { color: false, quiet: true }],
  ])('%j', async (argv, command, opts) => {
    const seen = await parse(argv);
    expect(seen.command).toBe(command);
    expect(seen.opts).toMatchObject(opts);
  });

  it('passes positional users through', async () => {
    expect((await parse(['users', 'show', '#12'])).args).toEqual(['#12']);
  });

  it('every command documents at least one example', () => {
    const state: RunState = { exitCode: 0, makeContext: async () => { throw new Error('not used'); } };
    const program = buildProgram(state, '0.0.0');
    const walk = (c: typeof program): Array<typeof program> => c.commands.flatMap((s) => [s, ...walk(s)]);
    for (const cmd of [program, ...walk(program)]) {
      let help = '';
      cmd.configureOutput({ writeOut: (s) => (help += s) });
      cmd.outputHelp();
      expect(help, cmd.name()).toMatch(/Examples:\n {2}\$ hmis-admin /);
    }
  });
});
