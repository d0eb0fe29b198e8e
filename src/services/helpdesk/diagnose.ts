/**
 * The helpdesk FAQ "why is the password reset link not working?" as checks run against one account:
 * each says ok, warn or fail, what was found, and the exact command that fixes it.
 */
import type { Knex } from 'knex';
import type { Config } from '../../config.js';
import { count, shortDate, shortTime } from '../../output/format.js';
import type { AccountStore } from '../../store/types.js';
import type { AccountRow } from '../accounts/accounts.js';
import { sanitizeForDisplay } from '../../output/sanitize.js';
import { maskEmail } from '../accounts/audit.js';
import { currentAgreement, missingSignatures } from '../accounts/detail.js';
import { loadAddressRules, recentResetCheck, siteCheck } from './diagnose-links.js';
import { shellArg, userArg } from '../../output/format.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';
export type CheckId = 'site' | 'locked' | 'agreement' | 'email' | 'recent_resets' | 'phone';

export interface Check {
  id: CheckId;
  status: CheckStatus;
  message: string;
  /** The command that fixes it (null when there is nothing to fix). */
  fix: string | null;
}

export interface Diagnosis {
  user: string;
  canReset: boolean;
  checks: Check[];
}

export interface DiagnoseEnv {
  config: Config;
  /** Embedded databases may use the placeholder site; a server database needs https. */
  embedded: boolean;
  now: Date;
}

const DAY_MS = 86_400_000;

/**
 * Run every check in FAQ order. canReset: a link sent now reaches the person and works — the configured
 * site is right, the account is not locked and its agreement not expired, and the address is present, valid
 * and theirs alone. An unverified address is a warning, not a blocker (see README).
 */
export async function diagnoseAccount(store: AccountStore, user: AccountRow, env: DiagnoseEnv): Promise<Diagnosis> {
  const db = store.knex;
  const u = userArg(user);
  const { configOk, ...site } = await siteCheck(db, user, env);
  const checks: Check[] = [
    site,
    invitationCheck(user) ?? lockedCheck(user, u, env, await agreementMissing(db, user)),
    await agreementCheck(db, user, u, env.now),
    await emailCheck(store, user, u),
    await recentResetCheck(db, user, u, env),
    await phoneCheck(user, u),
  ];
  const status = (id: CheckId) => checks.find((c) => c.id === id)!.status;
  const canReset = configOk && user.locked_at === null && !user.invitation_pending && status('agreement') !== 'fail' && status('email') !== 'fail';
  return { user: user.username, canReset, checks };
}

async function agreementMissing(db: Knex, user: AccountRow): Promise<string[]> {
  const row = await currentAgreement(db, user.id);
  // A completed row is the term that runs now: the renewal has not started, so all three are missing.
  return missingSignatures(row && !row.completed_at ? row : undefined);
}

/**
 * Devise invitable: the application invited the person and the invitation is still open. They set their first
 * password by accepting it; `reset send` refuses such an account, so diagnose says so (under `locked`: whether the
 * person can get in at all).
 */
function invitationCheck(user: AccountRow): Check | null {
  if (!user.invitation_pending) return null;
  return {
    id: 'locked', status: 'fail', fix: null,
    message:
      'the web application\'s invitation to this account is still open (not accepted): the person sets a first password by accepting it, ' +
      'so no reset link is sent (`reset send` refuses); resend the invitation from the web application',
  };
}

function lockedCheck(user: AccountRow, u: string, env: DiagnoseEnv, missing: string[]): Check {
  const threshold = env.config.lockoutThreshold;
  if (!user.locked_at) {
    const n = user.failed_login_attempts;
    if (n > 0 && n >= threshold - 1) {
      return {
        id: 'locked', status: 'warn', fix: `hmis-admin reset send ${u}`,
        message: `not locked, but ${n} failed login${n === 1 ? '' : 's'} of ${threshold}: one more locks it; send a reset link before the person tries again`,
      };
    }
    return { id: 'locked', status: 'ok', message: `not locked (${n} failed login${n === 1 ? '' : 's'} of ${threshold})`, fix: null };
  }
  const since = `since ${shortTime(user.locked_at)} UTC`;
  if (user.lock_reason === 'agreement_expired' && missing.length) {
    return {
      id: 'locked', status: 'fail', fix: signFix(u, missing),
      message: `locked ${since} because the user agreement expired; missing signatures: ${missing.join(', ')} (the third signature unlocks it)`,
    };
  }
  const why =
    user.lock_reason === 'failed_logins'
      ? `after ${count(user.failed_login_attempts, 'failed login')}${user.last_failed_login_at ? ` (last ${shortTime(user.last_failed_login_at)} UTC)` : ''}`
      : user.lock_reason === 'admin'
        ? 'by an administrator'
        : user.lock_reason === 'agreement_expired'
          ? 'by an expired agreement that has since been signed'
          : 'for an unrecorded reason';
  return { id: 'locked', status: 'fail', message: `locked ${since} ${why}`, fix: `hmis-admin unlock ${u}` };
}

