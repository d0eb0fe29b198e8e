/**
 * Sending reset links. The outbox row holds only a template with {{link}}; the token is minted by
 * mintResetLink inside the delivery attempt, so the raw value lives only in memory and in the sent mail.
 */
import type { Knex } from 'knex';
import type { AppContext } from '../../context.js';
import { UsageError } from '../../errors.js';
import { cancelPending } from '../../db/outbox.js';
import { MintRefused, MintSuperseded, type LinkMinter } from '../../mail/types.js';
import { cancelIfSuperseded, hasNewer, SUPERSEDED_ERROR } from '../../db/outbox-supersede.js';
import { userArg, when } from '../../output/format.js';
import { sanitizeForDisplay } from '../../output/sanitize.js';
import type { Outcome } from '../../output/views.js';
import { formatDuration } from '../../parse.js';
import { fullName, type AccountRow } from '../accounts/accounts.js';
import { maskEmail, writeAudit } from '../accounts/audit.js';
import { currentAgreement, missingSignatures, type Signer } from '../accounts/detail.js';
import { parseEmailAddress } from '../email/email-address.js';
import { signCommand } from '../accounts/lockout.js';
import { storeOn } from '../../store/index.js';
import type { AccountStore } from '../../store/types.js';
import { buildLink, requireLinkSite, requireResetSecret } from './tokens.js';

export const MIN_TTL_MS = 5 * 60_000;
export const MAX_TTL_MS = 7 * 86_400_000;

/** In-memory hand-over of a minted link to `reset send --print-link`, keyed by outbox id; never stored. */
const linkObservers = new Map<number, (url: string, tokenId: number) => void>();

export { MintRefused };

/**
 * The LinkMinter for kind 'reset': in one short transaction insert the new token (hash only), revoke the
 * user's older unused links as superseded by it and audit `reset.minted`. The link is built from the
 * delivering run's configuration (requireLinkSite), never from the row. A refused or retried send
 * revokes what it minted, audited `reset.revoked_undelivered` in the same transaction.
 */
export const mintResetLink: LinkMinter = async (db, row, now, config) => {
  const p = row.params ?? {};
  const ttlMs = Number(p.ttlMs);
  if (!(ttlMs >= MIN_TTL_MS && ttlMs <= MAX_TTL_MS)) throw new MintRefused('the queued reset mail lacks its link lifetime');
  if (row.user_id === null) throw new MintRefused('the queued reset mail names no account');
  // A UsageError here is this run's configuration, not the message: the outbox leaves the row pending.
  const site = requireLinkSite(config, 'reset');
  const store = await storeOn(db, config, () => now);
  const raw = store.reset.newRaw();
  const hash = store.reset.digest(raw);
  const outboxId = Number(row.id);
  const userId = row.user_id;
  const tokenId = await db.transaction(async (trx) => {
    // Lock the account row: an email change either commits first (and we refuse) or revokes what we mint.
    const user = await store.lockRow(trx, userId);
    if (!user?.email || user.email.toLowerCase() !== row.to_address.toLowerCase()) {
      throw new MintRefused('the account no longer has this address; no link was minted');
    }
    // Under the account lock every send takes: a newer reset message replaces this one, which is never delivered.
    if (await hasNewer(trx, userId, 'reset', outboxId)) throw new MintSuperseded(SUPERSEDED_ERROR);
    const [ins] = (await trx('password_reset_tokens')
      .insert({
        user_id: row.user_id,
        token_hash: hash,
        created_at: now,
        expires_at: new Date(now.getTime() + ttlMs),
        site_url: `${site.siteUrl}${site.path}`,
        sent_to: row.to_address,
        outbox_id: outboxId,
        created_by: typeof p.actor === 'string' ? p.actor : null,
        ticket: row.ticket,
      })
      .returning('id')) as Array<{ id: number | string }>;
    const id = Number(ins!.id);
    await trx('password_reset_tokens')
      .where('user_id', row.user_id!)
      .whereNot('id', id)
      .whereNull('used_at')
      .whereNull('revoked_at')
      .update({ revoked_at: now, revoked_reason: 'superseded', superseded_by_id: id });
    // Devise keeps one live digest per account: this link replaces any other, ours or the application's.
    await store.reset.activate(trx, userId, hash, now);
    await writeAudit(trx, { actor: config.actor, action: 'reset.minted', userId: row.user_id, ticket: row.ticket, details: { linkId: id, outboxId } });
    return id;
  });
  const url = buildLink(site, raw, store.reset.format);
  linkObservers.get(outboxId)?.(url, tokenId);
  return {
    url,
    revoke: async (rdb: Knex, reason: string) => {
      const why = sanitizeForDisplay(reason).slice(0, 280);
      await rdb.transaction(async (trx) => {
        const n = await trx('password_reset_tokens')
          .where('id', tokenId)
          .whereNull('used_at')
          .whereNull('revoked_at')
          .update({ revoked_at: now, revoked_reason: `undelivered: ${why}`.slice(0, 300) });
        if (Number(n) > 0) {
          await store.reset.deactivate(trx, userId, hash);
          await writeAudit(trx, { actor: config.actor, action: 'reset.revoked_undelivered', userId: row.user_id, ticket: row.ticket, details: { linkId: tokenId, outboxId, reason: why } });
        }
      });
    },
  };
};

