/**
 * Keeping addresses right: `email set` (validate, refuse duplicates, revoke links, tell the old address),
 * `email verify` (a single-use link bound to one address) and its redemption, confirmEmail.
 */
import { userArg } from '../../output/format.js';
import type { Knex } from 'knex';
import type { AppContext } from '../../context.js';
import { UsageError, OperationalError } from '../../errors.js';
import type { LinkMinter, OutgoingMail } from '../../mail/types.js';
import { when } from '../../output/format.js';
import { sanitizeForDisplay } from '../../output/sanitize.js';
import type { Outcome } from '../../output/views.js';
import { quote } from '../../parse.js';
import { fullName, type AccountRow } from '../accounts/accounts.js';
import { maskEmail, writeAudit } from '../accounts/audit.js';
import { requireNativeHost } from '../accounts/host-guard.js';
import { parseEmailAddress, parsePhone } from './email-address.js';
import { cancelQueuedLinkMail, MintRefused, requireUsableAddress, supersededOutcome } from '../links/reset.js';
import { checkAddress } from '../../validate/address.js';
import { storeOn } from '../../store/index.js';
import type { AccountStore } from '../../store/types.js';
import { buildLink, hashToken, requireLinkSite, TOKEN_RE } from '../links/tokens.js';

export const VERIFY_TTL_MS = 24 * 3_600_000;

