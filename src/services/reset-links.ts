/**
 * Reading reset links: a user's list with delivery status, `reset check` (why a link does not work),
 * and redemption by the HMIS web application (single use, one conditional UPDATE).
 */
import type { Knex } from 'knex';
import type { Config } from '../config.js';
import { iso, when } from '../output/format.js';
import { writeAudit } from './audit.js';
import { configuredSite, hashToken, parseLinkOrToken, TOKEN_RE } from './tokens.js';

export interface ResetLinkRow {
  id: number;
  user_id: number;
  username: string | null;
  created_at: Date;
  expires_at: Date;
  used_at: Date | null;
  revoked_at: Date | null;
  revoked_reason: string | null;
  superseded_by_id: number | null;
  site_url: string;
  sent_to: string | null;
  created_by: string | null;
  ticket: string | null;
  delivery: string | null;
  delivery_detail: string | null;
  outbox_id: number | null;
}

const COLUMNS = [
  't.id', 't.user_id', 'u.username', 't.created_at', 't.expires_at', 't.used_at', 't.revoked_at', 't.revoked_reason',
  't.superseded_by_id', 't.site_url', 't.sent_to', 't.created_by', 't.ticket', 't.outbox_id', 'o.status as delivery',
  'o.last_error as delivery_detail',
];

function linkQuery(db: Knex): Knex.QueryBuilder {
  return db('password_reset_tokens as t').leftJoin('users as u', 'u.id', 't.user_id').leftJoin('mail_outbox as o', 'o.id', 't.outbox_id').select(COLUMNS);
}

function normalise(r: ResetLinkRow): ResetLinkRow {
  r.id = Number(r.id);
  r.user_id = Number(r.user_id);
  r.superseded_by_id = r.superseded_by_id === null ? null : Number(r.superseded_by_id);
  r.outbox_id = r.outbox_id === null ? null : Number(r.outbox_id);
  return r;
}

/** A user's reset links, newest first. */
export async function listResetLinks(db: Knex, userId: number, limit = 1000): Promise<ResetLinkRow[]> {
  const rows = (await linkQuery(db).where('t.user_id', userId).orderBy('t.id', 'desc').limit(limit)) as ResetLinkRow[];
  return rows.map(normalise);
}

/** valid | used | revoked | expired at `now` (used and revoked say more than expiry, so they win). */
export function linkState(t: Pick<ResetLinkRow, 'used_at' | 'revoked_at' | 'expires_at'>, now: Date): 'valid' | 'used' | 'revoked' | 'expired' {
  if (t.used_at) return 'used';
  if (t.revoked_at) return 'revoked';
  if (t.expires_at.getTime() <= now.getTime()) return 'expired';
  return 'valid';
}

/** The JSON record of one link in `reset list`. */
export function resetLinkJson(r: ResetLinkRow, now: Date): Record<string, unknown> {
  return {
    id: r.id,
    user: r.username,
    state: linkState(r, now),
    createdAt: iso(r.created_at),
    expiresAt: iso(r.expires_at),
    usedAt: iso(r.used_at),
    revokedAt: iso(r.revoked_at),
    revokedReason: r.revoked_reason,
    supersededById: r.superseded_by_id,
    site: r.site_url || null,
    delivery: r.delivery ?? 'not_sent',
    deliveryDetail: r.delivery_detail,
    createdBy: r.created_by,
    ticket: r.ticket,
  };
}

export type CheckReason = 'expired' | 'used' | 'revoked' | 'unknown' | 'wrong_site' | 'malformed';
export interface CheckResult {
  valid: boolean;
  reason: CheckReason | null;
  user: string | null;
  detail: string;
  linkId: number | null;
}

/** Why a pasted link or token does (not) work. Never repeats the token. */
export async function checkResetLink(db: Knex, config: Config, input: string, now: Date): Promise<CheckResult> {
  const r = await check(db, config, input, now);
  // One key order for every reason: CONTRACT's four, then the link id.
  return { valid: r.valid, reason: r.reason, user: r.user, detail: r.detail, linkId: r.linkId };
}

