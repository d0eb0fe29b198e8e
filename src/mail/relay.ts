/** `mail test <address>`: prove the relay works end to end — connect, log in, send through the outbox. */
import type { AppContext } from '../context.js';
import { checkAddress } from '../validate/address.js';
import { maskEmail, writeAudit } from '../services/accounts/audit.js';
import { renderMail, senderAddress } from './compose.js';
import { deliverOutbox, enqueueMail, outboxRow } from './outbox.js';
import { classifySendError, openTransport } from './transport.js';

export interface RelayTestResult {
  relay: string;
  connected: boolean;
  authenticated: boolean;
  sent: boolean;
  dkimSigned: boolean;
  messageId: string | null;
  detail: string;
  emlPath?: string;
  exitCode: number;
}

/** The recipient, by the rules `email set` uses (checked before anything is written). */
export function checkTestAddress(address: string): string {
  return checkAddress(address, 'address');
}

/** Verify the relay, then send one test message through the outbox and report how it went. */
export async function testRelay(ctx: AppContext, address: string, ticket?: string | null, dryRun = false): Promise<RelayTestResult> {
  const to = checkTestAddress(address);
  const transport = await openTransport(ctx.config);
  const result: RelayTestResult = {
    relay: transport.kind === 'smtp' ? transport.target : `folder ${transport.target}`,
    connected: false,
    authenticated: false,
    sent: false,
    dkimSigned: false,
    messageId: null,
    detail: '',
    exitCode: 1,
  };
  try {
    try {
      await transport.verify();
      // The .eml folder has no relay: nothing connected or logged in.
      result.connected = transport.kind === 'smtp';
      // Logged in only when the URL carries credentials; a relay that needs none was not authenticated to.
      result.authenticated = transport.kind === 'smtp' && Boolean(ctx.config.smtpUrl && new URL(ctx.config.smtpUrl).username);
    } catch (err) {
      const failure = classifySendError(err);
      result.connected = (err as { code?: string }).code === 'EAUTH';
      result.detail = `${result.connected ? 'the relay refused the login' : `cannot reach the relay at ${transport.target}`}: ${failure.detail}`;
      return result;
    }

    if (dryRun) {
      result.detail = transport.kind === 'smtp' ? 'connected and logged in; --dry-run: no test message sent' : '--dry-run: no test message written';
      result.exitCode = 0;
      return result;
    }
    const sender = senderAddress(ctx.config);
    const body = renderMail({
      greeting: 'Hello,',
      paragraphs: [
        'This is a test message from hmis-admin. It proves that the HMIS mail relay accepts mail for you.',
        'You do not need to do anything.',
      ],
      senderHint: sender,
    });
    const { knex } = await ctx.db();
    const id = await knex.transaction(async (trx) => {
      const outboxId = await enqueueMail(trx, { kind: 'test', to, subject: 'HMIS mail test', ...body, ticket: ticket ?? null });
      await writeAudit(trx, { actor: ctx.config.actor, action: 'mail.test', ticket, details: { to: maskEmail(to), outboxId } });
      return outboxId;
    });
    const [delivery] = await deliverOutbox(ctx, { ids: [id] });
    const row = await outboxRow(ctx, id);
    result.messageId = row?.message_id ?? null;
    result.sent = delivery?.outcome === 'sent';
    result.dkimSigned = result.sent && transport.dkimEnabled;
    result.detail = delivery
      ? delivery.outcome === 'queued'
        ? `${delivery.detail}; the test message stays in the outbox`
        : delivery.detail
      : 'the test message was not attempted';
    if (delivery?.emlPath) result.emlPath = delivery.emlPath;
    if (result.sent && !transport.dkimEnabled) result.detail += '; not DKIM-signed: set HMIS_DKIM_DOMAIN, HMIS_DKIM_SELECTOR and HMIS_DKIM_KEY_FILE';
    result.exitCode = result.sent ? 0 : 1;
    return result;
  } finally {
    await transport.close();
  }
}
