/** Small seeds for the lockout, expiry and agreement tests: one agency, named users in chosen states. */
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { loadConfig } from '../../src/config.js';
import { createContext, type AppContext } from '../../src/context.js';
import type { Database } from '../../src/db/connection.js';
import { hostOfKnex, insertAccounts } from './hosts.js';
import { sandboxEnv, testRoot } from './paths.js';

export interface SeedUser {
  username: string;
  email?: string | null;
  lockedAt?: Date | null;
  lockReason?: string | null;
  failed?: number;
  expiresAt?: Date | null;
  createdAt?: Date;
  supervisorId?: number | null;
  agencyId?: number | null;
}

/** An agency with an Executive Director address; returns its id. (devise: the director lives in hmis_admin.agency_contacts.) */
export async function seedAgency(k: Knex, name = 'Harbor Light Shelter', edEmail: string | null = 'ed@harbor.example.org'): Promise<number> {
  if (hostOfKnex(k) === 'devise') {
    const [row] = await k('public.agencies').insert({ name }).returning('id');
    const id = Number((row as { id: number }).id);
    await k('hmis_admin.agency_contacts').insert({ agency_id: id, executive_director_name: 'Denise Okafor', executive_director_email: edEmail });
    return id;
  }
  const [row] = await k('agencies').insert({ name, executive_director_name: 'Denise Okafor', executive_director_email: edEmail }).returning('id');
  return Number((row as { id: number }).id);
}

/** Insert one user (any host: see insertAccounts); returns its id. */
export async function seedUser(k: Knex, u: SeedUser): Promise<number> {
  const [id] = await insertAccounts(k, [
    {
      username: u.username,
      first_name: u.username,
      last_name: 'Test',
      email: u.email === undefined ? `${u.username.toLowerCase()}@harbor.example.org` : u.email,
      locked_at: u.lockedAt ?? null,
      lock_reason: u.lockReason ?? null,
      failed_login_attempts: u.failed ?? 0,
      account_expires_at: u.expiresAt ?? null,
      created_at: u.createdAt ?? new Date('2025-01-01T00:00:00Z'),
      supervisor_id: u.supervisorId ?? null,
      agency_id: u.agencyId ?? null,
    },
  ]);
  return id!;
}

/** count(*) as a number on both drivers. */
export async function count(q: Knex.QueryBuilder): Promise<number> {
  return Number(((await q.count({ n: '*' })) as Array<{ n: number | string }>)[0]!.n);
}

/** A folder for the .eml files the outbox writes when no relay is configured. */
export function mailDir(): string {
  return mkdtempSync(join(testRoot, 'mail-'));
}

/** An AppContext on the test database, for calling services directly. */
export function serviceContext(db: Database, env: Record<string, string>, clock?: () => Date): AppContext {
  const config = loadConfig({}, { HMIS_ACTOR: 'tester', ...sandboxEnv(), ...env }, process.cwd(), false);
  const sink = { write: () => true } as unknown as NodeJS.WritableStream;
  return createContext(config, { database: db, clock, stdout: sink as never, stderr: sink as never, interactive: false });
}
