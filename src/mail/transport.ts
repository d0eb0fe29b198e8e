/**
 * The one mail transport: a pooled nodemailer SMTP transporter (HMIS_SMTP_URL) with DKIM signing
 * when HMIS_DKIM_* is set, or, with no relay configured, one RFC 5322 .eml file per message under
 * HMIS_DATA_DIR/mail/. nodemailer is imported lazily so `--help` never loads it.
 */
import { createPrivateKey } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config.js';
import { UsageError } from '../errors.js';
import { senderAddress } from './compose.js';

/** One message as the transport sends it: parts already carry the link, if any. */
export interface TransportMessage {
  to: string;
  cc?: string[];
  subject: string;
  text: string;
  html: string;
  /** `<uuid@sender-domain>`, the same on every attempt so receivers can spot a duplicate. */
  messageId: string;
  date: Date;
  /**
   * The addresses to deliver to this time (SMTP RCPT TO), when not every header recipient: a retry goes
   * only to those the relay has not accepted yet, while To and Cc still name everyone.
   */
  envelopeTo?: string[];
}

/** One recipient the relay refused (at RCPT TO), with its reply code (null when it gave none). */
export interface Refusal {
  address: string;
  code: number | null;
  response: string;
}

export interface SendResult {
  accepted: string[];
  rejected: string[];
  /** Why each rejected recipient was refused. */
  refusals: Refusal[];
  /** The relay's final reply, or where the file went. */
  response: string;
  emlPath?: string;
}

export interface MailTransport {
  kind: 'smtp' | 'folder';
  dkimEnabled: boolean;
  /** The relay host:port or the mail folder, for messages. */
  target: string;
  send(msg: TransportMessage): Promise<SendResult>;
  /** Connect and log in (SMTP), or check the folder can be written. */
  verify(): Promise<void>;
  close(): Promise<void>;
}

/** Pool sizing: a few connections, many messages each, and never a resend by nodemailer itself. */
export const POOL_OPTIONS = {
  pool: true as const,
  maxConnections: 3,
  maxMessages: 100,
  // nodemailer would otherwise re-send a message whose connection dropped, possibly one the relay had
  // already accepted (nodemailer #1105/#1106); the outbox alone decides retries.
  maxRequeues: 0,
  connectionTimeout: 10_000,
  greetingTimeout: 10_000,
  socketTimeout: 60_000,
};

interface DkimOptions {
  domainName: string;
  keySelector: string;
  privateKey: string;
}

