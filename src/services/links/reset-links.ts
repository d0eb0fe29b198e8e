/**
 * Reading reset links: a user's list with delivery status, `reset check` (why a link does not work),
 * and redemption by the HMIS web application (single use, one conditional UPDATE).
 */
import type { Knex } from 'knex';
import type { Config } from '../../config.js';
import { iso, userArg, when } from '../../output/format.js';
import type { AccountStore } from '../../store/types.js';
import { writeAudit } from '../accounts/audit.js';
import { requireNativeHost } from '../accounts/host-guard.js';
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
  /** What the history stores for the token (a hash or Devise's digest): never shown. */
  token_hash: string;
  /** Still valid here, but the host no longer takes it (Devise: used, or replaced by the application). */
  gone?: boolean;
}

const COLUMNS = [
  't.id', 't.user_id', 't.created_at', 't.expires_at', 't.used_at', 't.revoked_at', 't.revoked_reason',
  't.superseded_by_id', 't.site_url', 't.sent_to', 't.created_by', 't.ticket', 't.outbox_id', 't.token_hash', 'o.status as delivery',
  'o.last_error as delivery_detail',
];

function linkQuery(db: Knex): Knex.QueryBuilder {
  return db('password_reset_tokens as t').leftJoin('mail_outbox as o', 'o.id', 't.outbox_id').select(COLUMNS);
}

/**
 * Rows with their account's name (from the store: the host may not be in this database) and, on a host that
 * keeps its own live link (Devise), a link still valid here but no longer the host's is marked as gone:
 * used, or replaced by a link the web application sent itself.
 */
async function withHost(store: AccountStore, rows: ResetLinkRow[], now: Date): Promise<ResetLinkRow[]> {
  const names = await store.usernames([...new Set(rows.map((r) => r.user_id))]);
  for (const r of rows) {
    r.username = names.get(r.user_id) ?? null;
    if (linkState(r, now) === 'valid' && (await store.reset.hostState(r.user_id, r.token_hash, now)) === 'gone') r.gone = true;
  }
  return rows;
}

function normalise(r: ResetLinkRow): ResetLinkRow {
  r.id = Number(r.id);
  r.user_id = Number(r.user_id);
  r.superseded_by_id = r.superseded_by_id === null ? null : Number(r.superseded_by_id);
  r.outbox_id = r.outbox_id === null ? null : Number(r.outbox_id);
  // Revoked because its message did not go out: this link was never delivered, whatever a later retry
  // of the same outbox row (carrying a fresh link) achieved or is about to; a refused row stays 'failed'.
  if (r.revoked_reason?.startsWith('undelivered') && r.delivery !== 'failed') {
    r.delivery = 'not_sent';
    r.delivery_detail = r.revoked_reason.replace(/^undelivered:?\s*/, '') || r.delivery_detail;
  }
  return r;
}

/** A user's reset links, newest first. */
export async function listResetLinks(store: AccountStore, userId: number, now: Date, limit = 1000): Promise<ResetLinkRow[]> {
  const rows = (await linkQuery(store.knex).where('t.user_id', userId).orderBy('t.id', 'desc').limit(limit)) as ResetLinkRow[];
  return withHost(store, rows.map(normalise), now);
}

/** valid | used | revoked | expired at `now` (used and revoked say more than expiry, so they win). */
export function linkState(t: Pick<ResetLinkRow, 'used_at' | 'revoked_at' | 'expires_at'> & { gone?: boolean }, now: Date): 'valid' | 'used' | 'revoked' | 'expired' {
  if (t.used_at || t.gone) return 'used';
  if (t.revoked_at) return 'revoked';
  // pg reads an expiry of 'infinity' as the number Infinity, not a Date.
  if (Number(t.expires_at) <= now.getTime()) return 'expired';
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
export async function checkResetLink(store: AccountStore, config: Config, input: string, now: Date): Promise<CheckResult> {
  const r = await check(store, config, input, now);
  // One key order for every reason: CONTRACT's four, then the link id.
  return { valid: r.valid, reason: r.reason, user: r.user, detail: r.detail, linkId: r.linkId };
}

async function check(store: AccountStore, config: Config, input: string, now: Date): Promise<CheckResult> {
  const db = store.knex;
  const parsed = parseLinkOrToken(input, store.reset.format);
  if (!parsed.ok) return { valid: false, reason: 'malformed', user: null, detail: parsed.detail, linkId: null };
  const digest = store.reset.digest(parsed.raw);
  const rows = await withHost(store, ((await linkQuery(db).where('t.token_hash', digest)) as ResetLinkRow[]).map(normalise), now);
  const t = rows[0];
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
    const issued = await store.reset.findLive(digest, now);
    if (issued) {
      // Not one of ours: the web application sent it (Devise's own "Forgot password"), and it still works there.
      const name = (await store.usernames([issued.userId])).get(issued.userId) ?? null;
      return { valid: true, reason: null, user: name, linkId: null, detail: `a link the web application sent itself, still valid${right ? ` on ${right}` : ''}` };
    }
    return { valid: false, reason: 'unknown', user: null, linkId: null, detail: 'no reset link with this token was issued here: it was mistyped, cut off, or comes from another system; send a new one with `hmis-admin reset send <user>`' };
  }
  const base = { user: t.username, linkId: t.id };
  const state = linkState(t, now);
  if (state === 'used' && t.gone) {
    return { ...base, valid: false, reason: 'used', detail: `link #${t.id} no longer works: it was used, or the web application has sent a newer link since; send a new one if needed` };
  }
  if (state === 'used') return { ...base, valid: false, reason: 'used', detail: `link #${t.id} was already used at ${when(t.used_at)}; each link works once: send a new one if needed` };
  if (state === 'revoked') return { ...base, valid: false, reason: 'revoked', detail: await revokedDetail(db, t) };
  if (state === 'expired') {
    return { ...base, valid: false, reason: 'expired', detail: `link #${t.id} expired at ${when(t.expires_at)} (sent ${when(t.created_at)}); send a new one with \`hmis-admin reset send ${userArg({ id: t.user_id, username: t.username ?? '' })}\`` };
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
  await requireNativeHost(db, 'redeemResetToken', "reset_password_by_token takes the link hmis-admin sent");
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