async function agreementCheck(db: Knex, user: AccountRow, u: string, now: Date): Promise<Check> {
  const expires = user.account_expires_at === null ? null : new Date(user.account_expires_at);
  if (!expires) return { id: 'agreement', status: 'ok', message: 'no agreement expiry recorded', fix: null };
  const left = Math.ceil((expires.getTime() - now.getTime()) / DAY_MS);
  if (left > 30) return { id: 'agreement', status: 'ok', message: `agreement valid until ${shortDate(expires)} (${left} days)`, fix: null };
  const missing = await agreementMissing(db, user);
  const sigs = missing.length ? `missing signatures: ${missing.join(', ')}` : 'all signatures recorded';
  const fix = missing.length ? signFix(u, missing) : null;
  if (expires.getTime() <= now.getTime()) {
    return { id: 'agreement', status: 'fail', message: `agreement expired on ${shortDate(expires)}; ${sigs}`, fix };
  }
  return { id: 'agreement', status: 'warn', message: `agreement expires on ${shortDate(expires)} (in ${left} day${left === 1 ? '' : 's'}); ${sigs}`, fix };
}

/** One `agreement sign` per missing signature, in signing order, joined with && so the line runs as it stands. */
export function signFix(u: string, missing: string[]): string {
  return missing.map((role) => `hmis-admin agreement sign ${u} --by ${role}`).join(' && ');
}

async function emailCheck(store: AccountStore, user: AccountRow, u: string): Promise<Check> {
  const setFix = `hmis-admin email set ${u} <address>`;
  const email = user.email?.trim();
  if (!email) return { id: 'email', status: 'fail', message: 'no email address: a reset link cannot be sent', fix: setFix };
  const rules = await loadAddressRules();
  const parsed = rules.parseEmailAddress(email);
  if (!parsed.ok) {
    return { id: 'email', status: 'fail', message: `the address ${JSON.stringify(email)} ${parsed.reason}: no reset link can reach it`, fix: setFix };
  }
  // No ORDER BY in SQL: with it, a planner lacking fresh statistics walks the primary key of every account.
  // A soft-deleted holder does not exist for the application's sign-in or reset request: no one else gets the link.
  const others = (await store.addressOwners(email, user.id)).filter((o) => !o.deleted);
  if (others.length) {
    const names = others.map((r) => `${r.username} (#${r.id})`).join(', ');
    return {
      id: 'email', status: 'fail', fix: setFix,
      message: `${maskEmail(email)} is also the address of ${names}: a reset link would reach whoever reads that mailbox; give each person their own address`,
    };
  }
  if (user.pending_email && user.pending_email.toLowerCase() !== email.toLowerCase()) {
    // Devise reconfirmable: the account keeps `email` (reset links go there) until the person confirms the new one.
    const pending = sanitizeForDisplay(user.pending_email);
    return {
      id: 'email', status: 'warn', fix: `hmis-admin email verify ${u}`,
      message:
        `${email}${user.email_verified_at ? '' : ' (never confirmed)'} is the address reset links go to; a change to ${pending} waits for the person's confirmation. ` +
        `\`hmis-admin email verify ${u}\` mails a new confirmation link to ${pending}, not to ${email}; the address changes when the person follows it`,
    };
  }
  if (!user.email_verified_at) {
    return {
      id: 'email', status: 'warn', fix: `hmis-admin email verify ${u}`,
      message: `${email} has never been confirmed: check it with the person; a link goes there all the same`,
    };
  }
  return { id: 'email', status: 'ok', message: `${email} (confirmed ${shortDate(user.email_verified_at)})`, fix: null };
}

async function phoneCheck(user: AccountRow, u: string): Promise<Check> {
  const address = user.email?.trim() ? shellArg(user.email.trim()) : '<address>';
  const fix = `hmis-admin email set ${u} ${address} --phone <number>`;
  if (!user.phone?.trim()) return { id: 'phone', status: 'warn', message: 'no direct phone number: the helpdesk cannot call back to confirm who is asking', fix };
  const rules = await loadAddressRules();
  const parsed = rules.parsePhone(user.phone);
  if (!parsed.ok) return { id: 'phone', status: 'warn', message: `the phone number ${JSON.stringify(user.phone)} ${parsed.reason}`, fix };
  return { id: 'phone', status: 'ok', message: user.phone, fix: null };
}
