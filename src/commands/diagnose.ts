/** `diagnose <user>`: the helpdesk checklist for "my reset link does not work"; exit 5 when a check fails. */
import type { AppContext } from '../context.js';
import { resolveUser } from '../services/accounts/accounts.js';
import { diagnoseAccount, type Diagnosis } from '../services/helpdesk/diagnose.js';

export async function diagnose(user: string, _opts: unknown, ctx: AppContext): Promise<Diagnosis & { exitCode: number }> {
  const store = await ctx.store();
  const row = await resolveUser(store, user);
  const result = await diagnoseAccount(store, row, { config: ctx.config, embedded: (await ctx.db()).kind === 'pglite', now: ctx.clock() });
  return { ...result, exitCode: result.checks.some((c) => c.status === 'fail') ? 5 : 0 };
}
