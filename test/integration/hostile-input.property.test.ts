/**
 * Property: no hostile value of any option, argument or variable gets past the edge. The inputs are
 * read from the command definitions (buildProgram) and the configuration schema, so a new option or
 * variable is covered without a new test. For each generated value: the documented exit code, one
 * clean stderr line naming the input, nothing but JSON (or nothing) on stdout, and the database and
 * the mail folder exactly as they were.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Argument, Command, Option } from 'commander';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES } from '../../src/config.js';
import { buildProgram } from '../../src/program.js';
import { cli } from '../helpers/cli.js';
import { openTestDb, type TestDb } from '../helpers/db.js';
import { fingerprint } from '../helpers/fingerprint.js';
import { hostile, VALID } from '../helpers/hostile.js';
import { seedAgency, seedUser } from '../helpers/lockout-seed.js';
import { testRoot } from '../helpers/paths.js';

const RUNS = Number(process.env.HMIS_PROPERTY_RUNS ?? 10);
const TIMEOUT = Math.max(60_000, RUNS * 2_000);
const CLEAN_LINE = /^hmis-admin: [^\n]*\n$/;
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;

interface Input {
  /** How the input is named in messages: the long flag, the argument's name, or the variable. */
  name: string;
  kind: string;
  /** argv (or env/.env) carrying `value`, with every other input valid. */
  run(value: string, json: boolean): Promise<{ code: number; stdout: string; stderr: string }>;
}

let db: TestDb;
let home: string;
let dataDir: string;
let env: Record<string, string>;
const started = Date.now();

const walk = (c: Command): Command[] => c.commands.flatMap((s) => (s.commands.length ? walk(s) : [s]));
const path = (c: Command): string[] => (c.parent ? [...path(c.parent), c.name()] : []);
const takesValue = (o: Option) => o.required || o.optional;
const kindOf = (x: Option | Argument): string | undefined => (x.argChoices ? 'choice' : (x.parseArg as { kind?: string } | undefined)?.kind);

function commandInputs(): { inputs: Input[]; missing: string[] } {
  const program = buildProgram({ exitCode: 0, makeContext: async () => { throw new Error('not used'); } }, '0.0.0');
  const inputs: Input[] = [];
  const missing: string[] = [];
  const exec = (argv: string[], json: boolean) => cli(json ? ['--json', ...argv] : argv, { database: db, env });
  // Global options once, on a command that would write: the same parser serves every command.
  for (const o of program.options.filter(takesValue)) {
    const kind = kindOf(o);
    if (!kind) missing.push(`hmis-admin ${o.long}`);
    else inputs.push({ name: o.long!, kind, run: (v, json) => exec([`${o.long}=${v}`, 'lock', 'jdoe', '--reason', 'left'], json) });
  }
  for (const cmd of walk(program)) {
    const where = path(cmd).join(' ');
    const args = cmd.registeredArguments;
    const positionals = (i?: number, v?: string) => args.flatMap((a, j) => (j === i ? [v!] : a.required ? [VALID[kindOf(a) ?? ''] ?? 'x'] : []));
    // Required options get a valid value too, so the one hostile value is the only thing wrong.
    const required = (except?: Option) =>
      cmd.options.filter((o) => o.mandatory && o !== except).map((o) => `${o.long}=${o.argChoices?.[0] ?? VALID[kindOf(o) ?? ''] ?? 'x'}`);
    args.forEach((a, i) => {
      const kind = kindOf(a);
      if (!kind) missing.push(`${where} <${a.name()}>`);
      else inputs.push({ name: a.name(), kind, run: (v, json) => exec([...path(cmd), ...required(), '--', ...positionals(i, v)], json) });
    });
    for (const o of cmd.options.filter(takesValue)) {
      const kind = kindOf(o);
      if (!kind) missing.push(`${where} ${o.long}`);
      else inputs.push({ name: o.long!, kind, run: (v, json) => exec([...path(cmd), ...required(o), `${o.long}=${v}`, '--', ...positionals()], json) });
    }
  }
  return { inputs, missing };
}

