import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Prompts } from '../../src/context.js';
import { CancelledError } from '../../src/errors.js';
import { cli } from '../helpers/cli.js';
import type { TestDb } from '../helpers/db.js';
import { useHostDb } from '../helpers/host-suite.js';
import { HOSTS, insertAccounts, linkShape, storeOf, userRow, type AccountSeed } from '../helpers/hosts.js';
import { testRoot } from '../helpers/paths.js';

let db: TestDb;
let dataDir: string;
let env: Record<string, string>;
const DAY = 86_400_000;

type Step = { kind: keyof Prompts; expect: RegExp; answer: string | boolean | typeof CANCEL; search?: string };
const CANCEL = Symbol('Ctrl-C');

/** A Prompts object that plays a script: each prompt must match its step's message, in order. */
function scripted(steps: Step[]): Prompts & { asked: string[]; left: () => number } {
  const queue = [...steps];
  const asked: string[] = [];
  const next = async (kind: keyof Prompts, message: string) => {
    asked.push(message);
    const step = queue.shift();
    if (!step) throw new Error(`unexpected prompt: ${message}`);
    expect(kind, message).toBe(step.kind);
    expect(message).toMatch(step.expect);
    if (step.answer === CANCEL) throw new CancelledError();
    return step;
  };
  return {
    asked,
    left: () => queue.length,
    confirm: async (m) => (await next('confirm', m)).answer as boolean,
    input: async (m, o) => {
      const s = await next('input', m);
      const v = s.answer as string;
      expect(o?.validate?.(v) ?? true, `${m}: ${v}`).toBe(true);
      return v;
    },
    select: async () => {
      throw new Error('no select expected');
    },
    search: async (m, source) => {
      const s = await next('search', m);
      const choices = await source(s.search);
      const hit = choices.find((c) => c.name.startsWith(`${s.answer as string} `));
      expect(hit, JSON.stringify(choices)).toBeDefined();
      return hit!.value as never;
    },
  };
}

async function locked(username: string, over: Partial<AccountSeed> = {}) {
  const [id] = await insertAccounts(db.knex, [{
    username, first_name: 'Jane', last_name: `Wrong${username}`, email: `${username}-at-agency`, phone: null,
    failed_login_attempts: 3, locked_at: new Date(Date.now() - DAY), lock_reason: 'failed_logins',
    account_expires_at: new Date(Date.now() + 200 * DAY), ...over,
  }]);
  return id!;
}

/** The full happy path for `username`, as steps; `ticket` null means --ticket was given. */
const fullScript = (username: string, ticket: string | null): Step[] => [
  ...(ticket ? [{ kind: 'input' as const, expect: /^Ticket number$/, answer: ticket }] : []),
  { kind: 'search', expect: /Who is it/, search: `wrong${username}`.slice(0, 12), answer: username },
  { kind: 'confirm', expect: /Correct .* email address and phone/, answer: true },
  { kind: 'input', expect: /^Email address$/, answer: `${username}@agency.example.org` },
  { kind: 'input', expect: /phone/, answer: '(555) 222-3333' },
  { kind: 'confirm', expect: /confirm this address/, answer: true },
  { kind: 'confirm', expect: new RegExp(`^Set ${username}: ${username}@agency.example.org, phone \\(555\\) 222-3333, verified`), answer: true },
  { kind: 'confirm', expect: new RegExp(`^Unlock ${username} \\(locked: failed_logins\\)`), answer: true },
  { kind: 'confirm', expect: /reset link now/, answer: true },
];

const audit = async (userId: number) => db.knex('audit_log').where('user_id', userId).orderBy('id').select('action', 'ticket');

