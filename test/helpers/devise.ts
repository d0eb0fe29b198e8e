/**
 * A real Devise application for the devise-mode tests: test/devise/app.rb (Devise 4.8 on Rails 6.1 from
 * Debian's packages) runs as a child process speaking one JSON line per request, against a PostgreSQL
 * database whose `users` table is shaped like OpenPath HMIS's (test/devise/schema.sql).
 *
 * Ruby cannot open PGlite, so these tests need HMIS_TEST_DATABASE_URL; without it, or without Ruby and the
 * gems, they skip with a visible message — except under HMIS_REQUIRE_DEVISE=1 (CI), where missing Ruby fails.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Knex } from 'knex';
import { describe, it } from 'vitest';
import type { DeviseKeyDigest } from '../../src/store/devise/token.js';
import { createServerDatabase, serverUrl } from './db.js';
import { repoRoot } from './paths.js';

const appPath = join(repoRoot, 'test', 'devise', 'app.rb');
export const deviseSchemaSql = readFileSync(join(repoRoot, 'test', 'devise', 'schema.sql'), 'utf8');
/** The Ruby to run (HMIS_DEVISE_RUBY overrides, e.g. for a Ruby outside PATH). */
const ruby = process.env.HMIS_DEVISE_RUBY || 'ruby';
export const DEVISE_PACKAGES = 'ruby-devise ruby-railties ruby-activerecord ruby-actionmailer ruby-pg';

/** The web application's Devise settings (seconds for durations). Defaults are OpenPath HMIS's. */
export interface DeviseSettings {
  secret: string;
  keyDigest: DeviseKeyDigest;
  maximumAttempts: number;
  unlockStrategy: 'both' | 'time' | 'email' | 'none';
  unlockIn: number;
  resetWithin: number;
  confirmWithin: number;
}

export const OPENPATH_SETTINGS: Omit<DeviseSettings, 'secret'> = {
  keyDigest: 'sha1',
  maximumAttempts: 20,
  unlockStrategy: 'both',
  unlockIn: 3600,
  resetWithin: 6 * 3600,
  confirmWithin: 24 * 3600,
};

/** What the Ruby process reports when it is ready (its effective Devise settings). */
export interface DeviseInfo {
  devise: string;
  rails: string;
  ruby: string;
  key_digest: DeviseKeyDigest;
  maximum_attempts: number;
  unlock_strategy: string;
  unlock_in: number;
  reset_password_within: number;
  confirm_within: number;
  reconfirmable: boolean;
}

/** A `users` row as ActiveRecord reads it (times as ISO strings in UTC), plus Devise's own verdicts on it. */
export interface DeviseRow {
  id: number;
  email: string;
  unconfirmed_email: string | null;
  active: boolean;
  deleted_at: string | null;
  failed_attempts: number;
  locked_at: string | null;
  unlock_token: string | null;
  reset_password_token: string | null;
  reset_password_sent_at: string | null;
  confirmation_token: string | null;
  confirmed_at: string | null;
  confirmation_sent_at: string | null;
  sign_in_count: number;
  devise: {
    access_locked: boolean;
    active_for_authentication: boolean;
    inactive_message: string;
    confirmed: boolean;
    pending_reconfirmation: boolean;
    reset_password_period_valid: boolean;
  };
  [column: string]: unknown;
}

/** Devise's answer to a sign-in: `reason` is invalid, locked, inactive or unconfirmed; `message` is Devise's own key. */
export type SignIn = { ok: true; status: number } | { ok: false; status: number; reason: string; message: string };
/** The web application's answer when a link is used; `errors` as Devise renders them (e.g. reset_password_token: ["is invalid"]). */
export type Redeemed = { ok: true; status: number } | { ok: false; status: number; errors: Record<string, string[]> };

export interface NewDeviseUser {
  email: string;
  password: string;
  first_name?: string;
  last_name?: string;
  phone?: string;
  /** Agency name; created when missing. */
  agency?: string;
  active?: boolean;
  /** Default true; false leaves the account waiting for its first confirmation (Devise mails the token). */
  confirmed?: boolean;
}

export interface DeviseApp {
  info: DeviseInfo;
  /** Milliseconds from spawn to the ready line (Ruby, Rails and Devise start-up). */
  startupMs: number;
  createUser(user: NewDeviseUser): Promise<DeviseRow>;
  /** POST /users/sign_in through Rails, Warden and Devise's hooks. */
  signIn(login: string, password: string): Promise<SignIn>;
  /** Sign in with a wrong password `times` times; Devise counts and locks. */
  failLogin(login: string, times?: number): Promise<SignIn & { failed_attempts: number }>;
  /** The web application's own reset mail: the raw token and the link it carries. */
  sendReset(login: string): Promise<{ token: string; to: string[]; url: string }>;
  /** "Forgot password" with the address as typed (POST /users/password: Devise downcases and strips it first). */
  requestReset(typed: string): Promise<{ ok: boolean; status: number; to: string[] | null; errors: Record<string, string[]> | null }>;
  /** Follow a reset link (GET it, then PUT /users/password), or submit a bare token. */
  resetPassword(link: { url: string } | { token: string }, password: string): Promise<Redeemed>;
  /** GET /users/confirmation?confirmation_token=… (the mailed link, or a bare token). */
  confirm(link: { url: string } | { token: string }): Promise<Redeemed>;
  /** `Devise.token_generator.digest(User, column, raw)`. */
  digest(column: string, raw: string): Promise<string>;
  /** The row (soft-deleted ones too), or null. */
  user(who: string | { id: number }): Promise<DeviseRow | null>;
  stop(): Promise<void>;
}

let unavailable: string | null | undefined;

