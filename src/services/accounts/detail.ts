/** Everything `users show` tells about one account: status, agreement, recent links, recent audit. */
import type { Knex } from 'knex';
import { iso } from '../../output/format.js';
import type { AccountStore } from '../../store/types.js';
import { accountJson, type AccountRow } from './accounts.js';
import { auditJson, pageAudit } from './audit.js';

export type Signer = 'user' | 'supervisor' | 'director';
export const SIGNERS: Signer[] = ['user', 'supervisor', 'director'];

export interface AgreementRow {
  id: number;
  user_id: number;
  term_started_at: Date;
  user_signed_at: Date | null;
  supervisor_signed_at: Date | null;
  director_signed_at: Date | null;
  completed_at: Date | null;
  renewed_until: Date | null;
}

export interface AccountDetail {
  account: Record<string, unknown>;
  supervisor: string | null;
  agreement: Record<string, unknown> | null;
  recentResets: Array<Record<string, unknown>>;
  recentAudit: Array<Record<string, unknown>>;
}

/** The renewal waiting for signatures, or the latest completed one. */
export async function currentAgreement(db: Knex, userId: number): Promise<AgreementRow | undefined> {
  return (await db('user_agreements')
    .where('user_id', userId)
    .orderByRaw('completed_at is null desc, created_at desc, id desc')
    .first()) as AgreementRow | undefined;
}

export function missingSignatures(row: AgreementRow | undefined): Signer[] {
  if (!row) return [...SIGNERS];
  if (row.completed_at) return [];
  return SIGNERS.filter((s) => !row[`${s}_signed_at`]);
}

export function agreementJson(row: AgreementRow | undefined, account: AccountRow): Record<string, unknown> {
  return {
    status: !row ? 'none' : row.completed_at ? 'complete' : 'pending',
    expiresAt: iso(account.account_expires_at),
    termStartedAt: iso(row?.term_started_at),
    signatures: {
      user: iso(row?.user_signed_at),
      supervisor: iso(row?.supervisor_signed_at),
      director: iso(row?.director_signed_at),
    },
    missingSignatures: row?.completed_at ? [] : missingSignatures(row),
    completedAt: iso(row?.completed_at),
  };
}

/** A reset link's state at `now`, as people ask about it. */
export function tokenState(t: { used_at: Date | null; revoked_at: Date | null; expires_at: Date }, now: Date): string {
  if (t.used_at) return 'used';
  if (t.revoked_at) return 'revoked';
  if (Number(t.expires_at) <= now.getTime()) return 'expired';
  return 'valid';
}

export async function accountDetail(store: AccountStore, row: AccountRow, now: Date): Promise<AccountDetail> {
  const db = store.knex;
  const supervisor = (await store.contacts([row])).get(row.id)?.supervisor;
  const agreement = await currentAgreement(db, row.id);
  const resets = (await db('password_reset_tokens as t')
    .leftJoin('mail_outbox as o', 'o.id', 't.outbox_id')
    .where('t.user_id', row.id)
    .orderBy('t.id', 'desc')
    .limit(5)
    .select('t.id', 't.created_at', 't.expires_at', 't.used_at', 't.revoked_at', 't.revoked_reason', 't.site_url', 'o.status as delivery')) as Array<{
    id: number; created_at: Date; expires_at: Date; used_at: Date | null; revoked_at: Date | null; revoked_reason: string | null; site_url: string; delivery: string | null;
  }>;
  const audit = [];
  for await (const a of pageAudit(store, { userId: row.id }, 10)) audit.push(auditJson(a));
  return {
    account: accountJson(row),
    supervisor: supervisor ? `${supervisor.username} (${supervisor.name})` : null,
    agreement: agreementJson(agreement, row),
    recentResets: resets.map((t) => ({
      id: Number(t.id),
      createdAt: iso(t.created_at),
      expiresAt: iso(t.expires_at),
      usedAt: iso(t.used_at),
      revokedAt: iso(t.revoked_at),
      revokedReason: t.revoked_reason,
      state: tokenState(t, now),
      delivery: t.delivery ?? 'not_sent',
    })),
    recentAudit: audit,
  };
}