describe.each(HOSTS)('on the %s host', (host) => {
let resetLink: RegExp;
useHostDb(host, async (d) => {
  db = d;
  dataDir = mkdtempSync(join(testRoot, 'hmis-helpdesk-'));
  env = { ...db.env, HMIS_SITE_URL: 'https://hmis.example.org', HMIS_DATA_DIR: dataDir };
  const shape = await linkShape(host);
  resetLink = new RegExp(`https://hmis\\.example\\.org${shape.resetPath}\\?${shape.resetParam}=`);
}, { reset: false });

describe('helpdesk wizard', () => {
  it('fixes email and phone, unlocks and sends the link, each audited with the ticket', async () => {
    const id = await locked('jdoe');
    const prompt = scripted(fullScript('jdoe', 'HD-42'));
    const r = await cli(['helpdesk', '--json'], { database: db, env, prompt, interactive: true });
    expect(r.code, r.stderr).toBe(0);
    expect(prompt.left()).toBe(0);
    expect(r.json().results.map((x: { outcome: string }) => x.outcome)).toEqual(['email_set', 'unlocked', 'sent']);
    expect(r.stderr).toMatch(/fail {2}locked/); // the diagnosis was shown first
    const row = await userRow(db.knex, 'jdoe');
    expect(row).toMatchObject({ email: 'jdoe@agency.example.org', phone: '(555) 222-3333', locked_at: null, failed_login_attempts: 0 });
    expect(row.email_verified_at).not.toBeNull();
    const trail = await audit(id);
    expect(trail.length).toBeGreaterThanOrEqual(3);
    expect(trail.every((a) => a.ticket === 'HD-42')).toBe(true);
    const actions = trail.map((a) => a.action).join(' ');
    expect(actions).toMatch(/email/);
    expect(actions).toMatch(/unlock/);
    expect(actions).toMatch(/reset\.send/);
    const tokens = await db.knex('password_reset_tokens').where('user_id', id);
    expect(tokens).toHaveLength(1);
    const mails = readdirSync(join(dataDir, 'mail')).filter((f) => f.endsWith('.eml'));
    expect(mails.some((f) => resetLink.test(readFileSync(join(dataDir, 'mail', f), 'utf8').replace(/=\r?\n/g, '')))).toBe(true);
    // audit --ticket tells the whole story, newest first.
    const story = (await cli(['audit', '--ticket', 'HD-42', '--json'], { database: db, env })).json<Array<{ action: string; ticket: string }>>();
    expect(story.length).toBe(trail.length);
    expect(story.map((s) => s.action)).toEqual(trail.map((a) => a.action).reverse());
  });

  it('offers only the fixes that apply: a healthy account gets just the reset link', async () => {
    await insertAccounts(db.knex, [{ username: 'fine', first_name: 'Fine', last_name: 'Person', email: 'fine@agency.example.org', email_verified_at: new Date(), phone: '555-010-0199' }]);
    const prompt = scripted([
      { kind: 'search', expect: /Who is it/, search: 'fine@agency', answer: 'fine' },
      { kind: 'confirm', expect: /reset link now/, answer: false },
    ]);
    const r = await cli(['helpdesk', '--ticket', 'HD-43', '--json'], { database: db, env, prompt, interactive: true });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toEqual({ results: [] });
  });

  it('an agreement lock is not unlocked here, and no link is offered while it blocks', async () => {
    const id = await locked('agr', { email: 'agr@agency.example.org', email_verified_at: new Date(), phone: '555-010-0198', lock_reason: 'agreement_expired', account_expires_at: new Date(Date.now() - DAY) });
    const prompt = scripted([{ kind: 'search', expect: /Who is it/, search: 'wrongagr', answer: 'agr' }]);
    const r = await cli(['helpdesk', '--ticket', 'HD-44'], { database: db, env, prompt, interactive: true });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/agreement sign agr --by user/);
    expect(r.stderr).toMatch(/no reset link offered/);
    expect(await audit(id)).toEqual([]);
  });

  it('Ctrl-C at each prompt exits 130 and leaves every fix either done or untouched', async () => {
    const steps = fullScript('x', null);
    for (let k = 0; k < steps.length; k++) {
      const name = `cc${k}`;
      const id = await locked(name);
      const script = fullScript(name, null).map((s, i) => (i === k ? { ...s, answer: CANCEL as Step['answer'] } : s)).slice(0, k + 1);
      const prompt = scripted(script);
      const r = await cli(['helpdesk', '--ticket', `HD-C${k}`], { database: db, env, prompt, interactive: true });
      expect(r.code, `${k}: ${r.stderr}`).toBe(130);
      expect(r.stdout).toBe('');
      const row = await userRow(db.knex, name);
      const emailDone = k > 5;
      const unlockDone = k > 6;
      expect(row.email, `step ${k}`).toBe(emailDone ? `${name}@agency.example.org` : `${name}-at-agency`);
      expect(row.phone).toBe(emailDone ? '(555) 222-3333' : null);
      expect(row.locked_at === null, `step ${k}`).toBe(unlockDone);
      expect(Number(row.failed_login_attempts)).toBe(unlockDone ? 0 : 3);
      expect(await db.knex('password_reset_tokens').where('user_id', id)).toEqual([]);
      expect(await db.knex('mail_outbox').where({ user_id: id, kind: 'reset' })).toEqual([]);
      const trail = await audit(id);
      expect(trail.every((a) => a.ticket === `HD-C${k}`)).toBe(true);
      expect(trail.some((a) => /unlock/.test(a.action))).toBe(unlockDone);
      expect(r.stderr).toMatch(k > 5 ? /cancelled while .*already done/ : /cancelled while .*nothing was changed/);
    }
  });

  it('Ctrl-C at the ticket prompt changes nothing', async () => {
    const before = Number((await db.knex('audit_log').count({ n: '*' }))[0]!.n);
    const prompt = scripted([{ kind: 'input', expect: /^Ticket number$/, answer: CANCEL }]);
    const r = await cli(['helpdesk'], { database: db, env, prompt, interactive: true });
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/cancelled while asking for the ticket number; nothing was changed/);
    expect(Number((await db.knex('audit_log').count({ n: '*' }))[0]!.n)).toBe(before);
  });

  it('without a terminal it refuses (exit 2) and points at the scriptable commands', async () => {
    const r = await cli(['helpdesk', '--ticket', 'HD-1'], { database: db, env, interactive: false });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/needs a terminal; .*hmis-admin diagnose <user>.*email set .*--ticket.*unlock .*--ticket.*reset send .*--ticket/);
  });

  it('a malformed --ticket is a usage error', async () => {
    const r = await cli(['helpdesk', '--ticket', 'bad ticket!'], { database: db, env, interactive: true, prompt: scripted([]) });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--ticket "bad ticket!" is not a ticket id; use 1 to 64/);
  });

  it('the search shows at most 10 sanitised matches', async () => {
    // Each with an address: a Devise users.email is never null and unique.
    await insertAccounts(db.knex, Array.from({ length: 12 }, (_, i) => ({ username: `many${i}`, first_name: 'Evil\u001b[31m', last_name: `Many${i}`, email: `m${i}@agency.example.org` })));
    const { findPeople } = await import('../../src/services/helpdesk/helpdesk.js');
    const store = await storeOf(db.knex);
    const got = await findPeople(store, 'many');
    expect(got).toHaveLength(10);
    expect(got.every((c) => !/\u001b/.test(c.name))).toBe(true);
    expect(await findPeople(store, 'm')).toEqual([]);
  });
});

