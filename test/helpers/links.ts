/** Shared by the reset/email tests: seed accounts, read links out of delivered mail, scan for leaked tokens. */
import type { Knex } from 'knex';
import { simpleParser } from 'mailparser';
import { cli, type CliResult, type InProcessOptions } from './cli.js';
import { afterAll } from 'vitest';
import type { TestDb } from './db.js';
import { useHostDb } from './host-suite.js';
import { ensureAgency, hostOfKnex, insertAccounts, linkShape, type HostName, type LinkShape } from './hosts.js';
import { startRelay } from './smtp.js';
import type { TestRelay } from './smtp.js';

export const SITE = 'https://hmis.test.example.org';
export const FROM = 'hmis-noreply@test.example.org';
/** A link and its token: native `?token=` (43 characters), Devise `?reset_password_token=` / `?confirmation_token=` (20 or more). */
const LINK = /(https?:\/\/\S+\?(?:token|reset_password_token|confirmation_token)=([A-Za-z0-9_-]{20,128}))/;
const LINK_TOKEN_G = /\?(token|reset_password_token|confirmation_token)=([A-Za-z0-9_-]{20,128})/g;

export interface SeedUser {
  username: string;
  email?: string | null;
  verified?: boolean;
  phone?: string | null;
  lock?: 'failed_logins' | 'agreement_expired' | 'admin';
  agency?: string;
  /** devise only: an address waiting for confirmation. */
  pending?: string;
}

/** Insert accounts (and their agencies) on any host; returns username → id. */
export async function seedUsers(knex: Knex, users: SeedUser[]): Promise<Record<string, number>> {
  const ids: Record<string, number> = {};
  for (const u of users) {
    const [id] = await insertAccounts(knex, [
      {
        username: u.username,
        first_name: u.username[0]!.toUpperCase() + u.username.slice(1),
        last_name: 'Test',
        email: u.email === undefined ? `${u.username}@agency.test.example.org` : u.email,
        email_verified_at: u.verified === false ? null : new Date(Date.now() - 86_400_000),
        phone: u.phone === undefined ? '(555) 010-0000' : u.phone,
        agency_id: u.agency ? await ensureAgency(knex, u.agency) : null,
        locked_at: u.lock ? new Date() : null,
        lock_reason: u.lock ?? null,
        failed_login_attempts: u.lock === 'failed_logins' ? 3 : 0,
        ...(u.pending ? { pending_email: u.pending } : {}),
      },
    ]);
    ids[u.username] = id!;
  }
  return ids;
}

export interface LinkSuite {
  db: TestDb;
  relay: TestRelay;
  ids: Record<string, number>;
  shape: LinkShape;
}

/** A link test file's setting on one host: one database kept across the file's tests, a relay, these accounts, the host's link shape. */
export function useLinkSuite(host: HostName, users: SeedUser[], ready: (s: LinkSuite) => void): void {
  let relay: TestRelay | undefined;
  useHostDb(host, async (db) => {
    relay = await startRelay();
    ready({ db, relay, ids: await seedUsers(db.knex, users), shape: await linkShape(host) });
  }, { reset: false });
  afterAll(async () => relay?.close());
}

/** Every link-bearing token seen, and every piece of output that must not contain one. */
export class Leaks {
  readonly tokens = new Set<string>();
  readonly outputs: string[] = [];

  /** Run the CLI in-process; stdout of --print-link is the one place a token may appear, so it is not scanned. */
  async run(db: TestDb, args: string[], o: InProcessOptions & { env?: Record<string, string | undefined> } = {}): Promise<CliResult> {
    const r = await cli(args, { database: db, ...o });
    if (args.includes('--print-link')) {
      for (const m of r.stdout.matchAll(LINK_TOKEN_G)) this.tokens.add(m[2]!);
    } else this.outputs.push(r.stdout);
    this.outputs.push(r.stderr);
    return r;
  }

  /** The token of the link in the relay's n-th accepted message (text and HTML parts agree). */
  async fromMail(relay: TestRelay, n = relay.received.length - 1): Promise<{ token: string; url: string; to: string; text: string }> {
    const msg = relay.received[n];
    if (!msg) throw new Error(`the relay has no message #${n}`);
    const parsed = await simpleParser(msg.raw);
    const m = LINK.exec(parsed.text ?? '');
    if (!m) throw new Error(`no link in message #${n}:\n${parsed.text}`);
    if (!String(parsed.html).includes(m[1]!)) throw new Error('the HTML part does not carry the same link');
    this.tokens.add(m[2]!);
    return { token: m[2]!, url: m[1]!, to: msg.to.join(','), text: parsed.text ?? '' };
  }

  /**
   * Every row of every table (the host's and the tool's) as text, and every captured output: none may hold a raw token.
   * Devise keeps a confirmation token raw in users.confirmation_token (CONTRACT "Host schemas"), so that column alone is
   * left out on a Devise host: the token in it is the application's, as Devise designed it.
   */
  async scan(knex: Knex): Promise<string[]> {
    const found: string[] = [];
    const tables = (await knex('information_schema.tables').whereIn('table_schema', ['public', 'hmis_admin']).where({ table_type: 'BASE TABLE' }).select('table_schema', 'table_name')) as Array<{
      table_schema: string;
      table_name: string;
    }>;
    const devise = hostOfKnex(knex) === 'devise';
    for (const { table_schema: schema, table_name: name } of tables) {
      const t = `"${schema}"."${name}"`;
      const row = devise && schema === 'public' && name === 'users' ? "(to_jsonb(t) - 'confirmation_token')::text" : 't::text';
      const rows = (await knex.raw(`select ${row} as row from ${t} t`)).rows as Array<{ row: string }>;
      for (const { row } of rows) for (const tok of this.tokens) if (row.includes(tok)) found.push(`table ${t}: ${row.slice(0, 120)}`);
    }
    for (const out of this.outputs) for (const tok of this.tokens) if (out.includes(tok)) found.push(`output: ${out.slice(0, 200)}`);
    return found;
  }
}

export async function count(knex: Knex, table: string, where: Record<string, unknown> = {}): Promise<number> {
  return Number(((await knex(table).where(where).count({ n: '*' })) as Array<{ n: number | string }>)[0]!.n);
}
