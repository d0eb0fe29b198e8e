/** Every command and flag, registered in one place; each action lazy-imports its handler so --help stays fast. */
import { Command, Option } from 'commander';
import { UsageError } from './errors.js';
import { registerMailCommands } from './program-mail.js';
import { collectSigners, examples, mutating, rootOptions, type Present } from './program-parts.js';
import { value } from './validate/values.js';
import type { GlobalFlags } from './config.js';
import type { AppContext } from './context.js';

/** What main() needs back from a run: the context to close and the exit code the command chose. */
export interface RunState {
  ctx?: AppContext;
  exitCode: number;
  /** Builds the context from the global flags (main supplies it; tests may too). */
  makeContext: (flags: GlobalFlags) => Promise<AppContext>;
}

type Handler = (...args: any[]) => Promise<unknown>; // eslint-disable-line @typescript-eslint/no-explicit-any
const views = () => import('./output/views.js');
const docs = () => import('./output/docs.js');

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
      const shown = await import('./output/present.js');
      const presenter = await present(shown);
      // Known before the command runs: a format it cannot print is refused before it changes anything.
      if (ctx.config.format === 'csv' && presenter.noCsv) throw new UsageError(shown.NO_CSV);
      const mod = await load();
      const raw = await (mod[name] as Handler)(...positional, opts, ctx);
      // A handler may pick the exit code by returning { exitCode, ...data }; the rest is what is shown.
      let body = raw;
      let exitCode = 0;
      if (raw && typeof raw === 'object' && 'exitCode' in raw) ({ exitCode, ...body } = raw as { exitCode: number });
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
    .option('-q, --quiet', 'no notices or progress on stderr; bulk tables print nothing when all succeeded, else only what did not, then a summary line')
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
  db.command('devise-digest')
    .description("devise mode: the reset-token digest of a word under each key digest, to compare with the application's (no database needed; the application's secret_key_base in HMIS_DEVISE_SECRET_FILE or HMIS_DEVISE_SECRET)")
    .argument('[word]', 'any word; compare with rails runner \'puts Devise.token_generator.digest(User, :reset_password_token, "probe")\'', value.filter('word'), 'probe')
    .addHelpText('after', examples('hmis-admin db devise-digest probe', 'hmis-admin db devise-digest probe --json'))
    .action(run(() => import('./commands/db.js'), 'deviseDigest', async (p) => p.doc((await docs()).digestText)));

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

  registerMailCommands(program, run);

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
      .description(
        'the interactive ticket workflow (terminal only): find the person, diagnose, check the link they have, ' +
          'fix email and phone, unlock, send the reset link; the sitting is audited under the ticket (helpdesk.session)',
      ),
  )
    .addHelpText(
      'after',
      '\nExit codes: 0 every fix tried was done (or none was chosen); 2 the fixes tried were refused; 4 some were done, some refused; 130 Ctrl-C.\n' +
        'Prompts never hold the embedded database: other commands can run while the wizard waits.\n' +
        examples('hmis-admin helpdesk', 'hmis-admin helpdesk --ticket HD-1234', 'hmis-admin helpdesk --ticket HD-1234 --dry-run', 'hmis-admin audit --ticket HD-1234'),
    )
    .action(run(() => import('./commands/helpdesk.js'), 'helpdesk', (p) => p.shownResults));

  return program;
}

export { mutating };