/** Change (or confirm) an account's address; see CONTRACT `email set`. */
export async function setEmail(
  ctx: AppContext,
  user: AccountRow,
  address: string,
  opts: { phone?: string; verified?: boolean; ticket?: string | null; dryRun?: boolean },
): Promise<Outcome> {
  const checked = checkAddress(address, 'address');
  let phone: string | undefined;
  if (opts.phone !== undefined) {
    const p = parsePhone(opts.phone);
    if (!p.ok) throw new UsageError(`--phone ${quote(opts.phone)} ${p.reason}; e.g. --phone "(555) 123-4567"`);
    phone = p.phone;
  }
  const store = await ctx.store();
  // Devise's case_insensitive_keys (default [:email]) lowercases what the person types and then matches exactly:
  // an address stored with capitals could never sign in or ask for a reset. Devise lowercases all of it; so do we.
  const email = store.kind === 'devise' ? checked.toLowerCase() : checked;
  const who = user.username;
  await refuseDuplicate(store, user, email);
  const changed = user.email !== email;
  // Devise reconfirmable: the new address waits for the person's confirmation; the account keeps the old one until then.
  const waits = changed && !opts.verified && store.reconfirms;
  const alreadyWaiting = waits && user.pending_email === email;
  const phoneChanged = phone !== undefined && phone !== user.phone;
  const verify = Boolean(opts.verified) && !(user.email_verified_at && !changed);
  if ((!changed || alreadyWaiting) && !phoneChanged && !verify) {
    const state = alreadyWaiting ? ' (waiting for the person to confirm it; resend the link with `hmis-admin email verify ' + who + '`)' : user.email_verified_at ? ' (verified)' : '';
    return { user: who, outcome: 'email_set', message: `already ${email}${state}; nothing changed` };
  }
  if (opts.dryRun) {
    const parts = [changed ? (waits ? `ask ${email} to confirm it is the new address` : `set the address to ${email}`) : '', phoneChanged ? `set the phone to ${phone}` : '', verify ? 'mark it verified' : ''].filter(Boolean);
    return { user: who, outcome: 'would_set_email', message: `${parts.join(', ')}${changed ? ', revoke open reset links and tell the old address' : ''}` };
  }
  const now = ctx.clock();
  const ticket = opts.ticket ?? null;
  const oldUsable = changed && user.email && parseEmailAddress(user.email).ok ? user.email : null;
  const notice = oldUsable ? await changeNotice(ctx, user, oldUsable, email, now, waits) : null;
  const confirmation = waits ? await verificationMail(ctx, user, email, ticket) : null;
  const { noticeId, confirmId, revoked } = await store.knex.transaction(async (trx) => {
    // Two admins giving two accounts one address at once: serialise on the address, then re-check.
    // Schema-qualified, operands of exact types: nothing another role planted on the search path runs here (the key is the same).
    await trx.raw('select pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext(?::text)::int8)', [`hmis-email:${email.toLowerCase()}`]);
    await refuseDuplicate(store, user, email, trx);
    if (changed) {
      // Compare-and-set on the address we read: a concurrent change is not silently overwritten.
      const ok = await store.setAddress(trx, user.id, { email, verified: Boolean(opts.verified), phone: phoneChanged ? phone : undefined, expectedEmail: user.email, now });
      if (!ok) throw new OperationalError(`${sanitizeForDisplay(who)}'s address was changed by someone else meanwhile; check it with \`hmis-admin users show ${who}\` and rerun`);
    } else {
      if (verify) await store.markVerified(trx, user.id, now);
      if (phoneChanged) await store.setPhone(trx, user.id, phone!, now);
    }
    let revoked = 0;
    if (changed) revoked = await revokeForAddressChange(trx, store, user.id, now);
    await writeAudit(trx, {
      actor: ctx.config.actor,
      action: 'email.set',
      userId: user.id,
      ticket,
      details: {
        from: maskEmail(user.email),
        to: maskEmail(email),
        ...(phoneChanged ? { phoneChanged: true } : {}),
        verified: changed ? Boolean(opts.verified) : verify || Boolean(user.email_verified_at),
        ...(waits ? { awaitsConfirmation: true } : {}),
        ...(changed ? { linksRevoked: revoked } : {}),
      },
    });
    const { enqueueMail } = await import('../../mail/outbox.js');
    const noticeId = notice ? await enqueueMail(trx, { ...notice, ticket }) : null;
    const confirmId = confirmation ? await enqueueMail(trx, confirmation) : null;
    if (confirmId !== null) await writeAudit(trx, { actor: ctx.config.actor, action: 'email.verify_sent', userId: user.id, ticket, details: { to: maskEmail(email), outboxId: confirmId } });
    return { noticeId, confirmId, revoked };
  });

  const parts = [
    changed
      ? waits
        ? `${email} waits for confirmation: the account keeps ${user.email ?? 'no address'} until the person follows the link sent to ${email}`
        : `address set to ${email}${opts.verified ? ' (verified)' : ' (not verified yet)'}`
      : `address stays ${email}`,
  ];
  if (phoneChanged) parts.push(`phone set to ${phone}`);
  if (!changed && verify) parts.push('marked verified');
  if (revoked) parts.push(`${revoked} open link(s) revoked`);
  const { deliverOutbox } = await import('../../mail/outbox.js');
  const sent = new Map((await deliverOutbox(ctx, { ids: [noticeId, confirmId].filter((x): x is number => x !== null) })).map((r) => [r.id, r]));
  const how = (id: number) => {
    const r = sent.get(id);
    return r?.outcome === 'sent' ? `sent${r.emlPath ? ` (${r.emlPath})` : ''}` : `${r?.outcome ?? 'queued'}${r?.detail ? `: ${r.detail}` : ''}`;
  };
  if (confirmId !== null) parts.push(`confirmation link to ${email}: ${how(confirmId)}`);
  if (noticeId !== null) parts.push(`notice to the old address ${user.email}: ${how(noticeId)}`);
  else if (changed && user.email) parts.push('the old address was not usable, so no notice was sent to it');
  if (changed && !opts.verified && !waits) parts.push(`confirm it with \`hmis-admin email verify ${userArg(user)}\``);
  return { user: who, outcome: 'email_set', message: parts.join('; ') };
}

async function refuseDuplicate(store: AccountStore, user: AccountRow, email: string, trx?: Knex.Transaction): Promise<void> {
  const taken = await duplicateOf(store, user, email, trx);
  if (taken) throw new UsageError(taken);
}

/** Why another account's address cannot be `user`'s too (naming that account), or null when it is free. */
async function duplicateOf(store: AccountStore, user: AccountRow, email: string, trx?: Knex.Transaction): Promise<string | null> {
  const [other] = await store.addressOwners(email, user.id, trx);
  if (!other) return null;
  const held = other.deleted
    ? `the address of the deleted account ${sanitizeForDisplay(other.username)} (#${other.id}), whose row the web application keeps`
    : other.pending
      ? `waiting for ${sanitizeForDisplay(other.username)} (#${other.id}) to confirm it as their new address`
      : `the address of ${sanitizeForDisplay(other.username)} (#${other.id})`;
  return `${email} is already ${held}; each account needs its own address: give ${sanitizeForDisplay(user.username)} a different one`;
}

