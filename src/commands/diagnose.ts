/** `diagnose <user>`: the helpdesk checklist for "my reset link does not work"; exit 5 when a check fails. */
import type { AppContext } from '../context.js';
import { resolveUser } from '../services/accounts.js';
import { diagnoseAccount, type Diagnosis } from '../services/diagnose.js';

export async function diagnose(user: string, _opts: unknown, ctx: AppContext): Promise<Diagnosis & { exitCode: number }> {
  const db = await ctx.db();
  const row = await resolveUser(db.knex, user);
  const result = await diagnoseAccount(db.knex, row, { config: ctx.config, embedded: db.kind === 'pglite', now: ctx.clock() });
  return { ...result, exitCode: result.checks.some((c) => c.status === 'fail') ? 5 : 0 };
}
