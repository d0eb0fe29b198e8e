/** The built binary: diagnose and report compliance as JSON/CSV, and the helpdesk wizard under a real pseudo-terminal. */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, spawnCli } from '../helpers/cli.js';
import { onServer, spawnTestDb, withOpen, type SpawnDb } from '../helpers/db.js';
import { binPath, sandboxEnv, testRoot } from '../helpers/paths.js';

let sdb: SpawnDb;
const SITE = 'https://hmis.example.org';
let env: Record<string, string>;
/** Every demo account as the demo made it (one `users list --json`), to pick each test's subject from. */
let demo: Array<Record<string, unknown>>;

beforeAll(async () => {
  sdb = await spawnTestDb();
  env = { HMIS_DATA_DIR: mkdtempSync(join(testRoot, 'helpdesk-mail-')), ...sdb.env, HMIS_SITE_URL: SITE };
  // Set-up in-process on the file's database (no spawn): the binary is what the tests below check.
  demo = await withOpen(sdb, async (database) => {
    if (onServer) expect((await cli(['db', 'migrate'], { database, env })).code).toBe(0); // the embedded copy is migrated already
    const r = await cli(['demo', '--users', '200'], { database, env });
    expect(r.code, r.stderr).toBe(0);
    const list = await cli(['users', 'list', '--json'], { database, env });
    expect(list.code, list.stderr).toBe(0);
    return list.json<Array<Record<string, unknown>>>();
  });
});
/** The demo's accounts locked after failed logins (the tests below change no lock before the wizard runs). */
const lockedOut = () => demo.filter((a) => a.locked && a.lockReason === 'failed_logins');
afterAll(async () => sdb?.drop());

describe('diagnose (binary)', () => {
  it('prints the CONTRACT JSON; exit 5 for a locked account, 0 for a healthy one', async () => {
    const locked = lockedOut()[0] as { username: string };
    const r = await spawnCli(['diagnose', locked.username, '--json'], env);
    expect(r.code, r.stderr).toBe(5);
    const doc = r.json();
    expect(Object.keys(doc)).toEqual(['user', 'canReset', 'checks']);
    expect(doc).toMatchObject({ user: locked.username, canReset: false });
    expect(doc.checks.map((c: { id: string }) => c.id)).toEqual(['site', 'locked', 'agreement', 'email', 'recent_resets', 'phone']);
    expect(doc.checks[1]).toMatchObject({ id: 'locked', status: 'fail', fix: `hmis-admin unlock ${locked.username}` });
    const healthy = demo.find((a) => !a.locked && a.emailVerified && a.phone && Date.parse(a.accountExpiresAt as string) - Date.now() > 31 * 86_400_000)!;
    // The verdict for a healthy account (exit 0) is the tool's logic: in-process, on the file's database.
    const ok = await withOpen(sdb, (database) => cli(['diagnose', healthy.username as string, '--json'], { database, env }));
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.json().canReset).toBe(true);
  });
});

describe('report compliance (binary)', () => {
  it('--json and --format csv agree, one row per agency', async () => {
    const j = await spawnCli(['report', 'compliance', '--json'], env);
    expect(j.code, j.stderr).toBe(0);
    const doc = j.json();
    expect(Object.keys(doc)).toEqual(['generatedAt', 'agencies', 'totals']);
    expect(doc.totals.accounts).toBe(200);
    const c = await spawnCli(['report', 'compliance', '--format', 'csv'], env);
    expect(c.code, c.stderr).toBe(0);
    const lines = c.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('agency,accounts,expired,expiring30d,missingSignatures,missingEmail,unverifiedEmail,missingPhone,lockedOver30d');
    expect(lines.slice(1)).toEqual(doc.agencies.map((a: Record<string, unknown>) => Object.values(a).join(',')));
  });
});

const hasTmux = spawnSync('tmux', ['-V']).status === 0;