/**
 * What `email set` would refuse about `raw` as `user`'s address — its form, or another account using it —
 * or true; for a prompt's validate, so the question is asked again instead of the fix failing later.
 */
export async function addressProblem(store: AccountStore, user: AccountRow, raw: string): Promise<true | string> {
  const p = parseEmailAddress(raw);
  if (!p.ok) return `${quote(raw)} ${p.reason}; give one plain address such as jane.doe@agency.org`;
  return (await duplicateOf(store, user, p.address)) ?? true;
}

/** Revoke everything an old address could still use: reset links (and the host's live one), verification links, queued link mail. */
async function revokeForAddressChange(trx: Knex.Transaction, store: AccountStore, userId: number, now: Date): Promise<number> {
  const resets = (await trx('password_reset_tokens')
    .where('user_id', userId)
    .whereNull('used_at')
    .whereNull('revoked_at')
    .update({ revoked_at: now, revoked_reason: 'email_changed' })
    .returning('token_hash')) as Array<{ token_hash: string }>;
  for (const r of resets) await store.reset.deactivate(trx, userId, r.token_hash);
  const verifies = await trx('email_verification_tokens').where('user_id', userId).whereNull('used_at').whereNull('revoked_at').update({ revoked_at: now });
  // Queued reset/verify mail to the old address would mint a fresh link at its next attempt: cancel it.
  await cancelQueuedLinkMail(trx, userId, ['reset', 'verify'], 'the account email address changed');
  return resets.length + Number(verifies);
}

async function changeNotice(ctx: AppContext, user: AccountRow, oldAddress: string, newAddress: string, now: Date, waits: boolean) {
  const { renderMail, senderAddress } = await import('../../mail/compose.js');
  const sender = senderAddress(ctx.config);
  const day = now.toISOString().slice(0, 10);
  const body = renderMail({
    greeting: `Hello ${fullName(user) || user.username},`,
    paragraphs: waits
      ? [
          `On ${day} an HMIS administrator asked to change the email address of your HMIS account "${user.username}" from this address to ${maskEmail(newAddress)}.`,
          'The change takes effect when the new address is confirmed; reset links sent here before no longer work.',
        ]
      : [
          `The email address of your HMIS account "${user.username}" was changed on ${day} by an HMIS administrator, from this address to ${maskEmail(newAddress)}.`,
          'Password reset links are now sent to the new address only; links sent here before no longer work.',
        ],
    after: ['If you did not ask for this change, contact your HMIS administrator right away.'],
    senderHint: sender,
  });
  return { kind: 'notice' as const, userId: user.id, to: oldAddress, subject: 'Your HMIS email address was changed', text: body.text, html: body.html, params: { reason: 'email_changed' } };
}

/** The address a confirmation link for this account would confirm: a pending new one first, else an unconfirmed current one. */
function addressToConfirm(user: AccountRow): string | null {
  if (user.pending_email) return user.pending_email;
  return user.email_verified_at ? null : user.email;
}

/** The queued confirmation mail (the link is minted at delivery) for `to`. */
async function verificationMail(ctx: AppContext, user: AccountRow, to: string, ticket: string | null): Promise<OutgoingMail> {
  const { renderMail, senderAddress } = await import('../../mail/compose.js');
  const body = renderMail({
    greeting: `Hello ${fullName(user) || user.username},`,
    paragraphs: [`Please confirm that ${to} is the right address for your HMIS account "${user.username}". Password reset links will be sent here. The link works once and expires in 24 hours.`],
    link: { label: 'Confirm this address' },
    after: ['If you do not have an HMIS account, ignore this message.'],
    senderHint: senderAddress(ctx.config),
  });
  return { kind: 'verify', userId: user.id, to, subject: 'Confirm your HMIS email address', text: body.text, html: body.html, ticket, params: { email: to, ttlMs: VERIFY_TTL_MS } };
}

