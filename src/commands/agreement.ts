/** `agreement show <user>` and `agreement sign <user> --by user|supervisor|director [--date D]`. */
import type { AppContext } from '../context.js';
import { UsageError } from '../errors.js';
import type { ResultStream } from '../output/lockout-views.js';
import { parseDate, quote } from '../parse.js';
import { resolveUser } from '../services/accounts/accounts.js';
import { showAgreement, signAgreement, type AgreementView } from '../services/accounts/agreements.js';
import { SIGNERS, type Signer } from '../services/accounts/detail.js';

/** The three signatures, what is missing, and the commands that record it. */
export async function show(user: string, _opts: unknown, ctx: AppContext): Promise<AgreementView> {
  const store = await ctx.store();
  return showAgreement(store, await resolveUser(store, user), ctx.clock());
}

export interface SignOpts {
  /** Repeatable: commander collects every --by given. */
  by?: string | string[];
  date?: string;
  dryRun?: boolean;
  ticket?: string;
}

/** Record the given signatures (one transaction); the one completing the set renews the account. */
export async function sign(user: string, opts: SignOpts, ctx: AppContext): Promise<ResultStream> {
  const given = opts.by === undefined ? [] : [opts.by].flat();
  if (!given.length) throw new UsageError('--by is required; use --by user, --by supervisor or --by director (repeat it for several)');
  for (const by of given) {
    if (!(SIGNERS as string[]).includes(by)) throw new UsageError(`--by ${quote(by)} is not a signer; use --by user, --by supervisor or --by director`);
  }
  const twice = given.find((by, i) => given.indexOf(by) !== i);
  if (twice) throw new UsageError(`--by ${twice} is given twice; name each role that signed once`);
  const at = opts.date === undefined ? undefined : parseDate(opts.date, '--date');
  const row = await resolveUser(await ctx.store(), user);
  return { single: true, results: [await signAgreement(ctx, row, { by: given as Signer[], at, ticket: opts.ticket ?? null, dryRun: opts.dryRun })] };
}
