/** The diagnose checks about links: is the configured site right, and what became of the last reset mails. */
import type { Knex } from 'knex';
import { shortTime, userArg } from '../../output/format.js';
import { sanitizeForDisplay } from '../../output/sanitize.js';
import type { AccountRow } from '../accounts/accounts.js';
import type { Check, DiagnoseEnv } from './diagnose.js';
import { PLACEHOLDER_SITE, requireLinkSite } from '../links/tokens.js';

/** The address and phone rules of `email set`, so diagnose calls bad exactly what `email set` refuses. */
export async function loadAddressRules(): Promise<typeof import('../email/email-address.js')> {
  return import('../email/email-address.js');
}

function origin(url: string): string | null {
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
}

/**
 * HMIS_SITE_URL is set, valid and https (a must on a server database), and recent links were built for
 * it. A latest link built for another site fails (that link is the person's problem) but does not stop
 * a new link from working: `configOk` says whether links built now are right.
 */
export async function siteCheck(db: Knex, user: AccountRow, env: DiagnoseEnv): Promise<Check & { configOk: boolean }> {
  const check = await siteCheckInner(db, user, env);
  return { ...check, configOk: !(check.status === 'fail' && check.fix?.startsWith('export')) };
}

async function siteCheckInner(db: Knex, user: AccountRow, env: DiagnoseEnv): Promise<Check> {
  const { config } = env;
  const setFix = 'export HMIS_SITE_URL=https://<your HMIS site>';
  let expected: string;
  try {
    // The same rule `reset send` applies, so diagnose never passes a site that sending would refuse.
    // Judged by the database actually open (env.embedded), which is what decides in production too.
    expected = requireLinkSite({ ...config, databaseSource: env.embedded ? 'embedded' : 'env' }, 'reset').siteUrl;
  } catch (err) {
    return { id: 'site', status: 'fail', message: (err as Error).message, fix: setFix };
  }
  const want = origin(expected);
  const tokens = (await db('password_reset_tokens')
    .where('user_id', user.id)
    .orderBy('id', 'desc')
    .limit(5)
    .select('created_at', 'site_url', 'used_at', 'revoked_at', 'expires_at')) as Array<{ created_at: Date; site_url: string; used_at: Date | null; revoked_at: Date | null; expires_at: Date }>;
  const wrong = tokens.filter((t) => t.site_url && origin(t.site_url) !== want);
  if (wrong.length) {
    const t = wrong[0]!;
    const latestWrong = t === tokens[0] && !t.used_at;
    return {
      id: 'site', status: latestWrong ? 'fail' : 'warn', fix: `hmis-admin reset send ${userArg(user)}`,
      message: `${tokens.length === 1 ? 'the last link was' : wrong.length === tokens.length ? `all ${tokens.length} recent links were` : `${wrong.length} of the last ${tokens.length} links ${wrong.length === 1 ? 'was' : 'were'}`} built for ${sanitizeForDisplay(origin(t.site_url) ?? t.site_url)} (latest ${shortTime(t.created_at)} UTC), not ${want}: those links do not work; send a new one`,
    };
  }
  if (!config.siteUrl) return { id: 'site', status: 'warn', message: `HMIS_SITE_URL is not set: demo links point at the placeholder ${PLACEHOLDER_SITE}`, fix: setFix };
  if (!expected.startsWith('https://')) return { id: 'site', status: 'warn', message: `HMIS_SITE_URL ${expected} is not https (allowed on the embedded demo database only)`, fix: setFix };
  return { id: 'site', status: 'ok', message: `links are built for ${expected}${tokens.length ? '; recent links match it' : ''}`, fix: null };
}

interface MailRow {
  id: number;
  created_at: Date;
  status: 'pending' | 'sending' | 'sent' | 'failed';
  attempts: number;
  sent_at: Date | null;
  last_error: string | null;
  relay_response: string | null;
  eml_path: string | null;
}

interface TokenRow {
  created_at: Date;
  expires_at: Date;
  used_at: Date | null;
  revoked_at: Date | null;
  revoked_reason: string | null;
}

/** What became of the latest reset mail: failed, still queued, or delivered — then used, expired or waiting. */
export async function recentResetCheck(db: Knex, user: AccountRow, u: string, env: DiagnoseEnv): Promise<Check> {
  const sender = env.config.mailFrom ?? 'the HMIS sender address (HMIS_MAIL_FROM)';
  const spam = `ask the person to look in Spam/Junk for mail from ${sender} and mark it "not spam"`;
  const mails = (await db('mail_outbox')
    .where({ user_id: user.id, kind: 'reset' })
    .orderBy('id', 'desc')
    .limit(5)
    .select('id', 'created_at', 'status', 'attempts', 'sent_at', 'last_error', 'relay_response', 'eml_path')) as MailRow[];
  const last = mails[0];
  if (!last) return { id: 'recent_resets', status: 'ok', message: 'no reset link has been sent', fix: null };
  const n = `${mails.length} recent reset mail${mails.length === 1 ? '' : 's'}`;
  const when = `queued ${shortTime(last.created_at)} UTC`;
  if (last.status === 'failed') {
    const why = sanitizeForDisplay(last.last_error ?? last.relay_response ?? 'no reason recorded').slice(0, 200);
    return {
      id: 'recent_resets', status: 'fail', fix: `hmis-admin mail doctor && hmis-admin reset send ${u}`,
      message: `${n}; the latest (${when}) was never delivered: ${why}`,
    };
  }
  if (last.status === 'pending' || last.status === 'sending') {
    const err = last.last_error ? `; last error: ${sanitizeForDisplay(last.last_error).slice(0, 200)}` : '';
    return {
      id: 'recent_resets', status: 'warn', fix: 'hmis-admin outbox flush',
      message: `${n}; the latest (${when}) is still waiting in the outbox after ${last.attempts} attempt${last.attempts === 1 ? '' : 's'}${err}`,
    };
  }
  const token = (await db('password_reset_tokens')
    .where({ user_id: user.id, outbox_id: last.id })
    .orderBy('id', 'desc')
    .first('created_at', 'expires_at', 'used_at', 'revoked_at', 'revoked_reason')) as TokenRow | undefined;
  const delivered = `the latest was delivered to ${last.eml_path ? 'the mail folder' : 'the relay'} at ${shortTime(last.sent_at)} UTC`;
  if (!token) return { id: 'recent_resets', status: 'warn', message: `${n}; ${delivered}, but its link is not on record; send a new one`, fix: `hmis-admin reset send ${u}` };
  if (token.used_at) return { id: 'recent_resets', status: 'ok', message: `${n}; ${delivered} and was used at ${shortTime(token.used_at)} UTC`, fix: null };
  if (token.revoked_at) {
    const why = sanitizeForDisplay(token.revoked_reason ?? 'no reason recorded');
    return { id: 'recent_resets', status: 'warn', message: `${n}; ${delivered}, but its link was revoked (${why}); send a new one`, fix: `hmis-admin reset send ${u}` };
  }
  if (Number(token.expires_at) <= env.now.getTime()) {
    return {
      id: 'recent_resets', status: 'warn', fix: `hmis-admin reset send ${u}`,
      message: `${n}; ${delivered} but expired unused at ${shortTime(token.expires_at)} UTC; if it never arrived, ${spam}`,
    };
  }
  return {
    id: 'recent_resets', status: 'ok', fix: null,
    message: `${n}; ${delivered}, valid until ${shortTime(token.expires_at)} UTC, not used yet; if it did not arrive, ${spam}`,
  };
}