/** Read and check the DKIM key once; a missing or unreadable key is a one-line exit-2 error. */
async function loadDkim(config: Config): Promise<DkimOptions | undefined> {
  if (!config.dkim) return undefined;
  const { keyFile, domain, selector } = config.dkim;
  let privateKey: string;
  try {
    privateKey = await readFile(keyFile, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new UsageError(`HMIS_DKIM_KEY_FILE ${keyFile} cannot be read (${code}); point it at the PEM private key of selector ${selector}`);
  }
  try {
    createPrivateKey(privateKey);
  } catch {
    throw new UsageError(`HMIS_DKIM_KEY_FILE ${keyFile} is not a PEM private key; give the RSA key whose public half is published at ${selector}._domainkey.${domain}`);
  }
  return { domainName: domain, keySelector: selector, privateKey };
}

/** Check what the transport needs from the configuration (the DKIM key) before anything is written or claimed. */
export async function checkTransportConfig(config: Config): Promise<void> {
  await loadDkim(config);
}

/** host:port of the relay without the credentials, for messages and `mail test`. */
export function describeRelay(smtpUrl: string): string {
  try {
    const u = new URL(smtpUrl);
    return `${u.protocol}//${u.hostname}:${u.port || (u.protocol === 'smtps:' ? '465' : '587')}`;
  } catch {
    return 'the configured relay';
  }
}

// One pooled transporter per process, shared by every caller while it is open (reference counted).
const shared = new Map<string, { transport: MailTransport; users: number }>();

/** Open the configured transport (the pooled transporter is shared within the process). */
export async function openTransport(config: Config): Promise<MailTransport> {
  const dkim = await loadDkim(config);
  const key = JSON.stringify([config.smtpUrl, config.dataDir, config.mailFrom, config.dkim]);
  const existing = shared.get(key);
  if (existing) {
    existing.users++;
    return handle(key, existing.transport);
  }
  const transport = config.smtpUrl ? await smtpTransport(config, config.smtpUrl, dkim) : await folderTransport(config, dkim);
  shared.set(key, { transport, users: 1 });
  return handle(key, transport);
}

/** A caller's view: close() releases the shared pool, which really closes with its last user. */
function handle(key: string, transport: MailTransport): MailTransport {
  let closed = false;
  return {
    ...transport,
    close: async () => {
      if (closed) return;
      closed = true;
      const entry = shared.get(key);
      if (!entry || --entry.users > 0) return;
      shared.delete(key);
      await transport.close();
    },
  };
}

async function smtpTransport(config: Config, url: string, dkim: DkimOptions | undefined): Promise<MailTransport> {
  const { default: nodemailer } = await import('nodemailer');
  const transporter = nodemailer.createTransport({ ...POOL_OPTIONS, url, ...(dkim ? { dkim } : {}) } as never);
  const from = senderAddress(config);
  return {
    kind: 'smtp',
    dkimEnabled: Boolean(dkim),
    target: describeRelay(url),
    send: async (msg) => {
      const info = (await transporter.sendMail(mailOptions(from, msg))) as { accepted?: unknown[]; rejected?: unknown[]; rejectedErrors?: unknown[]; response?: string };
      return { accepted: addresses(info.accepted), rejected: addresses(info.rejected), refusals: refusalsOf(info.rejectedErrors), response: info.response ?? '' };
    },
    verify: async () => {
      await transporter.verify();
    },
    close: async () => {
      transporter.close();
    },
  };
}

async function folderTransport(config: Config, dkim: DkimOptions | undefined): Promise<MailTransport> {
  const { default: nodemailer } = await import('nodemailer');
  // The stream transport builds (and DKIM-signs) the same RFC 5322 message SMTP would carry.
  const transporter = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows', ...(dkim ? { dkim } : {}) } as never);
  const dir = join(config.dataDir, 'mail');
  const from = senderAddress(config);
  let sequence = 0;
  // The folder is made once per run, not once per message (a bulk run writes thousands).
  let folder: Promise<unknown> | undefined;
  return {
    kind: 'folder',
    dkimEnabled: Boolean(dkim),
    target: dir,
    send: async (msg) => {
      const info = (await transporter.sendMail(mailOptions(from, msg))) as { message: Buffer };
      await (folder ??= mkdir(dir, { recursive: true, mode: 0o700 }));
      const stamp = msg.date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
      const local = msg.messageId.replace(/^<|@.*$/g, '').replace(/[^A-Za-z0-9-]/g, '').slice(0, 36);
      const file = join(dir, `${stamp}-${local || String(++sequence)}.eml`);
      // The file is the delivered mail (it may hold a reset link), so only its owner may read it.
      await writeFile(file, info.message, { mode: 0o600 });
      return { accepted: msg.envelopeTo ?? [msg.to, ...(msg.cc ?? [])], rejected: [], refusals: [], response: `written to ${file}`, emlPath: file };
    },
    verify: async () => {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    },
    close: async () => {
      transporter.close();
    },
  };
}

function mailOptions(from: string, msg: TransportMessage): Record<string, unknown> {
  return {
    from,
    to: msg.to,
    cc: msg.cc?.length ? msg.cc : undefined,
    subject: msg.subject,
    text: msg.text,
    html: msg.html,
    messageId: msg.messageId,
    date: msg.date,
    ...(msg.envelopeTo ? { envelope: { from, to: msg.envelopeTo } } : {}),
    // Transactional mail: no List-Unsubscribe; tell auto-responders not to answer (RFC 3834).
    headers: { 'Auto-Submitted': 'auto-generated' },
  };
}

function addresses(list: unknown[] | undefined): string[] {
  return (list ?? []).map((a) => (typeof a === 'string' ? a : String((a as { address?: string }).address ?? a)));
}

/** nodemailer's per-recipient errors (`rejectedErrors`: recipient, responseCode, response) as Refusals. */
export function refusalsOf(errors: unknown[] | undefined): Refusal[] {
  return (errors ?? []).map((e) => {
    const r = e as { recipient?: unknown; responseCode?: unknown; response?: unknown; message?: unknown };
    return {
      address: String(r.recipient ?? ''),
      code: typeof r.responseCode === 'number' ? r.responseCode : null,
      response: oneLine(String(r.response ?? r.message ?? 'refused')),
    };
  });
}

const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim().slice(0, 500);

/** How a failed send should be treated: retried later, or failed for good. */
export interface SendFailure {
  temporary: boolean;
  /** The relay could not be reached at all (refused, timed out, dropped before talking). */
  unreachable: boolean;
  detail: string;
}

/** Classify a nodemailer error: 5xx replies are permanent; 4xx, dropped connections and outages are retried. */
export function classifySendError(err: unknown): SendFailure {
  const e = err as { code?: string; responseCode?: number; response?: string; message?: string; permanent?: boolean };
  const reply = oneLine(e.response ?? e.message ?? String(err));
  if (typeof e.responseCode === 'number' && e.responseCode >= 500 && e.code !== 'EAUTH') {
    return { temporary: false, unreachable: false, detail: reply };
  }
  if (typeof e.responseCode === 'number' && e.responseCode >= 400) return { temporary: true, unreachable: false, detail: reply };
  // A refused login is the relay configuration's fault, not the message's: retry once it is fixed.
  if (e.code === 'EAUTH') return { temporary: true, unreachable: true, detail: `the relay refused the login: ${reply}` };
  const unreachable = ['ECONNECTION', 'ESOCKET', 'ETIMEDOUT', 'EDNS', 'ECONNREFUSED', 'ETLS', 'EPROXY'].includes(e.code ?? '');
  return { temporary: true, unreachable, detail: reply };
}