/**
 * Cancel the user's still-queued link mail of these kinds: a retry of an older message would otherwise
 * mint a link that supersedes the newer one the user just received (or go to an address no longer theirs).
 */
export async function cancelQueuedLinkMail(trx: Knex.Transaction, userId: number, kinds: Array<'reset' | 'verify'>, why: string): Promise<number> {
  return cancelPending(trx, userId, kinds, why);
}

/**
 * A send whose message a newer one cancelled before it went out (concurrent sends for one person): it will
 * never be retried, so the helpdesk must not tell the user to wait for it.
 */
export function supersededOutcome(who: string, what: 'reset link' | 'confirmation link'): Outcome {
  const list = what === 'reset link' ? `hmis-admin reset list ${who}` : `hmis-admin users show ${who}`;
  return {
    user: who,
    outcome: 'superseded',
    message: `a newer ${what} for ${who} was sent before this one went out, so this message was cancelled and nothing will be retried for it; the newer link is the one to use (see \`${list}\`)`,
  };
}

/** The unlock command for a locked account, as the refusal should name it. */
export async function unlockHint(store: AccountStore, user: AccountRow): Promise<string> {
  const who = sanitizeForDisplay(user.username);
  if (user.lock_reason === 'agreement_expired') {
    // A completed agreement is the old term: the renewal needs all three signatures again.
    const pending = await currentAgreement(store.knex, user.id);
    const missing = pending && !pending.completed_at ? missingSignatures(pending) : (['user', 'supervisor', 'director'] as Signer[]);
    return `${who}'s account is locked because the user agreement expired; a reset link would not help until it is renewed: record the missing signatures (${missing.join(', ')}) with ${signCommand(userArg(user), missing)}`;
  }
  const why = user.lock_reason === 'failed_logins' ? 'after failed logins' : user.lock_reason === 'admin' ? 'by an administrator' : '';
  return `${who}'s account is locked ${why}; a reset link would not help until it is unlocked with \`hmis-admin unlock ${userArg(user)}\``.replace('  ', ' ');
}

/** The address a link may go to, or the UsageError telling how to fix it. */
export function requireUsableAddress(user: AccountRow): string {
  const who = sanitizeForDisplay(user.username);
  if (!user.email) throw new UsageError(`${who} has no email address, so no link can be sent; add one with \`hmis-admin email set ${userArg(user)} <address>\``);
  const parsed = parseEmailAddress(user.email);
  if (!parsed.ok) {
    throw new UsageError(`${who}'s email address ${JSON.stringify(sanitizeForDisplay(user.email))} ${parsed.reason}; correct it with \`hmis-admin email set ${userArg(user)} <address>\``);
  }
  return user.email;
}

