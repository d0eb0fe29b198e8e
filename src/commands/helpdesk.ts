/**
 * `helpdesk [--ticket <id>]`: one ticket in one sitting, on a terminal — find the person, show the
 * diagnosis, then offer only the fixes that apply, in order (email and phone, unlock, reset link),
 * each confirmed, each its own transaction, each audited with the ticket.
 */
import type { AppContext } from '../context.js';
import { CancelledError, CliError, UsageError } from '../errors.js';
import type { Outcome } from '../output/views.js';
import { quote } from '../parse.js';
import { resolveUser } from '../services/accounts/accounts.js';
import { diagnoseAccount, type Diagnosis } from '../services/helpdesk/diagnose.js';
import { findPeople, helpdeskServices, TICKET_RE } from '../services/helpdesk/helpdesk.js';

export interface HelpdeskOpts {
  ticket?: string;
  dryRun?: boolean;
}

const SCRIPTABLE =
  'helpdesk is an interactive workflow and needs a terminal; script the same steps with ' +
  '`hmis-admin diagnose <user>`, `hmis-admin email set <user> <address> --phone <number> --ticket <id>`, ' +
  '`hmis-admin unlock <user> --ticket <id>` and `hmis-admin reset send <user> --ticket <id>`';

/** Accept a ticket id as typed (validation message for the prompt, or true). */
export function checkTicket(value: string): true | string {
  return TICKET_RE.test(value.trim()) ? true : 'a ticket is 1 to 64 letters, digits, dots, dashes or underscores, e.g. HD-1234';
}

export async function helpdesk(opts: HelpdeskOpts, ctx: AppContext): Promise<{ results: Outcome[] }> {
  if (!ctx.out.interactive) throw new UsageError(SCRIPTABLE);
  if (opts.ticket !== undefined && checkTicket(opts.ticket) !== true) {
    throw new UsageError(`--ticket ${quote(opts.ticket)}: ${checkTicket(opts.ticket)}`);
  }
  const done: Outcome[] = [];
  let step = 'asking for the ticket number';
  try {
    const ticket = (opts.ticket ?? (await ctx.prompt.input('Ticket number', { validate: checkTicket }))).trim();
    const db = await ctx.db();
    const store = await ctx.store();
    step = 'finding the person';
    const id = await ctx.prompt.search('Who is it? Type part of a name, username or email', (term) => findPeople(store, term));
    let user = await resolveUser(store, `#${id}`);
    const diagnose = async () => diagnoseAccount(store, user, { config: ctx.config, embedded: db.kind === 'pglite', now: ctx.clock() });
    const first = await diagnose();
    await show(ctx, first);

    const svc = await helpdeskServices();
    const common = { ticket, dryRun: opts.dryRun };
    const attempt = async (fn: () => Promise<Outcome>) => {
      const r = await fn().catch((err: unknown) => {
        // A refused fix (UsageError and friends) is reported and the wizard goes on to the next one.
        if (err instanceof CliError && !(err instanceof CancelledError)) return { user: user.username, outcome: 'refused', message: err.message };
        throw err;
      });
      done.push(r);
      ctx.out.stderr.write(`${r.user}: ${r.outcome} - ${r.message}\n`);
      user = await resolveUser(store, `#${user.id}`);
    };

    step = 'correcting the email address and phone';
    if (needs(first, 'email') || needs(first, 'phone')) {
      if (await ctx.prompt.confirm(`Correct ${user.username}'s email address and phone now?`, true)) {
        const rules = svc.rules;
        const current = user.email && rules.parseEmailAddress(user.email).ok ? user.email : undefined;
        const address = await ctx.prompt.input('Email address', {
          default: current,
          validate: (v) => ((p) => (p.ok ? true : `that address ${p.reason}`))(rules.parseEmailAddress(v)),
        });
        const phone = await ctx.prompt.input('Direct phone number (empty: leave as is)', {
          default: user.phone ?? undefined,
          validate: (v) => (v.trim() === '' ? true : ((p) => (p.ok ? true : `that number ${p.reason}`))(rules.parsePhone(v))),
        });
        const verified = await ctx.prompt.confirm('Did the person confirm this address with you (mark it verified)?', false);
        const what = `${address.trim()}${phone.trim() ? `, phone ${phone.trim()}` : ''}${verified ? ', verified' : ''}`;
        if (await ctx.prompt.confirm(`Set ${user.username}: ${what} (ticket ${ticket})?`, true)) {
          await attempt(() => svc.setEmail(ctx, user, address.trim(), { ...common, phone: phone.trim() || undefined, verified }));
        }
      }
    }

    step = 'unlocking';
    if (user.locked_at) {
      if (user.lock_reason === 'agreement_expired') {
        const fix = first.checks.find((c) => c.id === 'locked')?.fix;
        ctx.out.stderr.write(`${user.username} is locked by an expired agreement: unlocking does not renew it${fix ? `; record the signatures with \`${fix}\`` : ''}\n`);
      } else if (await ctx.prompt.confirm(`Unlock ${user.username} (locked: ${user.lock_reason ?? 'unknown reason'})?`, true)) {
        await attempt(() => svc.unlockAccount(ctx, user, common));
      }
    }

    step = 'sending the reset link';
    const now = opts.dryRun ? first : await diagnose();
    if (now.canReset || opts.dryRun) {
      if (await ctx.prompt.confirm(`Send ${user.username} a password reset link now?`, true)) {
        await attempt(() => svc.sendResetLink(ctx, user, common));
      }
    } else {
      const blocking = now.checks.filter((c) => c.status === 'fail').map((c) => `${c.id}${c.fix ? ` (fix: ${c.fix})` : ''}`);
      ctx.out.stderr.write(`no reset link offered: it would not work yet; still failing: ${blocking.join('; ')}\n`);
    }
    return { results: done };
  } catch (err) {
    if (!(err instanceof CancelledError)) throw err;
    const kept = done.length ? `already done (each fix is committed on its own): ${done.map((d) => d.outcome).join(', ')}` : 'nothing was changed';
    throw new CancelledError(`cancelled while ${step}; ${kept}`);
  }
}

function needs(d: Diagnosis, id: 'email' | 'phone'): boolean {
  return d.checks.some((c) => c.id === id && c.status !== 'ok');
}

async function show(ctx: AppContext, d: Diagnosis): Promise<void> {
  const { diagnosisText } = await import('../output/helpdesk-views.js');
  ctx.out.stderr.write(`\n${diagnosisText(d, ctx.config.color)}\n\n`);
}

