/**
 * The mail side of `npm run bench`: an in-process smtp-server relay that accepts everything, the
 * outbox state `outbox flush` starts from (saved once, restored before every run), and the messages
 * the bare nodemailer floor (mail-floor.mjs) sends: the same rows, read from the outbox.
 */
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Knex } from 'knex';
import { SMTPServer } from 'smtp-server';

export interface Relay {
  url: string;
  /** Messages accepted so far. */
  received: number;
  close(): Promise<void>;
}

/** A relay on a free port of 127.0.0.1: no TLS, no login, 250 for every message. */
export async function startRelay(): Promise<Relay> {
  const relay = { received: 0 };
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    logger: false,
    closeTimeout: 100,
    onData(stream, _session, cb) {
      stream.on('data', () => {});
      stream.on('end', () => {
        relay.received++;
        cb(null, 'OK: queued');
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return Object.assign(relay, {
    url: `smtp://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

const STATE = 'status, attempts, next_attempt_at, claimed_at, claim_id, sent_at, last_error, relay_response, recipients, message_id, eml_path';

/**
 * Keep the `n` oldest messages in the outbox (the bulk commands before have delivered them), drop the
 * rest, queue the kept ones again as never tried, and save that state so that every `outbox flush`
 * run starts from the same queue. Returns how many of each kind there are.
 */
export async function prepareOutbox(db: Knex, n: number): Promise<Record<string, number>> {
  await db.raw(`delete from mail_outbox where id not in (select id from mail_outbox order by id limit ${n})`);
  await db.raw(`update mail_outbox set status = 'pending', attempts = 0, next_attempt_at = now() - interval '1 minute', claimed_at = null,
    claim_id = null, sent_at = null, last_error = null, relay_response = null, recipients = null, eml_path = null`);
  await db.raw(`create table bench_outbox as select id, ${STATE} from mail_outbox`);
  const { rows } = (await db.raw('select kind, count(*)::int as n from mail_outbox group by kind order by kind')) as { rows: Array<{ kind: string; n: number }> };
  return Object.fromEntries(rows.map((r) => [r.kind, r.n]));
}

/** Put every message back as it was before the first flush. */
export async function restoreOutbox(db: Knex): Promise<void> {
  await db.raw(`update mail_outbox o set (${STATE}) = (select ${STATE} from bench_outbox b where b.id = o.id)`);
}

/** Write the queued messages as the floor script reads them: [{to, cc, subject, text, html}]. */
export async function exportMessages(db: Knex, file: string): Promise<number> {
  const { rows } = (await db.raw('select to_address, cc, subject, text_body, html_body from mail_outbox order by id')) as {
    rows: Array<{ to_address: string; cc: string[]; subject: string; text_body: string; html_body: string }>;
  };
  writeFileSync(file, JSON.stringify(rows.map((r) => ({ to: r.to_address, cc: r.cc, subject: r.subject, text: r.text_body, html: r.html_body }))));
  return rows.length;
}