/** Send one reset link (see CONTRACT: `reset send`). Refusals throw UsageError and change nothing. */
export async function sendResetLink(
  ctx: AppContext,
  user: AccountRow,
  opts: { ttlMs?: number; printLink?: boolean; ticket?: string | null; dryRun?: boolean },
): Promise<Outcome & { link?: string }> {
  const site = requireLinkSite(ctx.config, 'reset');
  requireResetSecret(ctx.config);
  const to = requireUsableAddress(user);
  // Everything the delivery needs from the configuration is checked before the first write.
  await (await import('../../mail/transport.js')).checkTransportConfig(ctx.config);
  const store = await ctx.store();
  const db = store.knex;
  if (user.locked_at) throw new UsageError(await unlockHint(store, user));
  if (user.invitation_pending) {
    throw new UsageError(`${sanitizeForDisplay(user.username)} has not accepted the invitation to the web application yet; a reset link would bypass it: resend the invitation from the application instead`);
  }
  // Devise decides a link's lifetime itself (reset_password_within = HMIS_RESET_TTL): another --ttl would be a promise it does not keep.
  if (store.kind !== 'native' && opts.ttlMs !== undefined && opts.ttlMs !== ctx.config.resetTtlMs) {
    throw new UsageError(`--ttl ${formatDuration(opts.ttlMs)}: the web application decides how long its reset links work (reset_password_within, HMIS_RESET_TTL=${formatDuration(ctx.config.resetTtlMs)}); leave --ttl out`);
  }
  const ttlMs = opts.ttlMs ?? ctx.config.resetTtlMs;
  if (!(ttlMs >= MIN_TTL_MS && ttlMs <= MAX_TTL_MS)) throw new UsageError(`--ttl ${formatDuration(ttlMs)} is out of range; give a lifetime from 5m to 7d (short links are safer)`);
  const who = user.username;
  const base = `${site.siteUrl}${site.path}`;
  if (site.placeholder) ctx.out.warn(`HMIS_SITE_URL is not set: the link points at the placeholder ${site.siteUrl}; set HMIS_SITE_URL to your HMIS site`);
  if (opts.dryRun) {
    return { user: who, outcome: 'would_send', message: `a reset link for ${base}, valid ${formatDuration(ttlMs)}, to ${to}` };
  }

  const [{ renderMail, senderAddress }, { enqueueMail, deliverOutbox }] = await Promise.all([import('../../mail/compose.js'), import('../../mail/outbox.js')]);
  const sender = senderAddress(ctx.config);
  const body = renderMail({
    greeting: `Hello ${fullName(user) || user.username},`,
    paragraphs: [
      `An HMIS administrator started a password reset for your account "${user.username}". Use the link below to choose a new password. It works once and expires in ${formatDuration(ttlMs)}.`,
      `The link opens ${site.siteUrl}. Only use it on that site.`,
    ],
    link: { label: 'Choose a new password' },
    after: ['If you did not ask for a reset, ignore this message and tell your HMIS administrator; your password stays as it is.'],
    senderHint: sender,
  });
  const ticket = opts.ticket ?? null;
  const outboxId = await db.transaction(async (trx) => {
    // The account lock orders this send against the others for the person (see the check after delivery).
    await store.lockRow(trx, user.id);
    await cancelQueuedLinkMail(trx, user.id, ['reset'], 'a newer reset link was sent');
    const id = await enqueueMail(trx, {
      kind: 'reset',
      userId: user.id,
      to,
      subject: 'Reset your HMIS password',
      text: body.text,
      html: body.html,
      // No site here: the minter builds the link from the configuration of the run that delivers it.
      params: { ttlMs, actor: ctx.config.actor },
      ticket,
    });
    await writeAudit(trx, {
      actor: ctx.config.actor,
      action: 'reset.send',
      userId: user.id,
      ticket,
      details: { to: maskEmail(to), ttl: formatDuration(ttlMs), site: base, outboxId: id },
    });
    return id;
  });

  let printed: { url: string; tokenId: number } | undefined;
  if (opts.printLink) linkObservers.set(outboxId, (url, tokenId) => (printed = { url, tokenId }));
  let result;
  try {
    [result] = await deliverOutbox(ctx, { ids: [outboxId] });
  } finally {
    linkObservers.delete(outboxId);
  }
  let outcome = result?.outcome ?? 'queued';
  // Deferred: the row is pending again, but a newer send may have run meanwhile (and found it 'sending',
  // so left it alone). Only the newest may stay pending: under the account lock, cancel this one if so.
  if (outcome === 'queued') {
    const cancelled = await db.transaction(async (trx) => {
      await store.lockRow(trx, user.id);
      return cancelIfSuperseded(trx, user.id, 'reset', outboxId);
    });
    if (cancelled) outcome = 'superseded';
  }
  const detail = result?.detail ? `: ${result.detail}` : '';
  if (outcome === 'sent') {
    const until = when(new Date(ctx.clock().getTime() + ttlMs));
    const where = result?.emlPath ? `; written to ${result.emlPath}` : '';
    const out: Outcome & { link?: string } = {
      user: who,
      outcome: 'sent',
      message: `reset link for ${base} sent to ${to}, valid ${formatDuration(ttlMs)} (until about ${until})${where}; it comes from ${sender}: if it does not arrive, look in the spam folder`,
    };
    if (printed) {
      await db.transaction((trx) =>
        writeAudit(trx, { actor: ctx.config.actor, action: 'reset.link_printed', userId: user.id, ticket, details: { linkId: printed!.tokenId, outboxId } }),
      );
      out.link = printed.url;
    }
    return out;
  }
  if (outcome === 'superseded') return { ...supersededOutcome(userArg(user), 'reset link'), user: who };
  if (outcome === 'queued') {
    return { user: who, outcome: 'queued', message: `the relay did not take the message yet${detail}; no valid link was left behind; \`hmis-admin outbox flush\` retries with a fresh link` };
  }
  return { user: who, outcome: 'failed', message: `the relay refused the message to ${to}${detail}; no valid link was left behind; check the address with \`hmis-admin email set ${userArg(user)} <address>\`` };
}
