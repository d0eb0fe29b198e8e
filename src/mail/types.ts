/**
 * The mail contract between the outbox (src/mail/outbox.ts) and the services that send mail.
 *
 * A message is recorded in mail_outbox before any attempt to send it. Bodies never hold a raw
 * token: a link-bearing message (kind 'reset' or 'verify') stores the placeholder {{link}} in its
 * text and HTML, and the link is minted by a LinkMinter at delivery time, inside the delivery
 * attempt. If that attempt does not end with the relay accepting the message, the minted token is
 * revoked, so no valid token exists that the user never received; a later retry mints a fresh one.
 */
import type { Knex } from 'knex';
import type { Config } from '../config.js';

export type MailKind = 'reset' | 'verify' | 'notice' | 'reminder' | 'test';

export const LINK_PLACEHOLDER = '{{link}}';

export interface OutgoingMail {
  kind: MailKind;
  userId?: number | null;
  to: string;
  cc?: string[];
  subject: string;
  /** Plain text; equal in content to html. May contain {{link}} for 'reset' and 'verify'. */
  text: string;
  html: string;
  /**
   * Kind-specific parameters the minter needs, e.g. { ttlMs } for reset, { email } for verify. Never a
   * token, and never where a link points: the site comes from the configuration at delivery time.
   */
  params?: Record<string, unknown>;
  ticket?: string | null;
  /** Recorded as failed at once, with this reason (a notice with no valid recipient): kept, never sent. */
  failedBecause?: string;
}

export type RecipientStatus = 'pending' | 'sent' | 'failed';

/**
 * One recipient of a message and how far delivery to it got: 'pending' until the relay accepts it
 * ('sent') or refuses it for good ('failed'); `response` is the relay's last reply about it. A retry
 * addresses only the 'pending' ones, so nobody who has the message is sent it again.
 */
export interface RecipientState {
  address: string;
  role: 'to' | 'cc';
  status: RecipientStatus;
  response: string | null;
}

/** A row of mail_outbox as the delivery code sees it. */
export interface OutboxRow {
  id: number;
  created_at: Date;
  kind: MailKind;
  user_id: number | null;
  to_address: string;
  cc: string[];
  /** Every recipient, to first, with its delivery state. */
  recipients: RecipientState[];
  subject: string;
  text_body: string;
  html_body: string;
  params: Record<string, unknown>;
  message_id: string | null;
  status: 'pending' | 'sending' | 'sent' | 'failed';
  attempts: number;
  next_attempt_at: Date;
  sent_at: Date | null;
  last_error: string | null;
  relay_response: string | null;
  eml_path: string | null;
  ticket: string | null;
  /** Set afresh by each claim; a mark (sent/retry/failed) applies only while the row still has this value. */
  claim_id: string | null;
}

export interface MintedLink {
  url: string;
  /** Revokes what was minted when the attempt did not deliver (relay refused, 4xx, dropped connection). */
  revoke(db: Knex, reason: string): Promise<void>;
  /** Records that the message carrying this link was accepted (e.g. sets token.outbox_id). */
  delivered?(db: Knex): Promise<void>;
}

/** A minter's refusal that is the message's own problem (e.g. the address changed): the row fails for good. */
export class MintRefused extends Error {}

/** A newer message of the same kind for the account exists: this one is cancelled, never delivered (its message is the row's last_error). */
export class MintSuperseded extends MintRefused {}

/**
 * Mints the link for one delivery attempt of a link-bearing message, in its own short transaction. The
 * link is built from `config` (the configuration of the run that delivers), never from the row: a
 * tampered or stale row cannot point a link elsewhere. A MintRefused fails the row; a UsageError (the run's
 * own configuration) stops the run and leaves the row pending; any other error leaves it pending too.
 */
export type LinkMinter = (db: Knex, row: OutboxRow, now: Date, config: Config) => Promise<MintedLink>;
