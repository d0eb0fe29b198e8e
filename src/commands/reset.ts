/** `reset send <user>`, `reset list <user>`, `reset check <link-or-token>`. */
import type { AppContext } from '../context.js';
import { UsageError } from '../errors.js';
import type { Outcome } from '../output/views.js';
import { parseDuration } from '../parse.js';
import { resolveUser } from '../services/accounts/accounts.js';
import { MAX_TTL_MS, MIN_TTL_MS, sendResetLink } from '../services/links/reset.js';
import { checkResetLink, listResetLinks, type CheckResult, type ResetLinkRow } from '../services/links/reset-links.js';
import { configuredSite } from '../services/links/tokens.js';

export interface ResetSendOpts {
  ttl?: string;
  printLink?: boolean;
  dryRun?: boolean;
  ticket?: string;
}

export async function send(user: string, opts: ResetSendOpts, ctx: AppContext): Promise<{ results: Array<Outcome & { link?: string }>; exitCode: number }> {
  let ttlMs: number | undefined;
  if (opts.ttl !== undefined) {
    ttlMs = parseDuration(opts.ttl, '--ttl');
    if (ttlMs < MIN_TTL_MS || ttlMs > MAX_TTL_MS) throw new UsageError(`--ttl ${JSON.stringify(opts.ttl)} is out of range; give a lifetime from 5m to 7d (short links are safer)`);
  }
  const row = await resolveUser(await ctx.store(), user);
  const r = await sendResetLink(ctx, row, { ttlMs, printLink: opts.printLink, ticket: opts.ticket ?? null, dryRun: opts.dryRun });
  // A single send the relay refused is an operational failure (exit 1); queued mail is retried by `outbox flush`.
  return { results: [r], exitCode: r.outcome === 'failed' ? 1 : 0 };
}

export async function list(user: string, _opts: unknown, ctx: AppContext): Promise<ResetLinkRow[]> {
  const store = await ctx.store();
  const row = await resolveUser(store, user);
  return listResetLinks(store, row.id, ctx.clock());
}

export async function check(input: string, _opts: unknown, ctx: AppContext): Promise<CheckResult & { exitCode: number }> {
  // The same warning `reset send` gives: on the embedded demo the "right" site is only the placeholder.
  const site = configuredSite(ctx.config, 'reset');
  if (site?.placeholder) ctx.out.warn(`HMIS_SITE_URL is not set: links are checked against the placeholder ${site.siteUrl}, not your HMIS site; set HMIS_SITE_URL to your HMIS site`);
  const r = await checkResetLink(await ctx.store(), ctx.config, input, ctx.clock());
  return { ...r, exitCode: r.valid ? 0 : 5 };
}