/** Every variable, set in the environment or (when it can be written there) in .env, on a command that writes. */
function variableInputs(): Input[] {
  return Object.entries(CONFIG_VARIABLES).map(([key, schema]) => ({
    name: key,
    kind: schema.description ?? 'unknown',
    run: async (v: string, json: boolean) => {
      const argv = ['mail', 'test', 'new.person@agency.org', ...(json ? ['--json'] : [])];
      const rest = Object.fromEntries(Object.entries(env).filter(([k]) => k !== key));
      if (/^[^"\\\n\r]*$/.test(v) && v.length < 5000 && Math.random() < 0.5) {
        const cwd = mkdtempSync(join(testRoot, 'dotenv-'));
        writeFileSync(join(cwd, '.env'), `${key}="${v}"\n`);
        return cli(argv, { database: db, env: { ...rest, [key]: undefined }, cwd }); // undefined: cli()'s own default must not win
      }
      return cli(argv, { database: db, env: { ...rest, [key]: v } });
    },
  }));
}

/** A valid value for each variable kind, the base the hostile ones are made from. */
const VALID_VARIABLE: Record<string, string> = {
  'database-url': 'postgres://postgres@127.0.0.1:5432/test', path: '/tmp', 'site-url': 'https://hmis.example.org', 'link-path': '/password/reset',
  'smtp-url': 'smtp://relay.example.org:2525', sender: 'HMIS Support <no-reply@hmis.example.org>', domain: 'hmis.example.org', selector: 's1',
  'dns-server': '127.0.0.1:53', count: '3', duration: '60m', days: '30,14', actor: 'tester',
  schema: 'native', column: 'email', 'active-flag': 'active', 'unlock-after': '1h', 'key-digest': 'sha1', secret: 'a'.repeat(64),
};

beforeAll(async () => {
  db = await openTestDb();
  home = mkdtempSync(join(testRoot, 'home-'));
  dataDir = db.env.HMIS_DATA_DIR ?? mkdtempSync(join(testRoot, 'data-'));
  const agency = await seedAgency(db.knex);
  await seedUser(db.knex, { username: 'jdoe', agencyId: agency, lockedAt: new Date('2026-11-01T00:00:00Z'), lockReason: 'failed_logins', failed: 3 });
  await seedUser(db.knex, { username: 'asmith', agencyId: agency, expiresAt: new Date('2026-12-10T00:00:00Z') });
  const key = join(home, 'dkim.pem');
  writeFileSync(key, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  env = {
    ...db.env, HMIS_DATA_DIR: dataDir, HOME: home, XDG_DATA_HOME: home, HMIS_SITE_URL: 'https://hmis.example.org',
    HMIS_MAIL_FROM: 'HMIS Support <no-reply@hmis.example.org>', HMIS_DKIM_DOMAIN: 'hmis.example.org', HMIS_DKIM_SELECTOR: 's1', HMIS_DKIM_KEY_FILE: key,
  };
});
afterAll(async () => {
  // Reported so the cost of the suite stays visible in `npm test` (issue 12 asks for under a minute).
  console.log(`hostile-input property suite on ${db?.kind}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await db?.close();
  rmSync(home, { recursive: true, force: true });
});

/** Run every generated value of one input and check the four promises. */
async function refusesAll(input: Input, arb: fc.Arbitrary<string>, expectedCode: (v: string) => number): Promise<void> {
  const mail = join(dataDir, 'mail');
  // Runs follow one another with nothing else writing, so what a run must leave is what the last one left:
  // one fingerprint a run instead of one before and one after.
  let last = await fingerprint(db.knex, mail);
  await fc.assert(
    fc.asyncProperty(arb, fc.boolean(), async (value, json) => {
      const before = last;
      const r = await input.run(value, json);
      const shown = `${input.name}=${JSON.stringify(value.slice(0, 200))}: exit ${r.code}, stderr ${JSON.stringify(r.stderr)}`;
      expect(r.code, shown).toBe(expectedCode(value));
      expect(r.stderr, shown).toMatch(CLEAN_LINE);
      expect(UNSAFE.test(r.stderr.slice(0, -1)), shown).toBe(false);
      // A refusal names the input; a lookup that finds nobody (exit 3) names the user it looked for.
      expect(r.stderr, shown).toMatch(r.code === 3 ? /no user/ : input.name);
      if (r.stdout !== '') expect(json && (() => JSON.parse(r.stdout))(), shown).toBeTruthy();
      last = await fingerprint(db.knex, mail);
      expect(last, shown).toBe(before);
    }),
    { numRuns: RUNS },
  );
}

describe('hostile values, from the command definitions and the configuration schema', () => {
  it('every option and argument that takes a value has a kind (a validator at the edge)', () => {
    expect(commandInputs().missing).toEqual([]);
  });

  it('every variable of the configuration schema has a kind', () => {
    expect(Object.entries(CONFIG_VARIABLES).filter(([, schema]) => !VALID_VARIABLE[schema.description ?? '']).map(([key]) => key)).toEqual([]);
  });

  it('the base command writes when nothing is hostile (so a write would be seen)', async () => {
    const mail = join(dataDir, 'mail');
    const before = await fingerprint(db.knex, mail);
    const r = await cli(['mail', 'test', 'new.person@agency.org'], { database: db, env });
    expect(r.code, r.stderr).toBe(0);
    expect(await fingerprint(db.knex, mail)).not.toBe(before);
  });

  it('options and arguments: exit 2 (3 for an id no account can have), one clean line, nothing changed', async () => {
    for (const input of commandInputs().inputs) {
      const base = input.kind === 'choice' ? 'table' : VALID[input.kind]!;
      // A well-formed #id is looked up and does not exist (exit 3); everything else is a usage error.
      await refusesAll(input, hostile(input.kind, base), (v) => (input.kind === 'user' && /^#\d+$/.test(v.trim()) ? 3 : 2));
    }
  }, TIMEOUT);

  it('variables, from the environment or .env: exit 2 naming the variable, nothing changed', async () => {
    const file = join(home, 'a-file');
    writeFileSync(file, 'not a folder');
    mkdirSync(join(home, 'a-folder'), { recursive: true });
    writeFileSync(join(home, 'junk.pem'), 'junk');
    writeFileSync(join(home, 'ed.pem'), generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const extra: Record<string, string[]> = {
      HMIS_DATA_DIR: [file, join(file, 'sub')],
      HMIS_DKIM_KEY_FILE: [file, join(home, 'junk.pem'), join(home, 'ed.pem'), join(home, 'a-folder'), join(home, 'missing.pem')],
    };
    for (const input of variableInputs()) {
      const arb = hostile(input.kind, VALID_VARIABLE[input.kind]!);
      await refusesAll(input, extra[input.name] ? fc.oneof(arb, fc.constantFrom(...extra[input.name]!)) : arb, () => 2);
    }
  }, TIMEOUT);
});
