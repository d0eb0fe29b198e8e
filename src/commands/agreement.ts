/** `agreement show <user>` and `agreement sign <user> --by user|supervisor|director [--date D]`. */
import type { AppContext } from '../context.js';
import { UsageError } from '../errors.js';
import type { ResultStream } from '../output/lockout-views.js';
import { parseDate, quote } from '../parse.js';
import { resolveUser } from '../services/accounts.js';
import { showAgreement, signAgreement, type AgreementView } from '../services/agreements.js';
import { SIGNERS, type Signer } from '../services/detail.js';

/** The three signatures, what is missing, and the commands that record it. */
export async function show(user: string, _opts: unknown, ctx: AppContext): Promise<AgreementView> {
  const db = await ctx.db();
  return showAgreement(db.knex, await resolveUser(db.knex, user), ctx.clock());
}

export interface SignOpts {
  by?: string;
  date?: string;
  dryRun?: boolean;
  ticket?: string;
}

/** Record one signature; the third renews the account. */
export async function sign(user: string, opts: SignOpts, ctx: AppContext): Promise<ResultStream> {
  if (!opts.by || !(SIGNERS as string[]).includes(opts.by)) {
    throw new UsageError(`--by ${opts.by === undefined ? 'is required' : `${quote(opts.by)} is not a signer`}; use --by user, --by supervisor or --by director`);
  }
  const at = opts.date === undefined ? undefined : parseDate(opts.date, '--date');
  const db = await ctx.db();
  const row = await resolveUser(db.knex, user);
  return { single: true, results: [await signAgreement(ctx, row, { by: opts.by as Signer, at, ticket: opts.ticket ?? null, dryRun: opts.dryRun })] };
}
