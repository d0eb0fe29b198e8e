/**
 * `helpdesk [--ticket <id>]`: one ticket in one sitting, on a terminal — find the person, show the
 * diagnosis, check the link the person has, then offer only the fixes that apply, in order (email and
 * phone, unlock, reset link), each confirmed, each its own transaction, each audited with the ticket; the
 * sitting itself leaves a `helpdesk.session` entry, so `audit --ticket` is never empty.
 */
import type { AppContext } from '../context.js';
import { CancelledError, CliError, UsageError } from '../errors.js';
import { resultLine, NOT_SUCCEEDED } from '../output/result-lines.js';
import { sanitizeLines } from '../output/sanitize.js';
import type { Outcome } from '../output/views.js';
import { quote } from '../parse.js';
import { resolveUser, type AccountRow } from '../services/accounts/accounts.js';
import { diagnoseAccount, type Diagnosis } from '../services/helpdesk/diagnose.js';
import { adminLockStory, findPeople, helpdeskServices, recordSession, TICKET_RE, type SessionRecord } from '../services/helpdesk/helpdesk.js';
import { promptGate } from './prompt-gate.js';

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

export async function helpdesk(opts: HelpdeskOpts, ctx: AppContext): Promise<{ results: Outcome[]; exitCode: number }> {
  if (!ctx.out.interactive) throw new UsageError(SCRIPTABLE);
  if (opts.ticket !== undefined && checkTicket(opts.ticket) !== true) {
    throw new UsageError(`--ticket ${quote(opts.ticket)}: ${checkTicket(opts.ticket)}`);
  }
  const { prompt, use } = promptGate(ctx);
  // Lines that carry database text (usernames, a link's detail) are stripped of control characters.
  const err = (line: string) => ctx.out.stderr.write(`${sanitizeLines(line)}\n`);
  const done: Outcome[] = [];
  let session: SessionRecord | undefined;
  let step = 'asking for the ticket number';
  try {
    // Open (and check) the database before anyone types; every prompt below frees it while it waits.
    const embedded = (await ctx.db()).kind === 'pglite';
    const ticket = (opts.ticket ?? (await prompt.input('Ticket number', { validate: checkTicket }))).trim();
    step = 'finding the person';
    const id = await prompt.search('Who is it? Type part of a name, username or email', (term) => use(async () => findPeople(await ctx.store(), term)));
    let user = await resolveUser(await ctx.store(), `#${id}`);
    const diagnose = async () => diagnoseAccount(await ctx.store(), user, { config: ctx.config, embedded, now: ctx.clock() });
    const first = await diagnose();
    session = { ticket, user, found: first, link: null, results: done, stillFailing: failing(first) };
    await show(ctx, first);
    const svc = await helpdeskServices();

    step = 'checking the link the person has';
    const pasted = (await prompt.input('Paste the reset link the person has (from the email or the browser address bar), or press Enter to skip', { shown: hideToken })).trim();
    let theirsWorks = false;
    if (pasted) {
      const c = await svc.checkResetLink(await ctx.store(), ctx.config, pasted, ctx.clock());
      const someoneElse = c.user !== null && c.user !== user.username;
      session.link = { valid: c.valid, reason: c.reason, ...(someoneElse && c.user ? { belongsTo: c.user } : {}) };
      theirsWorks = c.valid && !someoneElse;
      if (someoneElse) {
        // Another account's link never resets this one; a live one in the wrong hands is worth a question.
        err(`that link is ${c.user}'s, not ${user.username}'s: it cannot reset ${user.username}'s password (${c.valid ? `and it still works for ${c.user}: ask how the person got it` : `${c.reason}: ${c.detail}`})`);
      } else {
        err(`their link ${c.valid ? 'works' : `does not work (${c.reason})`}: ${c.detail}`);
      }
    }

    const common = { ticket, dryRun: opts.dryRun };
    const attempt = async (fn: () => Promise<Outcome>) => {
      const r = await fn().catch((e: unknown) => {
        // A refused fix is reported, the wizard goes on to the next one, and the exit code says so at the end.
        if (e instanceof CliError && !(e instanceof CancelledError)) return { user: user.username, outcome: 'refused', message: e.message };
        throw e;
      });
      done.push(r);
      // Shown once, as it happens: on stdout as the table result, on stderr when stdout carries JSON or CSV.
      (ctx.config.format === 'table' ? ctx.out.stdout : ctx.out.stderr).write(resultLine(r, ctx.config.color));
      user = await resolveUser(await ctx.store(), `#${user.id}`);
    };

    step = 'correcting the email address and phone';
    if (needs(first, 'email') || needs(first, 'phone')) {
      if (await prompt.confirm(`Correct ${user.username}'s email address and phone now?`, true)) {
        const rules = svc.rules;
        const current = user.email && rules.parseEmailAddress(user.email).ok ? user.email : undefined;
        // Checked as `email set` checks it, another account's address included, so the agent is asked again at once.
        const address = await prompt.input('Email address', { default: current, validate: (v) => use(async () => svc.addressProblem(await ctx.store(), user, v)) });
        const phone = await prompt.input('Direct phone number (empty: leave as is)', {
          default: user.phone ?? undefined,
          validate: (v) => (v.trim() === '' ? true : ((p) => (p.ok ? true : `that number ${p.reason}`))(rules.parsePhone(v))),
        });
        const verified = await prompt.confirm('Did the person confirm this address with you (mark it verified)?', false);
        // As they will be stored: the address's domain lowercased (punycode), the phone in its usual form.
        const asStored = (p: { ok: boolean; address?: string; phone?: string }, raw: string) => (p.ok ? (p.address ?? p.phone ?? raw) : raw);
        const what = `${asStored(rules.parseEmailAddress(address), address.trim())}${phone.trim() ? `, phone ${asStored(rules.parsePhone(phone), phone.trim())}` : ''}${verified ? ', verified' : ''}`;
        if (await prompt.confirm(`Set ${user.username}: ${what} (ticket ${ticket})?`, true)) {
          await attempt(() => svc.setEmail(ctx, user, address.trim(), { ...common, phone: phone.trim() || undefined, verified }));
        }
      }
    }

    step = 'unlocking';
    await offerUnlock(ctx, user, first, async (question, yes) => prompt.confirm(question, yes), () => attempt(() => svc.unlockAccount(ctx, user, common)));

    step = 'sending the reset link';
    const now = opts.dryRun ? first : await diagnose();
    if (now.canReset || opts.dryRun) {
      // A link that still works is replaced by a new one: sending is then the exception, not the default.
      const question = theirsWorks ? `Their link still works; send ${user.username} a new one anyway (the old one stops working)?` : `Send ${user.username} a password reset link now?`;
      if (await prompt.confirm(question, !theirsWorks)) {
        // A dry run made none of the fixes above, so sending would be refused for what they would have fixed.
        const later = async (): Promise<Outcome> => ({ user: user.username, outcome: 'would_send', message: `a reset link, once the fixes above are made (in this dry run ${failing(now).join(', ')} still fail${failing(now).length === 1 ? 's' : ''})` });
        await attempt(() => (opts.dryRun && !now.canReset ? later() : svc.sendResetLink(ctx, user, common)));
      }
    } else {
      err(`no reset link offered: it would not work until ${failing(now).join(', ')} ${failing(now).length === 1 ? 'is' : 'are'} fixed`);
    }
    const last = opts.dryRun ? first : done.length ? await diagnose() : now;
    session.stillFailing = failing(last);
    if (!opts.dryRun) await recordSession(ctx, session);
    err(summary(session, opts.dryRun, last));
    return { results: done, exitCode: exitFor(done) };
  } catch (e) {
    if (!(e instanceof CancelledError)) throw e;
    // Ctrl-C after the diagnosis still leaves the sitting's trace: what was found and where it stopped.
    if (session && !opts.dryRun) await recordSession(ctx, { ...session, cancelled: step });
    const kept = done.length ? `already done (each fix is committed on its own): ${done.map((d) => d.outcome).join(', ')}` : 'nothing was changed';
    throw new CancelledError(`cancelled while ${step}; ${kept}`, e.exitCode); // 143 when SIGTERM stopped its mail
  }
}