async function check(db: Knex, config: Config, input: string, now: Date): Promise<CheckResult> {
  const parsed = parseLinkOrToken(input);
  if (!parsed.ok) return { valid: false, reason: 'malformed', user: null, detail: parsed.detail, linkId: null };
  const rows = (await linkQuery(db).where('t.token_hash', hashToken(parsed.raw))) as ResetLinkRow[];
  const t = rows[0] && normalise(rows[0]);
  const site = configuredSite(config, 'reset');
  const right = site ? `${site.siteUrl}${site.path}` : null;
  if (parsed.origin !== null && right) {
    const given = `${parsed.origin}${parsed.path}`;
    if (given.replace(/\/+$/, '') !== right.replace(/\/+$/, '')) {
      const state = t ? linkState(t, now) : null;
      const tail = state === 'valid' ? `; the token itself is still valid until ${when(t!.expires_at)}` : t ? `; note the token is also ${state}` : '';
      return { valid: false, reason: 'wrong_site', user: t?.username ?? null, linkId: t?.id ?? null, detail: `the link points to ${given}, but reset links work only on ${right}: open that site${tail}` };
    }
  }
  if (!t) {
    return { valid: false, reason: 'unknown', user: null, linkId: null, detail: 'no reset link with this token was issued here: it was mistyped, cut off, or comes from another system; send a new one with `hmis-admin reset send <user>`' };
  }
  const base = { user: t.username, linkId: t.id };
  const state = linkState(t, now);
  if (state === 'used') return { ...base, valid: false, reason: 'used', detail: `link #${t.id} was already used at ${when(t.used_at)}; each link works once: send a new one if needed` };
  if (state === 'revoked') return { ...base, valid: false, reason: 'revoked', detail: await revokedDetail(db, t) };
  if (state === 'expired') {
    return { ...base, valid: false, reason: 'expired', detail: `link #${t.id} expired at ${when(t.expires_at)} (sent ${when(t.created_at)}); send a new one with \`hmis-admin reset send ${t.username}\`` };
  }
  return { ...base, valid: true, reason: null, detail: `link #${t.id} is valid until ${when(t.expires_at)}${right ? ` on ${right}` : ''}` };
}

async function revokedDetail(db: Knex, t: ResetLinkRow): Promise<string> {
  const at = when(t.revoked_at);
  const reason = t.revoked_reason ?? '';
  if (reason === 'superseded' && t.superseded_by_id) {
    const newer = (await db('password_reset_tokens').where('id', t.superseded_by_id).first('created_at')) as { created_at: Date } | undefined;
    return `link #${t.id} was replaced at ${at} by a newer link #${t.superseded_by_id}${newer ? ` (sent ${when(newer.created_at)})` : ''}: only the newest link works`;
  }
  if (reason === 'email_changed') return `link #${t.id} was revoked at ${at} because the account's email address changed`;
  if (reason.startsWith('undelivered')) return `link #${t.id} was revoked at ${at} because the mail was not delivered (${reason.replace(/^undelivered:?\s*/, '') || 'relay error'})`;
  if (reason === 'used_other') return `link #${t.id} was revoked at ${at} because another reset link was used`;
  return `link #${t.id} was revoked at ${at}${reason ? ` (${reason})` : ''}`;
}

export type RedeemResult = { ok: true; userId: number; username: string } | { ok: false; reason: 'malformed' | 'unknown' | 'used' | 'revoked' | 'expired' };

/**
 * Redeem a reset token for the web application: one conditional UPDATE marks it used, so of two
 * concurrent redemptions exactly one succeeds; the user's other outstanding links are revoked and audited.
 */
export async function redeemResetToken(db: Knex, rawToken: string, now: Date = new Date()): Promise<RedeemResult> {
  if (typeof rawToken !== 'string' || !TOKEN_RE.test(rawToken)) return { ok: false, reason: 'malformed' };
  const hash = hashToken(rawToken);
  const won = await db.transaction(async (trx) => {
    const rows = (await trx('password_reset_tokens')
      .where('token_hash', hash)
      .whereNull('used_at')
      .whereNull('revoked_at')
      .where('expires_at', '>', now)
      .update({ used_at: now })
      .returning(['id', 'user_id'])) as Array<{ id: number | string; user_id: number }>;
    if (!rows[0]) return undefined;
    const id = Number(rows[0].id);
    const userId = Number(rows[0].user_id);
    const others = await trx('password_reset_tokens')
      .where('user_id', userId)
      .whereNot('id', id)
      .whereNull('used_at')
      .whereNull('revoked_at')
      .update({ revoked_at: now, revoked_reason: 'used_other' });
    const user = (await trx('users').where('id', userId).first('username')) as { username: string };
    await writeAudit(trx, { actor: 'hmis-web', action: 'reset.redeemed', userId, details: { linkId: id, othersRevoked: Number(others) } });
    return { userId, username: user.username };
  });
  if (won) return { ok: true, ...won };
  const t = (await db('password_reset_tokens').where('token_hash', hash).first('used_at', 'revoked_at', 'expires_at')) as
    | Pick<ResetLinkRow, 'used_at' | 'revoked_at' | 'expires_at'>
    | undefined;
  if (!t) return { ok: false, reason: 'unknown' };
  const state = linkState(t, now);
  return { ok: false, reason: state === 'valid' ? 'used' : state };
}