describe('helpdesk under a pseudo-terminal (tmux)', () => {
  const noColour = '--no-color reaches the prompts: the confirmation question draws no colour (it does without the flag)';
  it.skipIf(!hasTmux)(hasTmux ? noColour : `${noColour} — SKIPPED: tmux is not installed on this machine`, async () => {
    const users = lockedOut().slice(-2).map((p) => p.username as string);
    const vars = { PATH: process.env.PATH ?? '', ...sandboxEnv(), HMIS_ACTOR: 'pty', TERM: 'xterm-256color', ...env };
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    // A server of its own for each question: the first one's kill-server returns while it is still exiting, and a
    // new session on that socket then failed now and then ("server exited unexpectedly").
    let socket = '';
    let servers = 0;
    const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
    /** The question's screen with its escape sequences, for `unlock` of two accounts with these flags; answered no. */
    const question = async (flags: string[]) => {
      socket = `hmis-e2e-nc-${process.pid}-${++servers}`;
      const command = `env -i ${Object.entries(vars).map(([k, v]) => q(`${k}=${v}`)).join(' ')} ${q(process.execPath)} ${q(binPath)} ${flags.join(' ')} unlock ${users.map(q).join(' ')}; sleep 60`;
      tmux('new-session', '-d', '-x', '120', '-y', '20', '-s', 'nc', command);
      try {
        for (let i = 0; i < 150; i++) {
          const shown = tmux('capture-pane', '-p', '-e', '-t', 'nc');
          if (shown.includes('Unlock 2 accounts')) {
            tmux('send-keys', '-t', 'nc', '-l', 'n');
            tmux('send-keys', '-t', 'nc', 'Enter');
            return shown;
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`no question; the screen shows:\n${tmux('capture-pane', '-p', '-t', 'nc')}`);
      } finally {
        spawnSync('tmux', ['-L', socket, 'kill-server']);
      }
    };
    const SGR_COLOUR = /\x1b\[[0-9;]*(3[0-9]|9[0-7]|1)m/;
    expect(await question([])).toMatch(SGR_COLOUR);
    expect(await question(['--no-color'])).not.toMatch(SGR_COLOUR);
  });

  const title = 'unlocks an account and sends its link, audited with the ticket';
  it.skipIf(!hasTmux)(hasTmux ? title : `${title} — SKIPPED: tmux is not installed on this machine`, async () => {
    const who = lockedOut().find((p) => p.emailVerified && p.phone && p.email)!;
    const user = who.username as string;
    const dir = mkdtempSync(join(testRoot, 'pty-'));
    const socket = `hmis-e2e-${process.pid}`;
    const vars = { PATH: process.env.PATH ?? '', ...sandboxEnv(), HMIS_ACTOR: 'pty', TERM: 'xterm-256color', ...env };
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const command =
      `env -i ${Object.entries(vars).map(([k, v]) => q(`${k}=${v}`)).join(' ')} ${q(process.execPath)} ${q(binPath)} helpdesk --ticket HD-PTY --json` +
      ` > ${q(join(dir, 'out.json'))}; echo $? > ${q(join(dir, 'exit'))}; sleep 60`;
    const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
    const screen = () => tmux('capture-pane', '-p', '-t', 'hd');
    const waitFor = async (text: string | RegExp) => {
      for (let i = 0; i < 150; i++) {
        const s = screen();
        if (typeof text === 'string' ? s.includes(text) : text.test(s)) return s;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`timed out waiting for ${text}; the screen shows:\n${screen()}`);
    };
    tmux('new-session', '-d', '-x', '120', '-y', '40', '-s', 'hd', command);
    try {
      await waitFor('Who is it?');
      tmux('send-keys', '-t', 'hd', '-l', user);
      await waitFor(`${user} - `);
      tmux('send-keys', '-t', 'hd', 'Enter');
      await waitFor('Paste the reset link the person has');
      tmux('send-keys', '-t', 'hd', 'Enter');
      await waitFor(`Unlock ${user}`);
      // While the wizard waits for the agent, another command gets the database at once (no lock held).
      // (Were the lock held, it would wait 15 s and fail with exit 1.)
      const meanwhile = await spawnCli(['users', 'show', user, '--json'], env);
      expect(meanwhile.code, meanwhile.stderr).toBe(0);
      tmux('send-keys', '-t', 'hd', '-l', 'y');
      tmux('send-keys', '-t', 'hd', 'Enter');
      await waitFor('reset link now?');
      tmux('send-keys', '-t', 'hd', '-l', 'y');
      tmux('send-keys', '-t', 'hd', 'Enter');
      for (let i = 0; i < 150 && !existsSync(join(dir, 'exit')); i++) await new Promise((r) => setTimeout(r, 100));
      const shown = screen();
      expect(shown).toMatch(/fail {2}locked/);
      expect(shown).toContain(`ticket HD-PTY, ${user}: unlocked, reset link sent`);
      expect(readFileSync(join(dir, 'exit'), 'utf8').trim(), shown).toBe('0');
    } finally {
      spawnSync('tmux', ['-L', socket, 'kill-server']);
    }
    const out = JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8'));
    expect(out.results.map((r: { outcome: string }) => r.outcome)).toEqual(['unlocked', 'sent']);

    const mailDir = join(env.HMIS_DATA_DIR!, 'mail');
    const eml = readdirSync(mailDir).filter((f) => f.endsWith('.eml')).map((f) => readFileSync(join(mailDir, f), 'utf8'));
    expect(eml).toHaveLength(1);
    const body = eml[0]!.replace(/=\r?\n/g, '').replace(/=3D/g, '=');
    expect(body).toContain(`To: ${who.email}`);
    const token = /https:\/\/hmis\.example\.org\/password\/reset\?token=([A-Za-z0-9_-]{43})/.exec(body)?.[1];
    expect(token).toBeDefined();

    const db = await sdb.open();
    try {
      const trail = await db.knex('audit_log').where('ticket', 'HD-PTY').orderBy('id').select('action', 'user_id', 'actor');
      expect(trail.map((a) => a.action)).toEqual(['unlock', 'reset.send', 'reset.minted', 'helpdesk.session']);
      expect(trail.every((a) => a.user_id === who.id && a.actor === 'pty')).toBe(true);
      const row = await db.knex('users').where('id', who.id as number).first('locked_at', 'failed_login_attempts');
      expect(row).toMatchObject({ locked_at: null, failed_login_attempts: 0 });
      const hash = createHash('sha256').update(token!).digest('hex');
      expect(await db.knex('password_reset_tokens').where({ user_id: who.id as number, token_hash: hash }).whereNull('revoked_at').first('id')).toBeDefined();
    } finally {
      await db.close();
    }
  });
});
