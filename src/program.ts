/** Every command and flag, registered in one place; each action lazy-imports its handler so --help stays fast. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { UsageError } from './errors.js';
import { value } from './validate/values.js';
import type { GlobalFlags } from './config.js';
import type { AppContext } from './context.js';
import type { Presenter } from './output/present.js';

/** What main() needs back from a run: the context to close and the exit code the command chose. */
export interface RunState {
  ctx?: AppContext;
  exitCode: number;
  /** Builds the context from the global flags (main supplies it; tests may too). */
  makeContext: (flags: GlobalFlags) => Promise<AppContext>;
}

type Handler = (...args: any[]) => Promise<unknown>; // eslint-disable-line @typescript-eslint/no-explicit-any
/** Loads the presenter after the handler ran, so --help never imports output code. */
type Present = (p: typeof import('./output/present.js')) => Presenter<any> | Promise<Presenter<any>>; // eslint-disable-line @typescript-eslint/no-explicit-any
const views = () => import('./output/views.js');
const docs = () => import('./output/docs.js');

const examples = (...lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;

/** `--by` may be repeated: every role given is kept (checked here, so a bad one is a usage error like any choice). */
function collectSigners(value: string, previous: string[] | undefined): string[] {
  if (!['user', 'supervisor', 'director'].includes(value)) throw new InvalidArgumentError('Allowed choices are user, supervisor, director.');
  return [...(previous ?? []), value];
}

/**
 * Mutating commands share --dry-run and --ticket. Only those that ask before bulk work (`asks`) offer
 * --yes; the others never ask, and take a hidden --yes so scripts that always pass it keep working.
 */
function mutating(cmd: Command, asks = false): Command {
  cmd.option('--dry-run', 'show what would change; change and send nothing');
  if (asks) cmd.option('-y, --yes', 'do the bulk work without asking (needed without a terminal)');
  else cmd.addOption(new Option('-y, --yes').hideHelp());
  // Checked while parsing: a bad ticket is a usage error (exit 2) before any work.
  return cmd.option('--ticket <id>', 'helpdesk ticket recorded with the audit entry', value.ticket());
}

/** Help lists as global only the program's own options, never a parent command's (outbox's --status). */
function rootOptions(cmd: Command): Option[] {
  let root = cmd;
  while (root.parent) root = root.parent;
  return root === cmd ? [] : root.options.filter((o) => !o.hidden);
}

/**
 * Commander lets a parent with options (`outbox --status --limit`) take them wherever they stand, also
 * after its subcommand. Before the subcommand runs: an option the subcommand has too (`outbox flush
 * --limit 5`) is handed to it; one it lacks (`outbox flush --status failed`) is refused, never ignored.
 */
function handOverOptions(parent: Command, sub: Command): void {
  for (const option of parent.options) {
    const key = option.attributeName();
    if (parent.getOptionValueSource(key) !== 'cli') continue;
    const own = sub.options.find((o) => o.long === option.long);
    if (!own) {
      throw new UsageError(`${option.long} is an option of \`hmis-admin ${parent.name()}\`, not of \`${parent.name()} ${sub.name()}\`; see \`hmis-admin ${parent.name()} ${sub.name()} --help\``);
    }
    sub.setOptionValueWithSource(own.attributeName(), parent.getOptionValue(key), 'cli');
    parent.setOptionValueWithSource(key, undefined, 'default');
  }
}

export function buildProgram(state: RunState, version: string): Command {
  const program = new Command('hmis-admin');

  /** The action: build the context, run the handler, present its data, remember the exit code. */
  const run =
    (load: () => Promise<Record<string, unknown>>, name: string, present: Present) =>
    async (...args: unknown[]) => {
      const cmd = args[args.length - 1] as Command;
      // Global flags are parsed wherever they stand; handlers see them merged under their own options.
      const opts = { ...cmd.optsWithGlobals(), ...cmd.opts() };
      const positional = args.slice(0, -2);
      const ctx = await state.makeContext(cmd.optsWithGlobals() as GlobalFlags);
      state.ctx = ctx;
      const mod = await load();
      const raw = await (mod[name] as Handler)(...positional, opts, ctx);
      // A handler may pick the exit code by returning { exitCode, ...data }; the rest is what is shown.
      let body = raw;
      let exitCode = 0;
      if (raw && typeof raw === 'object' && 'exitCode' in raw) ({ exitCode, ...body } = raw as { exitCode: number });
      const presenter = await present(await import('./output/present.js'));
      await presenter(body, ctx);
      state.exitCode = exitCode;
    };

  program
    .name('hmis-admin')
    .description('Keep HMIS staff accounts working: locked accounts, user agreements, email addresses and reset links.')
    .version(version, '-V, --version', 'print the version')
    .option('--db <url>', 'PostgreSQL URL of the HMIS database (default: HMIS_DATABASE_URL, else the embedded database)', value.databaseUrl('--db'))
    .option('--json', 'print one JSON document on stdout (same as --format json)')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json', 'csv']))
    .option('--actor <name>', 'who is acting, for the audit log (default: HMIS_ACTOR or your login)', value.actor('--actor'))
    .option('--no-color', 'no colour, even on a terminal')
    .option('-q, --quiet', 'no notices or progress on stderr; bulk tables list only what did not succeed, then a summary line')
    .showSuggestionAfterError(true)
    // Every subcommand's --help also lists --db, --json, --format and the other global options.
    .configureHelp({ showGlobalOptions: true, visibleGlobalOptions: rootOptions })
    .addHelpText('after', examples('hmis-admin demo', 'hmis-admin locked', 'hmis-admin --db postgres://hmis@db.example.org/hmis users show jdoe'));

  const db = program.command('db').description('schema migrations').addHelpText('after', examples('hmis-admin db status'));
  db.command('migrate')
    .description('apply pending schema migrations')
    .addHelpText('after', examples('hmis-admin --db postgres://postgres@127.0.0.1:5432/hmis db migrate'))
    .action(run(() => import('./commands/db.js'), 'migrate', async (p) => p.doc((await docs()).migrateText)));
  db.command('status')
    .description('show applied and pending migrations')
    .addHelpText('after', examples('hmis-admin db status --json'))
    .action(run(() => import('./commands/db.js'), 'status', async (p) => p.doc((await docs()).statusText)));

  program
    .command('demo')
    .description('fill an empty database with demo agencies and users in every state')
    .option('--users <n>', 'how many users', value.count('--users', 1, 5_000_000), '200')
    .addHelpText('after', examples('hmis-admin demo', 'hmis-admin --db postgres://postgres@127.0.0.1/scratch demo --users 1000000'))
    .action(run(() => import('./commands/demo.js'), 'demo', async (p) => p.doc((await docs()).demoText)));

  const users = program.command('users').description('list and show accounts').addHelpText('after', examples('hmis-admin users list --locked'));
  users
    .command('list')
    .description('list accounts')
    .option('--locked', 'only locked accounts')
    .option('--expiring <duration>', 'only accounts whose agreement expires within this time, e.g. 30d', value.duration('--expiring'))
    .option('--agency <name>', 'only this agency', value.filter('--agency'))
    .option('--missing-email', 'only accounts with no email address')
    .option('--search <text>', 'part of a username, name or email address', value.filter('--search'))
    .option('--limit <n>', 'at most this many', value.count('--limit'))
    .addHelpText('after', examples('hmis-admin users list --search garcia', 'hmis-admin users list --expiring 30d --agency "Harbor Light Shelter" --format csv'))
    .action(run(() => import('./commands/users.js'), 'list', async (p) => p.list((await views()).accountsView)));
  users
    .command('show')
    .description('one account: status, agreement, recent reset links and audit entries')
    .argument('<user>', 'username, email address or #id', value.user())
    .addHelpText('after', examples('hmis-admin users show jdoe', 'hmis-admin users show jane.doe@agency.org --json', 'hmis-admin users show "#12"'))
    .action(run(() => import('./commands/users.js'), 'show', async (p) => p.doc((await docs()).detailText)));

  program
    .command('locked')
    .description('list locked accounts, most recently locked first')
    .addOption(new Option('--reason <reason>', 'only this lock reason').choices(['failed_logins', 'agreement_expired', 'admin']))
    .option('--agency <name>', 'only this agency', value.filter('--agency'))
    .option('--limit <n>', 'at most this many', value.count('--limit'))
    .addHelpText('after', examples('hmis-admin locked', 'hmis-admin locked --reason failed_logins --json'))
    .action(run(() => import('./commands/locked.js'), 'locked', async (p) => p.list((await views()).lockedView())));

  program
    .command('audit')
    .description('the audit trail, newest first')
    .option('--user <user>', 'only entries about this account', value.user('--user'))
    // --by, not --actor: the global --actor says who is acting, as on every command.
    .option('--by <actor>', 'only entries written by this actor (as recorded from --actor or HMIS_ACTOR)', value.filter('--by'))
    .option('--action <action>', 'only this action (unlock also matches unlock.*)', value.action('--action'))
    .option('--ticket <id>', "a helpdesk ticket's whole story", value.ticket())
    .option('--since <duration>', 'only entries newer than this, e.g. 7d', value.duration('--since'))
    .option('--limit <n>', 'at most this many', value.count('--limit'), '100')
    .addHelpText('after', examples('hmis-admin audit --user jdoe --since 30d', 'hmis-admin audit --action unlock --by alice --limit 50', 'hmis-admin audit --ticket HD-1234 --json'))
    .action(run(() => import('./commands/audit.js'), 'audit', async (p) => p.list((await views()).auditView())));

  // -- mail, reset links and email addresses (issue 3): register these commands below this line --

  const mailViews = () => import('./output/mail-views.js');
  const outbox = program
    .command('outbox')
    .description('the durable mail queue: list messages newest first (100 unless --limit)')
    .addOption(new Option('--status <status>', 'only messages in this state').choices(['pending', 'sending', 'sent', 'failed']))
    .option('--limit <n>', 'at most this many (default 100)', value.count('--limit'))
    .hook('preSubcommand', handOverOptions)
    .addHelpText('after', examples('hmis-admin outbox', 'hmis-admin outbox --status failed --json', 'hmis-admin outbox flush   # from cron, e.g. every 5 minutes'))
    .action(run(() => import('./commands/outbox.js'), 'outbox', async (p) => p.list((await mailViews()).outboxView())));
  mutating(
    outbox
      .command('flush')
      .description('deliver due messages; temporary failures are retried with backoff, 5xx replies fail for good')
      .option('--limit <n>', 'deliver at most this many', value.count('--limit')),
  )
    .addHelpText('after', examples('hmis-admin outbox flush', 'hmis-admin outbox flush --json --limit 500', 'hmis-admin outbox flush --dry-run'))
    .action(run(() => import('./commands/outbox.js'), 'flush', (p) => p.bulkResults));

  const mail = program.command('mail').description('prove the mail relay works and check the sender domain').addHelpText('after', examples('hmis-admin mail doctor'));
  mutating(
    mail
      .command('test')
      .description('connect and log in to the relay, send a test message through the outbox, report DKIM signing')
      .argument('<address>', 'where to send the test message', value.address('address')),
  )
    .addHelpText('after', examples('hmis-admin mail test you@agency.org', 'HMIS_SMTP_URL=smtps://user:pass@relay.example.org:465 hmis-admin mail test you@agency.org --json'))
    .action(run(() => import('./commands/mail.js'), 'test', async (p) => p.doc((await mailViews()).relayTestText)));
  mail
    .command('doctor')
    .description("look up SPF, DMARC and the DKIM key of the sender's domain and say what sends mail to spam")
    .option('--dns-server <ip[:port]>', 'ask this resolver instead of the system one (default: HMIS_DNS_SERVER)', value.dnsServer('--dns-server'))
    .addHelpText('after', examples('hmis-admin mail doctor', 'hmis-admin mail doctor --json --dns-server 9.9.9.9'))
    .action(run(() => import('./commands/mail.js'), 'doctor', async (p) => p.doc((await mailViews()).doctorText)));

  // reset links and email addresses (issue 3, services/reset.ts and services/email.ts)
  const resetViews = () => import('./output/reset-views.js');
  const reset = program.command('reset').description('password reset links: send, list, and why one does not work').addHelpText('after', examples('hmis-admin reset send msmith'));
  mutating(
    reset
      .command('send')
      .description('send a single-use reset link (built only from HMIS_SITE_URL); a new link revokes older ones')
      .argument('<user>', 'username, email address or #id', value.user())
      .option('--ttl <duration>', 'lifetime of the link, 5m to 7d (default: HMIS_RESET_TTL, 60m)', value.duration('--ttl'))
      .option('--print-link', 'also print the link on stdout (audited; for reading it to the user)'),
  )
    .addHelpText('after', examples('hmis-admin reset send msmith', 'hmis-admin reset send msmith --ttl 4h --ticket HD-1234', 'hmis-admin reset send michael.smith@agency.org --print-link --json'))
    .action(run(() => import('./commands/reset.js'), 'send', async () => (await resetViews()).resetSendPresenter));
  reset
    .command('list')
    .description("a user's reset links: created, expires, used or revoked (and why), delivery status")
    .argument('<user>', 'username, email address or #id', value.user())
    .addHelpText('after', examples('hmis-admin reset list msmith', 'hmis-admin reset list msmith --json'))
    .action(run(() => import('./commands/reset.js'), 'list', async (p) => p.list((await resetViews()).resetListView)));
  reset
    .command('check')
    .description('why a reset link does not work: expired, used, revoked, unknown, wrong_site or malformed (exit 5)')
    .argument('<link-or-token>', 'the whole link from the email, or just its token', value.link('link-or-token'))
    .addHelpText('after', examples("hmis-admin reset check 'https://hmis.example.org/password/reset?token=…'", 'hmis-admin reset check "$LINK" --json'))
    .action(run(() => import('./commands/reset.js'), 'check', async (p) => p.doc((await resetViews()).checkText)));

  const email = program.command('email').description('keep account email addresses right').addHelpText('after', examples('hmis-admin email check'));
  mutating(
    email
      .command('set')
      .description('change an address: validated, unique, unverified unless --verified; revokes open links and tells the old address')
      .argument('<user>', 'username, email address or #id', value.user())
      .argument('<address>', 'the new address, e.g. jane.doe@agency.org', value.address('address'))
      .option('--phone <number>', 'also set the phone number, e.g. "(555) 123-4567"', value.phone('--phone'))
      .option('--verified', 'the address is known to be right (e.g. confirmed by phone): mark it verified'),
  )
    .addHelpText('after', examples('hmis-admin email set jdoe jane.doe@agency.org', 'hmis-admin email set jdoe jane.doe@agency.org --phone "(555) 123-4567" --verified --ticket HD-1234'))
    .action(run(() => import('./commands/email.js'), 'set', (p) => p.results));
  mutating(
    email
      .command('verify')
      .description('send a single-use confirmation link (24h) to the current address')
      .argument('<user>', 'username, email address or #id', value.user()),
  )
    .addHelpText('after', examples('hmis-admin email verify jdoe'))
    .action(run(() => import('./commands/email.js'), 'verify', (p) => p.results));
  email
    .command('check')
    .description('accounts with missing, invalid, shared or unverified addresses and missing phones, per agency')
    .option('--agency <name>', 'only this agency', value.filter('--agency'))
    .option('--fail-if-any', 'exit 5 when any account has a problem (for cron and CI)')
    .addHelpText('after', examples('hmis-admin email check', 'hmis-admin email check --agency "Harbor Light Shelter" --format csv', 'hmis-admin email check --fail-if-any --json'))
    .action(run(() => import('./commands/email.js'), 'check', async () => (await resetViews()).emailCheckPresenter));

  // -- lockout, expiry and agreements (issue 4): register these commands below this line --

  const lockoutViews = () => import('./output/lockout-views.js');
  const streamed: Present = async () => (await lockoutViews()).streamResults;

  mutating(
    program
      .command('unlock')
      .description('unlock accounts: clears the lock, its reason and the failed-login counter together')
      .argument('[user...]', 'usernames, email addresses or #ids', value.users())
      .option('--all', 'every locked account, except expired-agreement and admin locks unless --reason names them')
      .addOption(new Option('--reason <reason>', 'with --all: only this lock reason').choices(['failed_logins', 'agreement_expired', 'admin']))
      .option('--agency <name>', 'with --all: only this agency', value.filter('--agency'))
      .option('--notify', 'email each user that the account is open again (through the outbox)'),
    true,
  )
    .addHelpText('after', examples('hmis-admin unlock jdoe --ticket HD-1234 --notify', 'hmis-admin unlock jdoe abrown3 "#4"', 'hmis-admin unlock --all --reason failed_logins --agency "Harbor Light Shelter" --yes'))
    .action(run(() => import('./commands/unlock.js'), 'unlock', streamed));

  mutating(
    program
      .command('lock')
      .description("an administrator's lock (reason admin), e.g. for staff who left the agency; it replaces a failed-login or agreement lock")
      .argument('<user>', 'username, email address or #id', value.user())
      .requiredOption('--reason <text>', 'why; stored in the audit trail (required)', value.reason('--reason')),
  )
    .addHelpText('after', examples('hmis-admin lock jdoe --reason "left Harbor Light on 2026-11-30" --ticket HD-1240'))
    .action(run(() => import('./commands/unlock.js'), 'lock', streamed));

  mutating(
    program
      .command('expiring')
      .description('accounts whose user agreement expires soon, with days left and missing signatures')
      .option('--within <duration>', 'how far ahead, in UTC calendar days for whole days (default 30d)', value.duration('--within'))
      .option('--include-expired', 'also accounts whose agreement already expired')
      .option('--agency <name>', 'only this agency', value.filter('--agency'))
      .option('--notify', 'send each account its due reminder stage (HMIS_REMINDER_DAYS) once, copied to supervisor and director')
      .option('--fail-if-any', 'exit 5 when any account is listed (for monitoring)'),
    true,
  )
    .addHelpText('after', examples('hmis-admin expiring --within 14d', 'hmis-admin expiring --include-expired --agency "Open Door Outreach" --json', 'hmis-admin expiring --notify --quiet'))
    .action(
      run(() => import('./commands/expiry.js'), 'expiring', async () => {
        const v = await lockoutViews();
        return (data: import('./commands/expiry.js').ExpiringResult, ctx: AppContext) => (data.kind === 'list' ? v.expiringList(data, ctx) : v.streamResults(data, ctx));
      }),
    );

  mutating(
    program
      .command('expire')
      .description('lock every account whose agreement has expired and tell the user (for cron; safe on two hosts at once)'),
    true,
  )
    .addHelpText('after', examples('hmis-admin expire', 'hmis-admin expire --dry-run --json'))
    .action(run(() => import('./commands/expiry.js'), 'expire', streamed));

  const agreement = program
    .command('agreement')
    .description('the yearly user agreement: signatures by the user, the supervisor and the Executive Director')
    .addHelpText('after', examples('hmis-admin agreement show jdoe', 'hmis-admin agreement sign jdoe --by director'));
  agreement
    .command('show')
    .description('the three signatures, what is missing and the command that records it')
    .argument('<user>', 'username, email address or #id', value.user())
    .addHelpText('after', examples('hmis-admin agreement show jdoe', 'hmis-admin agreement show "#12" --json'))
    .action(run(() => import('./commands/agreement.js'), 'show', async (p) => p.doc((await lockoutViews()).agreementText)));
  mutating(
    agreement
      .command('sign')
      .description('record signatures on the pending renewal (repeat --by for several, all in one transaction); the third renews the account')
      .argument('<user>', 'username, email address or #id', value.user())
      .addOption(
        new Option('--by <signer>', 'who signed; repeat for several, e.g. --by supervisor --by director')
          .choices(['user', 'supervisor', 'director'])
          .argParser(collectSigners)
          .makeOptionMandatory(),
      )
      .option('--date <date>', 'when it was signed (ISO 8601; default now)', value.date('--date')),
  )
    .addHelpText(
      'after',
      examples('hmis-admin agreement sign jdoe --by supervisor', 'hmis-admin agreement sign rjohnson5 --by supervisor --by director --date 2026-11-20 --ticket HD-1250'),
    )
    .action(run(() => import('./commands/agreement.js'), 'sign', streamed));

  // -- helpdesk, diagnose and reports (issue 5): register these commands below this line --
  const helpdeskViews = () => import('./output/helpdesk-views.js');
  const report = program.command('report').description('reports for agencies and auditors').addHelpText('after', examples('hmis-admin report compliance'));
  report
    .command('compliance')
    .description('per agency: expired and expiring agreements, missing signatures, emails and phones, long locks')
    .option('--agency <name>', 'only this agency', value.filter('--agency'))
    .addHelpText('after', examples('hmis-admin report compliance', 'hmis-admin report compliance --format csv > compliance.csv', 'hmis-admin report compliance --agency "Harbor Light Shelter" --json'))
    .action(run(() => import('./commands/report.js'), 'compliance', async (p) => {
      const v = await helpdeskViews();
      return p.doc(v.complianceText, v.complianceCsv);
    }));
  program
    .command('diagnose')
    .description('the helpdesk checklist for "my reset link does not work": each FAQ cause, ok/warn/fail, and its fix')
    .argument('<user>', 'username, email address or #id', value.user())
    .addHelpText('after', examples('hmis-admin diagnose jdoe', 'hmis-admin diagnose jane.doe@agency.org --json'))
    .action(run(() => import('./commands/diagnose.js'), 'diagnose', async (p) => {
      const v = await helpdeskViews();
      return p.doc(v.diagnosisText, v.diagnosisCsv);
    }));
  mutating(
    program
      .command('helpdesk')
      .description('the interactive ticket workflow (terminal only): find the person, diagnose, fix email, unlock, send the reset link'),
  )
    .addHelpText('after', examples('hmis-admin helpdesk', 'hmis-admin helpdesk --ticket HD-1234', 'hmis-admin helpdesk --ticket HD-1234 --dry-run'))
    .action(run(() => import('./commands/helpdesk.js'), 'helpdesk', (p) => p.results));

  return program;
}

export { mutating };