/** Unlock, as the lock's reason allows: never an agreement lock; an administrator's lock only on a deliberate yes. */
async function offerUnlock(ctx: AppContext, user: AccountRow, d: Diagnosis, confirm: (q: string, yes: boolean) => Promise<boolean>, unlock: () => Promise<void>): Promise<void> {
  if (!user.locked_at) return;
  const err = (line: string) => ctx.out.stderr.write(`${sanitizeLines(line)}\n`);
  if (user.lock_reason === 'agreement_expired') {
    const fix = d.checks.find((c) => c.id === 'locked')?.fix ?? d.checks.find((c) => c.id === 'agreement')?.fix;
    const steps = fix?.startsWith('hmis-admin agreement sign') ? fix.split(' && ') : [];
    err(`${user.username} is locked by an expired agreement: unlocking does not renew it.`);
    if (steps.length) err(`record each missing signature (the last one unlocks the account):\n${steps.map((s) => `  ${s}`).join('\n')}`);
    return;
  }
  if (user.lock_reason === 'admin') {
    err(`${user.username} is ${await adminLockStory(await ctx.store(), user)}`);
    if (await confirm(`Unlock ${user.username} anyway? An administrator's lock is deliberate (e.g. someone who left)`, false)) await unlock();
    return;
  }
  if (await confirm(`Unlock ${user.username} (locked: ${user.lock_reason ?? 'unknown reason'})?`, true)) await unlock();
}

