/**
 * Accounts in every state on any host, for suites that on the native host use `demo` (which fills only hmis-admin's
 * own tables): the demo's agencies, and by i % 100 / i % 1000 the demo's mix of expiring, expired, unverified,
 * missing phone and locked accounts, with partly signed renewals for those that expire within 30 days.
 * Devise keeps one account per address (a unique index), so there at most one account has none.
 */
import type { Knex } from 'knex';
import { DEMO_AGENCIES } from '../../src/db/demo.js';
import { hostOfKnex, insertAccounts, type AccountSeed } from './hosts.js';
import { seedAgency } from './lockout-seed.js';

const FIRST = ['Maria', 'James', 'Aisha', 'Robert', 'Linda', 'Miguel', 'Grace', 'David', 'Fatima'];
const LAST = ['Garcia', 'Johnson', 'Okafor', 'Smith', 'Nguyen', 'Hernandez', 'Williams', 'Brown', 'Khan', 'Lee', 'Martinez'];
const DAY = 86_400_000;

export async function seedVariety(knex: Knex, n: number, { missingEmail = true } = {}): Promise<void> {
  const now = Date.now();
  const ago = (days: number) => new Date(now - days * DAY);
  const agencies: number[] = [];
  for (const [name, , edEmail] of DEMO_AGENCIES) agencies.push(await seedAgency(knex, name, edEmail));
  let noAddressLeft = !missingEmail ? 0 : hostOfKnex(knex) === 'devise' ? 1 : Infinity;
  const seeds: AccountSeed[] = [];
  for (let i = 1; i <= n; i++) {
    const k = i % 100;
    const lk = i % 1000;
    const first = FIRST[(i * 7) % FIRST.length]!;
    const last = LAST[(i * 13) % LAST.length]!;
    const noAddress = k >= 15 && k <= 17 && noAddressLeft-- > 0;
    const lock = lk <= 4 ? 'failed_logins' : lk <= 6 ? 'agreement_expired' : lk === 7 ? 'admin' : null;
    seeds.push({
      username: `${first[0]}${last}${i}`.toLowerCase(),
      first_name: first,
      last_name: last,
      email: noAddress ? null : `${first}.${last}${i}@agency${i % 3}.example.org`.toLowerCase(),
      email_verified_at: k >= 18 && k <= 22 ? null : ago(i % 300),
      phone: k >= 23 && k <= 27 ? null : `(555) ${100 + (i % 900)}-${String(i % 10000).padStart(4, '0')}`,
      agency_id: agencies[(i - 1) % agencies.length]!,
      failed_login_attempts: lock === 'failed_logins' ? 3 : k === 31 ? 2 : 0,
      locked_at: lock ? ago(lock === 'admin' ? i % 90 : 1 + (i % 40)) : null,
      lock_reason: lock,
      account_expires_at:
        lock === 'agreement_expired' ? ago(1 + (i % 40)) : k >= 8 && k <= 11 ? new Date(now + (1 + (i % 30)) * DAY) : k >= 12 && k <= 14 ? ago(1 + (i % 10)) : new Date(now + (31 + (i % 330)) * DAY),
      created_at: ago(400 + (i % 1000)),
    });
  }
  const ids = await insertAccounts(knex, seeds);
  const renewals = ids.flatMap((id, j) => {
    const expires = seeds[j]!.account_expires_at!;
    if (expires.getTime() > now + 30 * DAY) return [];
    const signed = (p: number[]) => (p.includes(id % 4) ? ago(3) : null);
    return [{ user_id: id, term_started_at: new Date(expires.getTime() - 365 * DAY), user_signed_at: signed([1, 2, 3]), supervisor_signed_at: signed([2]), director_signed_at: signed([3]) }];
  });
  if (renewals.length) await knex('user_agreements').insert(renewals);
}