/** Send a verification link to the account's address (a pending new one first); see CONTRACT `email verify`. */
export async function sendVerification(ctx: AppContext, user: AccountRow, opts: { ticket?: string | null; dryRun?: boolean }): Promise<Outcome> {
  const site = requireLinkSite(ctx.config, 'verify');
  const current = requireUsableAddress(user);
  const who = user.username;
  const store = await ctx.store();
  const to = addressToConfirm(user);
  if (!to || (!store.reconfirms && store.kind !== 'native')) {
    const on = user.email_verified_at ? ` on ${when(user.email_verified_at)}` : '';
    return { user: who, outcome: 'already_verified', message: `${current} was already verified${on}; nothing sent` };
  }
  await (await import('../../mail/transport.js')).checkTransportConfig(ctx.config);
  if (site.placeholder) ctx.out.warn(`HMIS_SITE_URL is not set: the link points at the placeholder ${site.siteUrl}; set HMIS_SITE_URL to your HMIS site`);
  if (opts.dryRun) return { user: who, outcome: 'would_send_verification', message: `a confirmation link for ${site.siteUrl}${site.path}, valid 24h, to ${to}` };
  const [{ senderAddress }, { enqueueMail, deliverOutbox }] = await Promise.all([import('../../mail/compose.js'), import('../../mail/outbox.js')]);
  const ticket = opts.ticket ?? null;
  const mail = await verificationMail(ctx, user, to, ticket);
  const id = await store.knex.transaction(async (trx) => {
    await cancelQueuedLinkMail(trx, user.id, ['verify'], 'a newer confirmation link was sent');
    const id = await enqueueMail(trx, mail);
    await writeAudit(trx, { actor: ctx.config.actor, action: 'email.verify_sent', userId: user.id, ticket, details: { to: maskEmail(to), outboxId: id } });
    return id;
  });
  const [r] = await deliverOutbox(ctx, { ids: [id] });
  const outcome = r?.outcome ?? 'queued';
  if (outcome === 'superseded') return supersededOutcome(who, 'confirmation link');
  if (outcome === 'sent') return { user: who, outcome: 'verification_sent', message: `confirmation link sent to ${to}, valid 24h${r?.emlPath ? `; written to ${r.emlPath}` : ''}; it comes from ${senderAddress(ctx.config)}` };
  return { user: who, outcome, message: `${outcome === 'queued' ? 'the relay did not take the message yet' : 'the relay refused the message'}${r?.detail ? `: ${r.detail}` : ''}; no valid link was left behind` };
}

/**
 * The LinkMinter for kind 'verify': a token bound to the address the mail goes to (the host takes it only while
 * the account still waits for that address); older ones are revoked; audited `email.verify_minted`. The link is
 * built from the delivering run's configuration, never the row.
 */
export const mintVerifyLink: LinkMinter = async (db, row, now, config) => {
  const p = row.params ?? {};
  const email = String(p.email ?? '');
  if (!email || row.user_id === null) throw new MintRefused('the queued verification mail lacks its link parameters');
  // A UsageError here is this run's configuration, not the message: the outbox leaves the row pending.
  const site = requireLinkSite(config, 'verify');
  const store = await storeOn(db, config, () => now);
  const raw = store.verify.newRaw();
  const outboxId = Number(row.id);
  const userId = row.user_id;
  const tokenId = await db.transaction(async (trx) => {
    await store.lockRow(trx, userId);
    if (!(await store.verify.activate(trx, userId, email, raw, now))) throw new MintRefused('the account no longer waits for this address; no link was minted');
    await trx('email_verification_tokens').where('user_id', userId).whereNull('used_at').whereNull('revoked_at').update({ revoked_at: now });
    const [ins] = (await trx('email_verification_tokens')
      .insert({ user_id: userId, email, token_hash: hashToken(raw), created_at: now, expires_at: new Date(now.getTime() + VERIFY_TTL_MS), outbox_id: outboxId })
      .returning('id')) as Array<{ id: number | string }>;
    const id = Number(ins!.id);
    await writeAudit(trx, { actor: config.actor, action: 'email.verify_minted', userId, ticket: row.ticket, details: { linkId: id, outboxId } });
    return id;
  });
  return {
    url: buildLink(site, raw, store.verify.format),
    revoke: async (rdb: Knex, reason: string) => {
      await rdb.transaction(async (trx) => {
        const n = await trx('email_verification_tokens').where('id', tokenId).whereNull('used_at').whereNull('revoked_at').update({ revoked_at: now });
        if (Number(n) > 0) {
          await store.verify.deactivate(trx, userId, raw);
          const details = { linkId: tokenId, outboxId, reason: sanitizeForDisplay(reason).slice(0, 280) };
          await writeAudit(trx, { actor: config.actor, action: 'email.verify_revoked_undelivered', userId, ticket: row.ticket, details });
        }
      });
    },
  };
};

