import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Prompts } from '../../src/context.js';
import { CancelledError } from '../../src/errors.js';
import { cli, spawnCli } from '../helpers/cli.js';
import type { TestDb } from '../helpers/db.js';
import { pgliteKnexOptions } from '../../src/db/pglite.js';
import { useHostDb } from '../helpers/host-suite.js';
import { HOSTS, insertAccounts, linkShape, storeOf, userRow, type AccountSeed } from '../helpers/hosts.js';
import { templateDir, testRoot } from '../helpers/paths.js';

let db: TestDb;
let dataDir: string;
let env: Record<string, string>;
const DAY = 86_400_000;

type Step = {
  kind: keyof Prompts;
  expect: RegExp;
  answer: string | boolean | typeof CANCEL;
  search?: string;
  /** Answers the prompt's validate must refuse first, each with a message matching its pattern. */
  refuses?: Array<[string, RegExp]>;
  /** The default a confirm must offer. */
  def?: boolean;
  /** Run while the prompt waits (another process, another administrator). */
  meanwhile?: () => Promise<void>;
};
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
    await step.meanwhile?.();
    if (step.answer === CANCEL) throw new CancelledError();
    return step;
  };
  return {
    asked,
    left: () => queue.length,
    confirm: async (m, def) => {
      const s = await next('confirm', m);
      if (s.def !== undefined) expect(def, `default of ${m}`).toBe(s.def);
      return s.answer as boolean;
    },
    input: async (m, o) => {
      const s = await next('input', m);
      for (const [bad, why] of s.refuses ?? []) expect(await o?.validate?.(bad), `${m}: ${bad}`).toMatch(why);
      const v = s.answer as string;
      expect((await o?.validate?.(v)) ?? true, `${m}: ${v}`).toBe(true);
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
  { kind: 'input', expect: /^Paste the reset link the person has/, answer: '' },
  { kind: 'confirm', expect: /Correct .* email address and phone/, answer: true },
  { kind: 'input', expect: /^Email address$/, answer: `${username}@agency.example.org` },
  { kind: 'input', expect: /phone/, answer: '(555) 222-3333' },
  { kind: 'confirm', expect: /confirm this address/, answer: true },
  { kind: 'confirm', expect: new RegExp(`^Set ${username}: ${username}@agency.example.org, phone \\(555\\) 222-3333, verified`), answer: true },
  { kind: 'confirm', expect: new RegExp(`^Unlock ${username} \\(locked: failed_logins\\)`), answer: true, def: true },
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
      { kind: 'input', expect: /^Paste the reset link/, answer: '' },
      { kind: 'confirm', expect: /reset link now/, answer: false },
    ]);
    const r = await cli(['helpdesk', '--ticket', 'HD-43', '--json'], { database: db, env, prompt, interactive: true });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toEqual({ results: [] });
  });

  it('an agreement lock is not unlocked here, and no link is offered while it blocks', async () => {
    const id = await locked('agr', { email: 'agr@agency.example.org', email_verified_at: new Date(), phone: '555-010-0198', lock_reason: 'agreement_expired', account_expires_at: new Date(Date.now() - DAY) });
    const prompt = scripted([
      { kind: 'search', expect: /Who is it/, search: 'wrongagr', answer: 'agr' },
      { kind: 'input', expect: /^Paste the reset link/, answer: '' },
    ]);
    const r = await cli(['helpdesk', '--ticket', 'HD-44'], { database: db, env, prompt, interactive: true });
    expect(r.code, r.stderr).toBe(0);
    // Every missing signature with its command, one a line, not only the first.
    for (const role of ['user', 'supervisor', 'director']) expect(r.stderr).toMatch(new RegExp(`^  hmis-admin agreement sign agr --by ${role}$`, 'm'));
    expect(r.stderr).toMatch(/no reset link offered/);
    // The summary lists each command once, though the lock and the agreement checks share it.
    expect(r.stderr).toMatch(/^ {2}still failing: locked, agreement; to fix:$/m);
    expect(r.stderr.match(/^ {4}hmis-admin agreement sign agr --by director$/gm)).toHaveLength(1);
    // Nothing changed, yet the ticket leaves its trace.
    expect(await audit(id)).toEqual([{ action: 'helpdesk.session', ticket: 'HD-44' }]);
  });

  it('names read from the database reach the prompts without control characters (an escape sequence in a username)', async () => {
    const evil = 'ev\u001b]0;pwned\u0007il\u009b2J';
    const shown = 'ev]0;pwnedil2J';
    const id = await locked(evil, { last_name: 'Escaped', email: 'evil@agency.example.org', email_verified_at: new Date(), phone: '555-010-0197' });
    const prompt = scripted([
      { kind: 'search', expect: /Who is it/, search: 'escaped', answer: shown },
      { kind: 'input', expect: /^Paste the reset link/, answer: '' },
      { kind: 'confirm', expect: new RegExp(`^Unlock ${shown} \\(locked: failed_logins\\)`), answer: false },
    ]);
    const r = await cli(['helpdesk', '--ticket', 'HD-ESC'], { database: db, env, prompt, interactive: true });
    expect(r.code, r.stderr).toBe(0);
    expect(prompt.left()).toBe(0);
    // eslint-disable-next-line no-control-regex
    expect(prompt.asked.join(' | ')).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    expect((await userRow(db.knex, evil)).locked_at).not.toBeNull();
    expect(await audit(id)).toEqual([{ action: 'helpdesk.session', ticket: 'HD-ESC' }]);
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
      const emailDone = k > 6;
      const unlockDone = k > 7;
      // What was done is reported once, as it happened; nothing else reaches stdout.
      expect(r.stdout.split('\n').filter(Boolean).map((l) => l.split(' ')[1])).toEqual([...(emailDone ? ['email_set'] : []), ...(unlockDone ? ['unlocked'] : [])]);
      const row = await userRow(db.knex, name);
      expect(row.email, `step ${k}`).toBe(emailDone ? `${name}@agency.example.org` : `${name}-at-agency`);
      expect(row.phone).toBe(emailDone ? '(555) 222-3333' : null);
      expect(row.locked_at === null, `step ${k}`).toBe(unlockDone);
      expect(Number(row.failed_login_attempts)).toBe(unlockDone ? 0 : 3);
      expect(await db.knex('password_reset_tokens').where('user_id', id)).toEqual([]);
      expect(await db.knex('mail_outbox').where({ user_id: id, kind: 'reset' })).toEqual([]);
      const trail = await audit(id);
      expect(trail.every((a) => a.ticket === `HD-C${k}`)).toBe(true);
      expect(trail.some((a) => /unlock/.test(a.action))).toBe(unlockDone);
      // Past the person search, the sitting is on record even though Ctrl-C ended it.
      expect(trail.filter((a) => a.action === 'helpdesk.session')).toHaveLength(k > 0 ? 1 : 0);
      expect(r.stderr).toMatch(k > 6 ? /cancelled while .*already done/ : /cancelled while .*nothing was changed/);
    }
  });

  it('checks the new address at its prompt as email set does (form, and the account that already has it), so the agent is asked again', async () => {
    await insertAccounts(db.knex, [{ username: 'owner1', first_name: 'Own', last_name: 'Er', email: 'taken@agency.example.org' }]);
    await locked('addr');
    const prompt = scripted([
      { kind: 'search', expect: /Who is it/, search: 'wrongaddr', answer: 'addr' },
      { kind: 'input', expect: /^Paste the reset link/, answer: '' },
      { kind: 'confirm', expect: /Correct .* email/, answer: true },
      {
        kind: 'input', expect: /^Email address$/, answer: 'addr@agency.example.org',
        refuses: [['Taken@Agency.example.org', /^Taken@agency\.example\.org is already the address of owner1 \(#\d+\)/], ['not an address', /^"not an address" .*give one plain address/]],
      },
      { kind: 'input', expect: /phone/, answer: '' },
      { kind: 'confirm', expect: /confirm this address/, answer: false },
      { kind: 'confirm', expect: /^Set addr: addr@agency\.example\.org/, answer: true },
      { kind: 'confirm', expect: /^Unlock addr/, answer: false },
    ]);
    const r = await cli(['helpdesk', '--ticket', 'HD-ADDR', '--json'], { database: db, env, prompt, interactive: true });
    expect(r.code, r.stderr).toBe(0);
    expect(prompt.left()).toBe(0);
    expect(r.json().results.map((x: { outcome: string }) => x.outcome)).toEqual(['email_set']);
    const addr = await userRow(db.knex, 'addr');
    // Not confirmed: Devise keeps the old address until the person confirms the new one (unconfirmed_email).
    expect(host === 'devise' ? addr.pending_email : addr.email).toBe('addr@agency.example.org');
  });

  it('a fix refused after its prompt does not end with exit 0: 2 when nothing was done, 4 when another fix was', async () => {
    const script = (name: string, unlock: boolean): Step[] => [
      { kind: 'search', expect: /Who is it/, search: `wrong${name}`, answer: name },
      { kind: 'input', expect: /^Paste the reset link/, answer: '' },
      { kind: 'confirm', expect: /Correct .* email/, answer: true },
      { kind: 'input', expect: /^Email address$/, answer: `${name}@agency.example.org` },
      { kind: 'input', expect: /phone/, answer: '' },
      {
        kind: 'confirm', expect: /confirm this address/, answer: false,
        // Another administrator gives the address to someone else while the agent is still asking.
        meanwhile: async () => void (await insertAccounts(db.knex, [{ username: `${name}x`, first_name: 'Q', last_name: 'Uick', email: `${name}@agency.example.org` }])),
      },
      { kind: 'confirm', expect: new RegExp(`^Set ${name}:`), answer: true },
      { kind: 'confirm', expect: new RegExp(`^Unlock ${name}`), answer: unlock },
    ];
    await locked('race');
    const r = await cli(['helpdesk', '--ticket', 'HD-RACE', '--json'], { database: db, env, prompt: scripted(script('race', false)), interactive: true });
    expect(r.code, r.stderr).toBe(2);
    expect(r.json().results).toEqual([{ user: 'race', outcome: 'refused', message: expect.stringMatching(/already the address of racex/) }]);
    const [entry] = (await cli(['audit', '--ticket', 'HD-RACE', '--json'], { database: db, env })).json<Array<{ action: string; details: Record<string, unknown> }>>();
    expect(entry).toMatchObject({ action: 'helpdesk.session', details: { done: ['refused'], refused: [expect.stringMatching(/^r\*\*\*@agency\.example\.org is already the address of racex/)] } });

    await locked('race2');
    const mixed = await cli(['helpdesk', '--ticket', 'HD-RACE2', '--json'], { database: db, env, prompt: scripted(script('race2', true)), interactive: true });
    expect(mixed.code, mixed.stderr).toBe(4);
    expect(mixed.json().results.map((x: { outcome: string }) => x.outcome)).toEqual(['refused', 'unlocked']);
  });

  it('a sitting that only diagnoses leaves a helpdesk.session entry with what was checked and found', async () => {
    const id = await locked('look', { email: 'look@agency.example.org', email_verified_at: new Date(), phone: '555-010-0150' });
    const prompt = scripted([
      { kind: 'search', expect: /Who is it/, search: 'wronglook', answer: 'look' },
      { kind: 'input', expect: /^Paste the reset link/, answer: '' },
      { kind: 'confirm', expect: /^Unlock look/, answer: false },
    ]);
    const r = await cli(['helpdesk', '--ticket', 'HD-LOOK'], { database: db, env, prompt, interactive: true });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^ticket HD-LOOK, look: nothing changed\n {2}still failing: locked; to fix:\n {4}hmis-admin unlock look\n {2}the whole ticket: hmis-admin audit --ticket HD-LOOK$/m);
    const story = (await cli(['audit', '--ticket', 'HD-LOOK', '--json'], { database: db, env })).json<Array<Record<string, any>>>(); // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(story).toHaveLength(1);
    expect(story[0]).toMatchObject({ action: 'helpdesk.session', user: 'look', userId: id, ticket: 'HD-LOOK', actor: 'tester' });
    expect(story[0]!.details).toMatchObject({ checks: { locked: 'fail', email: 'ok', agreement: 'ok' }, canReset: false, done: [], link: null, stillFailing: ['locked'] });
    expect(story[0]!.details.found).toContainEqual(expect.stringMatching(/^locked: locked since .* after 3 failed logins/));
    expect(JSON.stringify(story[0]!.details)).not.toMatch(/look@agency/); // addresses masked, as in every audit entry
  });

  it('checks the link the person has as reset check does: a wrong-site link is caught, a working one is not replaced by default', async () => {
    const id = await locked('lnk', { email: 'lnk@agency.example.org', email_verified_at: new Date(), phone: '555-010-0151', locked_at: null, lock_reason: null, failed_login_attempts: 0 });
    const shape = await linkShape(host);
    const token = 'A'.repeat(43);
    const wrong = scripted([
      { kind: 'search', expect: /Who is it/, search: 'wronglnk', answer: 'lnk' },
      { kind: 'input', expect: /^Paste the reset link/, answer: `https://hmis.example.org.evil.test${shape.resetPath}?${shape.resetParam}=${token}` },
      { kind: 'confirm', expect: /^Send lnk a password reset link now\?/, answer: false, def: true },
    ]);
    const r = await cli(['helpdesk', '--ticket', 'HD-LNK'], { database: db, env, prompt: wrong, interactive: true });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`their link does not work (wrong_site): the link points to https://hmis.example.org.evil.test${shape.resetPath}, but reset links work only on https://hmis.example.org${shape.resetPath}`);
    const entry = await db.knex('audit_log').where({ user_id: id, action: 'helpdesk.session' }).first('details');
    const details = typeof entry.details === 'string' ? JSON.parse(entry.details) : entry.details;
    expect(details.link).toEqual({ valid: false, reason: 'wrong_site' });
    expect(JSON.stringify(details)).not.toContain(token);

    const sent = await cli(['reset', 'send', 'lnk', '--print-link'], { database: db, env });
    const link = /^link: (\S+)$/m.exec(sent.stdout)?.[1];
    expect(link, sent.stderr).toBeDefined();
    const works = scripted([
      { kind: 'search', expect: /Who is it/, search: 'wronglnk', answer: 'lnk' },
      { kind: 'input', expect: /^Paste the reset link/, answer: link! },
      { kind: 'confirm', expect: /^Their link still works; send lnk a new one anyway/, answer: false, def: false },
    ]);
    const ok = await cli(['helpdesk', '--ticket', 'HD-LNK2'], { database: db, env, prompt: works, interactive: true });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/their link works: link #\d+ is valid until/);
    // Someone else's link never counts as this person's.
    await locked('lnkb', { email: 'lnkb@agency.example.org', email_verified_at: new Date(), phone: '555-010-0153', locked_at: null, lock_reason: null, failed_login_attempts: 0 });
    const other = scripted([
      { kind: 'search', expect: /Who is it/, search: 'wronglnkb', answer: 'lnkb' },
      { kind: 'input', expect: /^Paste the reset link/, answer: link! },
      { kind: 'confirm', expect: /^Send lnkb a password reset link now\?/, answer: false, def: true },
    ]);
    const o = await cli(['helpdesk', '--ticket', 'HD-LNK3'], { database: db, env, prompt: other, interactive: true });
    expect(o.code, o.stderr).toBe(0);
    expect(o.stderr).toMatch(/^that link is lnk's, not lnkb's: it cannot reset lnkb's password \(and it still works for lnk: ask how the person got it\)$/m);
    // On screen the answer keeps only the token's first characters.
    const { hideToken } = await import('../../src/commands/helpdesk.js');
    const raw = new URL(link!).searchParams.get(shape.resetParam)!;
    expect(hideToken(link!)).toBe(link!.replace(raw, `${raw.slice(0, 4)}…`));
  });

  it('prints each result once: table lines on stdout as they happen, nothing repeated on stderr', async () => {
    await locked('once');
    const r = await cli(['helpdesk', '--ticket', 'HD-ONCE'], { database: db, env, prompt: scripted(fullScript('once', null)), interactive: true });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.map((l) => l.split(' - ')[0])).toEqual(['once: email_set', 'once: unlocked', 'once: sent']);
    for (const line of lines) expect(r.stderr).not.toContain(line);
    expect(r.stderr).toMatch(/^ticket HD-ONCE, once: email and phone set, unlocked, reset link sent$/m);
  });

  it("an administrator's lock: says who locked it, when and why, and unlocking defaults to No", async () => {
    await locked('leaver', { email: 'leaver@agency.example.org', email_verified_at: new Date(), phone: '555-010-0152', locked_at: null, lock_reason: null, failed_login_attempts: 0 });
    expect((await cli(['lock', 'leaver', '--reason', 'left the agency', '--ticket', 'HR-9'], { database: db, env })).code).toBe(0);
    const prompt = scripted([
      { kind: 'search', expect: /Who is it/, search: 'wrongleaver', answer: 'leaver' },
      { kind: 'input', expect: /^Paste the reset link/, answer: '' },
      { kind: 'confirm', expect: /^Unlock leaver anyway\?/, answer: false, def: false },
    ]);
    const r = await cli(['helpdesk', '--ticket', 'HD-LEAVER'], { database: db, env, prompt, interactive: true });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^leaver is locked by tester on \d{4}-\d\d-\d\d \d\d:\d\d UTC \(ticket HR-9\): "left the agency"$/m);
    expect((await userRow(db.knex, 'leaver')).lock_reason).toBe('admin');
  });

  it('--dry-run walks the same path, changes nothing, writes no entry, and ends with exit 0', async () => {
    const id = await locked('dry', { email: 'dry@agency.example.org', email_verified_at: new Date(), phone: '555-010-0154' });
    const prompt = scripted([
      { kind: 'search', expect: /Who is it/, search: 'wrongdry', answer: 'dry' },
      { kind: 'input', expect: /^Paste the reset link/, answer: '' },
      { kind: 'confirm', expect: /^Unlock dry/, answer: true },
      { kind: 'confirm', expect: /reset link now/, answer: true },
    ]);
    const r = await cli(['helpdesk', '--ticket', 'HD-DRY', '--dry-run', '--json'], { database: db, env, prompt, interactive: true });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().results.map((x: { outcome: string }) => x.outcome)).toEqual(['would_unlock', 'would_send']);
    expect((await (await storeOf(db.knex)).findById(id))!.locked_at).not.toBeNull();
    expect(await audit(id)).toEqual([]);
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

// The native embedded database the installed tool opens itself (the lock is an embedded-database matter, not a host one).
describe('helpdesk and the embedded database lock', () => {
  it('holds no lock while a person answers: another process runs a command meanwhile without waiting', async () => {
    const dir = mkdtempSync(join(testRoot, 'hd-lock-'));
    cpSync(templateDir, join(dir, 'pgdata'), { recursive: true });
    const { default: knexFactory } = await import('knex');
    const k = knexFactory(await pgliteKnexOptions(join(dir, 'pgdata')));
    await k('users').insert({
      username: 'waiter', first_name: 'Wai', last_name: 'Ter', email: 'waiter@agency.example.org', email_verified_at: new Date(), phone: '555-010-0160',
      failed_login_attempts: 3, locked_at: new Date(Date.now() - DAY), lock_reason: 'failed_logins', account_expires_at: new Date(Date.now() + 200 * DAY),
    });
    await k.destroy();
    const lockFile = join(dir, 'pgdata.lock');
    const free = async () => expect(existsSync(lockFile), 'the lock file exists while a prompt waits').toBe(false);
    let other: { code: number; ms: number; stderr: string } | undefined;
    const prompt = scripted([
      { kind: 'search', expect: /Who is it/, search: 'waiter', answer: 'waiter', meanwhile: free },
      { kind: 'input', expect: /^Paste the reset link/, answer: '', meanwhile: free },
      {
        kind: 'confirm', expect: /^Unlock waiter/, answer: true,
        meanwhile: async () => {
          await free();
          const started = Date.now();
          const r = await spawnCli(['users', 'show', 'waiter', '--json'], { HMIS_DATA_DIR: dir });
          other = { code: r.code, ms: Date.now() - started, stderr: r.stderr };
        },
      },
      { kind: 'confirm', expect: /reset link now/, answer: false, meanwhile: free },
    ]);
    // No database handed in: the wizard opens the embedded one itself, as the installed tool does.
    const r = await cli(['helpdesk', '--ticket', 'HD-LOCK'], { env: { HMIS_SITE_URL: 'https://hmis.example.org', HMIS_DATA_DIR: dir }, prompt, interactive: true });
    expect(r.code, r.stderr).toBe(0);
    expect(prompt.left()).toBe(0);
    // Had the wizard kept the lock, the other command would have waited 15 s and failed (exit 1, "in use by process").
    expect(other?.code, `${other?.ms} ms: ${other?.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/^waiter: unlocked/);
    expect(r.stderr.match(/embedded database/g)).toHaveLength(1); // the notice once, however often it reopened
    expect(existsSync(lockFile)).toBe(false);
  });
});
