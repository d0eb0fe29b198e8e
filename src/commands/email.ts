/** `email set <user> <address>`, `email verify <user>`, `email check`. */
import type { AppContext } from '../context.js';
import type { Outcome } from '../output/views.js';
import { resolveAgency, resolveUser } from '../services/accounts/accounts.js';
import { setEmail, sendVerification } from '../services/email/email.js';
import { checkEmails, newSummary, type EmailCheckSummary, type EmailProblemRow } from '../services/email/email-check.js';

export interface EmailSetOpts {
  phone?: string;
  verified?: boolean;
  dryRun?: boolean;
  ticket?: string;
}

export async function set(user: string, address: string, opts: EmailSetOpts, ctx: AppContext): Promise<{ results: Outcome[] }> {
  const row = await resolveUser(await ctx.store(), user);
  const r = await setEmail(ctx, row, address, { phone: opts.phone, verified: opts.verified, ticket: opts.ticket ?? null, dryRun: opts.dryRun });
  return { results: [r] };
}

export async function verify(user: string, opts: { dryRun?: boolean; ticket?: string }, ctx: AppContext): Promise<{ results: Outcome[]; exitCode: number }> {
  const row = await resolveUser(await ctx.store(), user);
  const r = await sendVerification(ctx, row, { ticket: opts.ticket ?? null, dryRun: opts.dryRun });
  return { results: [r], exitCode: r.outcome === 'failed' ? 1 : 0 };
}

export interface EmailCheckResult {
  rows: AsyncIterable<EmailProblemRow>;
  /** Complete once `rows` has been read to the end. */
  summary: EmailCheckSummary;
  failIfAny: boolean;
}

/** The rows stream straight to stdout; the presenter decides exit 5 once it has seen them all. */
export async function check(opts: { failIfAny?: boolean; agency?: string }, ctx: AppContext): Promise<EmailCheckResult> {
  const store = await ctx.store();
  const agencyId = opts.agency === undefined ? undefined : await resolveAgency(store, opts.agency);
  const summary = newSummary();
  return { rows: checkEmails(store, { agencyId }, summary), summary, failIfAny: Boolean(opts.failIfAny) };
}
