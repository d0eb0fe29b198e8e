/** `demo [--users N]`: realistic agencies and users in every state. */
import type { AppContext, Progress } from '../context.js';
import { UsageError } from '../errors.js';
import { parseCount } from '../parse.js';
import { createDemo, type DemoResult } from '../services/accounts/demo.js';

export interface DemoOpts {
  users?: string;
}

export async function demo(opts: DemoOpts, ctx: AppContext): Promise<DemoResult & { database: string }> {
  const users = parseCount(opts.users ?? '200', '--users', 1, 5_000_000);
  if (ctx.config.schema !== 'native') {
    // The accounts belong to the web application: inventing people in its users table is not this tool's to do.
    throw new UsageError(
      "demo fills hmis-admin's own tables; with HMIS_SCHEMA=devise the accounts are the web application's: create test accounts in the application (e.g. `rails runner`), or try the demo without HMIS_SCHEMA",
    );
  }
  const db = await ctx.db({ create: true }); // demo is one of the two commands that may create the embedded database
  // Drawn at the first batch only: demo data that is already there draws no bar.
  let progress: Progress | undefined;
  const result = await createDemo(db.knex, { users, actor: ctx.config.actor, onProgress: (n) => (progress ??= ctx.out.progress(users, 'demo users')).tick(n), warn: (m) => ctx.out.warn(m) });
  progress?.done();
  return { ...result, database: db.where };
}