/** Why the Devise application cannot run here, or null when it can. Checked once per test file. */
export function deviseUnavailable(): string | null {
  if (!serverUrl) return 'Devise needs the PostgreSQL server (Ruby cannot open PGlite): set HMIS_TEST_DATABASE_URL';
  if (unavailable !== undefined) return unavailable;
  const probe = spawnSync(ruby, ['-e', 'require "rails"; require "active_record"; require "action_mailer"; require "devise"; require "pg"'], { encoding: 'utf8', timeout: 60_000 });
  const install = `install Ruby, Rails and Devise with apt-get install -y --no-install-recommends ${DEVISE_PACKAGES}`;
  if (probe.error) unavailable = `${ruby} cannot be run (${probe.error.message}); ${install}`;
  else if (probe.status !== 0) unavailable = `Ruby cannot load Rails, Devise and pg (${probe.stderr.trim().split('\n')[0]}); ${install}`;
  else unavailable = null;
  return unavailable;
}

/**
 * `describe` for tests that need the Devise application. Skips visibly when it cannot run; under
 * HMIS_REQUIRE_DEVISE=1 a missing Ruby is a failing test instead (a skipped proof is no proof in CI).
 */
export function describeDevise(name: string, body: () => void): void {
  const why = deviseUnavailable();
  if (!why) {
    describe(name, body);
  } else if (serverUrl && process.env.HMIS_REQUIRE_DEVISE === '1') {
    describe(name, () => it('has Ruby, Rails and Devise (HMIS_REQUIRE_DEVISE=1)', () => {
      throw new Error(why);
    }));
  } else {
    console.warn(`[devise] skipping "${name}": ${why}`);
    describe.skip(`${name} (skipped: ${why})`, body);
  }
}

export interface DeviseDatabase {
  /** URL of a fresh database holding only the host's tables (schema.sql). */
  url: string;
  knex: Knex;
  drop(): Promise<void>;
}

/** A fresh database on the test server with OpenPath-shaped `users` and `agencies`; drop() removes it. */
export async function createDeviseDatabase(): Promise<DeviseDatabase> {
  const { default: knexFactory } = await import('knex');
  const server = await createServerDatabase('hmis_devise');
  const knex = knexFactory({ client: 'pg', connection: server.url, pool: { min: 0, max: 4 } });
  await knex.raw(deviseSchemaSql);
  return {
    url: server.url,
    knex,
    drop: async () => {
      await knex.destroy();
      await server.drop();
    },
  };
}

/** Start the Devise application on `databaseUrl` (whose schema must exist) and wait until it is ready. */
export async function startDevise(databaseUrl: string, settings: Partial<DeviseSettings> & { secret: string }): Promise<DeviseApp> {
  const s = { ...OPENPATH_SETTINGS, ...settings };
  const started = performance.now();
  const child = spawn(ruby, [appPath], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      ...process.env, // rbenv/chruby set PATH and GEM_* here
      DATABASE_URL: databaseUrl,
      DEVISE_SECRET: s.secret,
      DEVISE_KEY_DIGEST: s.keyDigest,
      DEVISE_MAXIMUM_ATTEMPTS: String(s.maximumAttempts),
      DEVISE_UNLOCK_STRATEGY: s.unlockStrategy,
      DEVISE_UNLOCK_IN: String(s.unlockIn),
      DEVISE_RESET_WITHIN: String(s.resetWithin),
      DEVISE_CONFIRM_WITHIN: String(s.confirmWithin),
    },
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
  const waiting: Array<{ resolve: (line: string) => void; reject: (e: Error) => void }> = [];
  let exited: Error | null = null;
  const fail = (e: Error) => {
    exited = e;
    for (const w of waiting.splice(0)) w.reject(e);
  };
  child.on('error', fail);
  child.on('exit', (code, signal) => fail(new Error(`the Devise application exited (${signal ?? code}); its stderr ends:\n${stderr}`)));
  createInterface({ input: child.stdout }).on('line', (line) => waiting.shift()?.resolve(line));
  const nextLine = () =>
    new Promise<string>((resolve, reject) => (exited ? reject(exited) : waiting.push({ resolve, reject })));

  let queue: Promise<unknown> = Promise.resolve();
  const call = <T>(op: string, args: Record<string, unknown> = {}): Promise<T> => {
    const run = queue.then(async () => {
      const line = nextLine();
      child.stdin.write(`${JSON.stringify({ op, ...args })}\n`);
      const answer = JSON.parse(await line) as T & { error?: string };
      if (answer.error) throw new Error(`Devise ${op}: ${answer.error}`);
      return answer as T;
    });
    queue = run.catch(() => undefined);
    return run;
  };

  const info = JSON.parse(await nextLine()) as DeviseInfo;
  const startupMs = Math.round(performance.now() - started);
  return {
    info,
    startupMs,
    createUser: (user) => call('create_user', { ...user }),
    signIn: (login, password) => call('sign_in', { login, password }),
    failLogin: (login, times = 1) => call('fail_login', { login, times }),
    sendReset: (login) => call('send_reset', { login }),
    requestReset: (typed) => call('request_reset', { typed }),
    resetPassword: (link, password) => call('reset_password', { ...link, password }),
    confirm: (link) => call('confirm', { ...link }),
    digest: async (column, raw) => (await call<{ digest: string }>('digest', { column, raw })).digest,
    user: async (who) => (await call<{ user: DeviseRow | null }>('user', typeof who === 'string' ? { login: who } : who)).user,
    stop: async () => {
      if (exited) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.stdin.end(`${JSON.stringify({ op: 'quit' })}\n`);
      const stuck = setTimeout(() => child.kill('SIGKILL'), 10_000); // never hang the suite on a wedged Ruby
      await gone;
      clearTimeout(stuck);
    },
  };
}
