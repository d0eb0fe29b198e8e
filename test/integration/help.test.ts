/**
 * Help that says each thing once (issue 10): no option listed twice or with two meanings, parents'
 * options never shown or silently taken by a subcommand, `--yes` offered only where the tool asks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { buildProgram } from '../../src/program.js';
import { cli } from '../helpers/cli.js';
import { openTestDb, type TestDb } from '../helpers/db.js';
import { seedUser } from '../helpers/lockout-seed.js';

let db: TestDb;
beforeAll(async () => {
  db = await openTestDb();
});
afterAll(async () => db?.close());

const program = buildProgram({ exitCode: 0, makeContext: async () => { throw new Error('not run'); } }, '0');
function commands(cmd: Command = program, path: string[] = []): Array<[string, Command]> {
  return cmd.commands.flatMap((c) => [[[...path, c.name()].join(' '), c] as [string, Command], ...commands(c, [...path, c.name()])]);
}
const help = async (args: string[]) => (await cli([...args, '--help'])).stdout;

describe('--help', () => {
  it('`help <command path>` is that command\'s --help at any depth, and `<group> help` the group\'s; an unknown name is exit 2', async () => {
    for (const [name] of commands()) {
      const path = name.split(' ');
      const want = await help(path);
      const viaHelp = await cli(['help', ...path]);
      expect(viaHelp.code, name).toBe(0);
      expect(viaHelp.stdout, `help ${name}`).toBe(want);
      if (path.length > 1) expect((await cli([path[0]!, 'help', ...path.slice(1)])).stdout, `${path[0]} help …`).toBe(want);
    }
    expect((await cli(['help', 'help'])).stdout).toBe(await help([]));
    // outbox has an action of its own and a subcommand: commander gave it no help command ("too many arguments").
    expect((await cli(['outbox', 'help'])).stdout).toBe(await help(['outbox']));
    for (const args of [['help', 'nonsense'], ['help', 'users', 'nonsense']]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^hmis-admin: help: "nonsense" is not a command[^\n]*\n$/);
    }
  });

  it('lists every option once, and only the program options as global', async () => {
    for (const [name] of commands()) {
      const text = await help(name.split(' '));
      const flags = [...text.matchAll(/^ {2}(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1]);
      expect(flags.filter((f, i) => flags.indexOf(f) !== i), name).toEqual([]);
    }
    const flush = await help(['outbox', 'flush']);
    expect(flush).not.toMatch(/--status/);
    expect(flush.match(/--limit/g)).toHaveLength(2); // the option and one example
  });

  it('audit filters by --by; --actor is the global "who is acting"', async () => {
    const text = await help(['audit']);
    expect(text).toMatch(/^ {2}--by <actor> +only entries written by this actor/m);
    expect(text.match(/^ {2}--actor/gm)).toHaveLength(1);
    expect(text).toMatch(/^ {2}--actor <name> +who is acting/m);
  });

  it('offers --yes only on the commands that ask (unlock of several or --all, expire, expiring --notify)', () => {
    const offering = commands().filter(([, c]) => c.options.some((o) => o.long === '--yes' && !o.hidden)).map(([n]) => n);
    expect(offering.sort()).toEqual(['expire', 'expiring', 'unlock']);
  });
});

describe('options in the right place', () => {
  it('outbox flush refuses the listing\'s --status wherever it stands, and takes --limit as its own', async () => {
    for (const args of [['outbox', 'flush', '--status', 'failed'], ['outbox', '--status', 'failed', 'flush']]) {
      const r = await cli(args, { database: db });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/--status is an option of `hmis-admin outbox`, not of `outbox flush`/);
    }
    const { enqueueMail } = await import('../../src/mail/outbox.js');
    const { renderMail } = await import('../../src/mail/compose.js');
    const body = renderMail({ greeting: 'Hello,', paragraphs: ['x'], senderHint: 'hmis@example.org' });
    for (let i = 0; i < 3; i++) await enqueueMail(db.knex, { kind: 'notice', to: `u${i}@agency.example.org`, subject: 's', ...body });
    const dry = await cli(['outbox', 'flush', '--limit', '1', '--dry-run', '--json'], { database: db });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.json().results).toHaveLength(1);
    expect((await cli(['outbox', '--limit', '2', '--json'], { database: db })).json()).toHaveLength(2);
  });

  it('audit --by filters; a global --actor filters nothing and says to use --by', async () => {
    await seedUser(db.knex, { username: 'hx' });
    await cli(['lock', 'hx', '--reason', 'test'], { database: db, env: { HMIS_ACTOR: 'alice' } });
    await cli(['unlock', 'hx'], { database: db, env: { HMIS_ACTOR: 'bob' } });
    const byAlice = (await cli(['audit', '--by', 'alice', '--json'], { database: db })).json<Array<{ actor: string }>>();
    expect(byAlice.length).toBeGreaterThan(0);
    expect(byAlice.every((e) => e.actor === 'alice')).toBe(true);
    const global = await cli(['--actor', 'alice', 'audit', '--json'], { database: db });
    expect(global.json<Array<{ actor: string }>>().some((e) => e.actor === 'bob')).toBe(true);
    expect(global.stderr).toMatch(/--actor says who is acting and filters nothing; to list the entries "alice" wrote, use --by "alice"/);
  });

  it('a command that never asks still takes --yes, so scripts that always pass it keep working', async () => {
    await seedUser(db.knex, { username: 'hy' });
    expect((await cli(['lock', 'hy', '--reason', 'test', '--yes'], { database: db })).code).toBe(0);
  });
});
