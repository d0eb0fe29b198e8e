/** The mail, reset-link and email-address commands (issue 3), registered by buildProgram. */
import { Option, type Command } from 'commander';
import { examples, handOverOptions, mutating, type Action } from './program-parts.js';
import { value } from './validate/values.js';

/** `outbox`, `outbox flush`, `mail test|doctor`, `reset send|list|check`, `email set|verify|check`. */
export function registerMailCommands(program: Command, run: Action): void {
  const mailViews = () => import('./output/mail-views.js');
  const outbox = program
    .command('outbox')
    .description('the durable mail queue: list messages newest first (100 unless --limit)')
    .addOption(new Option('--status <status>', 'only messages in this state (cancelled: replaced by a newer message before it went out)').choices(['pending', 'sending', 'sent', 'failed', 'cancelled']))
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
}