describe('--ticket everywhere', () => {
  it('every command with --dry-run or --yes (and mail test) takes --ticket', async () => {
    const { buildProgram } = await import('../../src/program.js');
    const program = buildProgram({ exitCode: 0, makeContext: async () => { throw new Error('not run'); } }, '0');
    const walk = (c: import('commander').Command, path: string[]): string[][] => c.commands.flatMap((x) => [[...path, x.name()], ...walk(x, [...path, x.name()])]);
    const find = (path: string[]) => path.reduce((c, n) => c.commands.find((x) => x.name() === n)!, program);
    const mutatingNames: string[] = [];
    for (const path of walk(program, [])) {
      const flags = find(path).options.map((o) => o.long);
      if (flags.includes('--dry-run') || flags.includes('--yes') || path.join(' ') === 'mail test') {
        mutatingNames.push(path.join(' '));
        expect(flags, path.join(' ')).toContain('--ticket');
      }
    }
    for (const name of ['unlock', 'lock', 'expire', 'agreement sign', 'email set', 'email verify', 'reset send', 'outbox flush', 'helpdesk']) {
      expect(mutatingNames).toContain(name);
    }
  });

  it('the services write the ticket into audit_log, and audit --ticket shows the whole story newest first', async () => {
    await insertAccounts(db.knex, [{ username: 'tk', first_name: 'Tic', last_name: 'Ket', email: 'tk@agency.example.org', phone: '555-010-0111', account_expires_at: new Date(Date.now() + 200 * DAY) }]);
    const steps = [
      ['lock', 'tk', '--reason', 'called in sick'],
      ['unlock', 'tk'],
      ['email', 'set', 'tk', 'tk2@agency.example.org', '--phone', '555-010-0112'],
      ['email', 'verify', 'tk'],
      ['agreement', 'sign', 'tk', '--by', 'user'],
      ['reset', 'send', 'tk'],
    ];
    for (const args of steps) {
      const r = await cli([...args, '--ticket', 'HD-77', '--yes'], { database: db, env });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    const story = (await cli(['audit', '--ticket', 'HD-77', '--json'], { database: db, env })).json<Array<{ action: string; ticket: string; user: string; at: string }>>();
    expect(story.every((s) => s.ticket === 'HD-77' && s.user === 'tk')).toBe(true);
    const actions = story.map((s) => s.action).reverse();
    for (const [i, want] of [/^lock$/, /^unlock/, /^email\./, /^email\.verify/, /^agreement\./, /^reset\.send$/].entries()) {
      expect(actions.findIndex((a) => want.test(a)), `${want} in ${actions.join(', ')}`).toBeGreaterThanOrEqual(i);
    }
    const times = story.map((s) => Date.parse(s.at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });
});

});