/** A pasted link as it stays on screen: the token cut to its first characters (it still resets the password). */
export function hideToken(link: string): string {
  return link.replace(/((?:^|[?&])(?:reset_password_)?token=)([^&#\s]{4})[^&#\s]*/g, '$1$2…').replace(/^([A-Za-z0-9_-]{4})[A-Za-z0-9_-]{16,}$/, '$1…');
}

function needs(d: Diagnosis, id: 'email' | 'phone'): boolean {
  return d.checks.some((c) => c.id === id && c.status !== 'ok');
}

function failing(d: Diagnosis): string[] {
  return d.checks.filter((c) => c.status === 'fail').map((c) => c.id);
}

const DONE_WORDS: Record<string, string> = { email_set: 'email and phone set', unlocked: 'unlocked', sent: 'reset link sent', queued: 'reset link queued (relay down; it retries)' };

/** The end of the sitting on stderr: what was done, what still fails and its fix, and where the ticket's story is. */
function summary(s: SessionRecord, dryRun: boolean | undefined, last: Diagnosis): string {
  const did = s.results.map((r) => (NOT_SUCCEEDED.has(r.outcome) ? `${r.outcome}` : (DONE_WORDS[r.outcome] ?? r.outcome.replace(/_/g, ' '))));
  const lines = [`\nticket ${s.ticket}, ${s.user.username}: ${did.length ? did.join(', ') : dryRun ? 'nothing (dry run)' : 'nothing changed'}`];
  const still = last.checks.filter((x) => s.stillFailing.includes(x.id));
  // Two checks often share a fix (an agreement lock and the agreement): each command once, one a line.
  const fixes = [...new Set(still.flatMap((c) => (c.fix ? c.fix.split(' && ') : [])))];
  if (still.length) lines.push(`  still failing: ${still.map((c) => c.id).join(', ')}${fixes.length ? '; to fix:' : ''}`, ...fixes.map((f) => `    ${f}`));
  if (!dryRun) lines.push(`  the whole ticket: hmis-admin audit --ticket ${s.ticket}`);
  return lines.join('\n');
}

/** 0 when every fix tried was done; 2 when the only ones tried were refused (nothing changed); 4 when some were done and some not. */
function exitFor(results: Outcome[]): number {
  const bad = results.filter((r) => NOT_SUCCEEDED.has(r.outcome));
  if (!bad.length) return 0;
  if (bad.length < results.length) return 4;
  return bad.every((r) => r.outcome === 'refused') ? 2 : bad.some((r) => r.outcome === 'not_found') ? 3 : 1;
}

async function show(ctx: AppContext, d: Diagnosis): Promise<void> {
  const { diagnosisText } = await import('../output/helpdesk-views.js');
  ctx.out.stderr.write(`\n${diagnosisText(d, ctx.config.color)}\n\n`);
}