export type ConfirmResult =
  | { ok: true; userId: number; username: string; email: string }
  | { ok: false; reason: 'malformed' | 'unknown' | 'used' | 'revoked' | 'expired' | 'email_changed' | 'busy' };

// Deadlock, serialization failure, lock not available: the statement lost a race and may simply be rerun.
const RETRYABLE = new Set(['40P01', '40001', '55P03']);
const CONFIRM_TRIES = 3;

/**
 * Confirm an address for the web application: the token must be unused, unexpired, unrevoked and bound to
 * the account's current address, checked and consumed under the account's row lock (the Devise GHSA-57hq
 * race). A lost lock race is retried; it never reaches the caller as a raw database error ('busy' at worst).
 */
export async function confirmEmail(db: Knex, rawToken: string, now: Date = new Date()): Promise<ConfirmResult> {
  await requireNativeHost(db, 'confirmEmail', 'confirm_by_token moves unconfirmed_email into email');
  if (typeof rawToken !== 'string' || !TOKEN_RE.test(rawToken)) return { ok: false, reason: 'malformed' };
  const hash = hashToken(rawToken);
  for (let attempt = 1; ; attempt++) {
    try {
      return await confirmOnce(db, hash, now);
    } catch (err) {
      if (!RETRYABLE.has(String((err as { code?: unknown }).code))) throw err;
      if (attempt >= CONFIRM_TRIES) return { ok: false, reason: 'busy' };
    }
  }
}

async function confirmOnce(db: Knex, hash: string, now: Date): Promise<ConfirmResult> {
  const found = (await db('email_verification_tokens').where('token_hash', hash).first('user_id')) as { user_id: number } | undefined;
  if (!found) return { ok: false, reason: 'unknown' };
  const done = await db.transaction(async (trx) => {
    // The account row first, then its tokens: the order email set and the minters lock in, so no deadlock.
    const user = (await trx('users').where('id', found.user_id).forUpdate().first('id', 'username', 'email')) as
      | { id: number; username: string; email: string | null }
      | undefined;
    if (!user?.email) return undefined;
    // Under the row lock the address cannot change: consume the token only if it is bound to it.
    const [token] = (await trx('email_verification_tokens')
      .where({ token_hash: hash, user_id: user.id, email: user.email })
      .whereNull('used_at')
      .whereNull('revoked_at')
      .where('expires_at', '>', now)
      .update({ used_at: now })
      .returning('id')) as Array<{ id: number | string }>;
    if (!token) return undefined;
    await trx('users').where('id', user.id).update({ email_verified_at: now, updated_at: now });
    await trx('email_verification_tokens').where('user_id', user.id).whereNull('used_at').whereNull('revoked_at').update({ revoked_at: now });
    await writeAudit(trx, { actor: 'hmis-web', action: 'email.confirmed', userId: Number(user.id), details: { email: maskEmail(user.email), linkId: Number(token.id) } });
    return { userId: Number(user.id), username: user.username, email: user.email };
  });
  if (done) return { ok: true, ...done };
  const t = (await db('email_verification_tokens as v').join('users as u', 'u.id', 'v.user_id').where('v.token_hash', hash).first('v.used_at', 'v.revoked_at', 'v.expires_at', 'v.email', 'u.email as current')) as
    | { used_at: Date | null; revoked_at: Date | null; expires_at: Date; email: string; current: string | null }
    | undefined;
  if (!t) return { ok: false, reason: 'unknown' };
  if (t.used_at) return { ok: false, reason: 'used' };
  if (t.revoked_at) return { ok: false, reason: 'revoked' };
  if (t.email !== t.current) return { ok: false, reason: 'email_changed' };
  return { ok: false, reason: Number(t.expires_at) <= now.getTime() ? 'expired' : 'used' };
}
