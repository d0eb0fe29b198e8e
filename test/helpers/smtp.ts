/**
 * A real in-process SMTP relay (smtp-server) that can answer 421/550 or drop the connection on cue,
 * refuse chosen or pseudo-random recipients at RCPT (451/550), a DKIM verifier, and a tiny UDP DNS
 * server answering TXT queries — for the mail tests.
 */
import { createHash, createPublicKey, verify } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

// smtp-server holds every greeting back 100 ms to catch clients that talk too early; the tests' clients are
// nodemailer, and the suite opens hundreds of connections. Greet at once (left as it is if the internals moved).
{
  const proto = SMTPConnection.prototype as unknown as { init(): void; _setListeners?(ready: () => void): void; connectionReady?(): void };
  if (typeof proto._setListeners === 'function' && typeof proto.connectionReady === 'function') {
    proto.init = function (this: typeof proto) {
      this._setListeners!(() => this.connectionReady!());
    };
  }
}

export interface Received {
  raw: string;
  from: string;
  to: string[];
  messageId: string;
  connectionId: string;
}

/** What the relay does with the n-th (0-based) message it receives: accept, answer with a code, or drop. */
export type Verdict = 'accept' | 'drop' | { code: number; message: string };

export interface TestRelay {
  port: number;
  url: string;
  /** Messages accepted (250 after DATA), in order. */
  received: Received[];
  /** Every connection the relay saw. */
  connections: number;
  /** Decide per message (may wait, e.g. to break the database first); default accept. `seen` counts every DATA the relay got. */
  onMessage: (seen: number, raw: string) => Verdict | Promise<Verdict>;
  /** Recipients refused at RCPT TO with 550. */
  refuse: Set<string>;
  /** Recipients deferred at RCPT TO with 451 (until removed). */
  defer: Set<string>;
  /**
   * Decide per RCPT TO after `refuse` and `defer`: a reply code refuses the recipient, undefined accepts.
   * `nth` counts this address's RCPT commands so far (0 for the first), so a seeded rule gives the same
   * answers however the pool interleaves messages.
   */
  onRcpt: (address: string, nth: number) => { code: number; message: string } | undefined;
  /** Every RCPT TO the relay answered, and how many it refused. */
  rcpt: { seen: number; refused: number };
  acceptedCount(messageId: string): number;
  close(): Promise<void>;
}

/** Start a relay on a free port of 127.0.0.1 (no TLS, optional login). */
export async function startRelay(options: { user?: string; pass?: string } = {}): Promise<TestRelay> {
  let seen = 0;
  const relay = {
    received: [] as Received[],
    connections: 0,
    onMessage: (() => 'accept') as TestRelay['onMessage'],
    refuse: new Set<string>(),
    defer: new Set<string>(),
    onRcpt: (() => undefined) as TestRelay['onRcpt'],
    rcpt: { seen: 0, refused: 0 },
  };
  const perAddress = new Map<string, number>();
  const server: SMTPServer = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    authOptional: !options.user,
    allowInsecureAuth: true,
    logger: false,
    closeTimeout: 100,
    disableReverseLookup: true, // 127.0.0.1 has no name worth a DNS query (up to 1.5 s where DNS is slow)
    onConnect(_session, cb) {
      relay.connections++;
      cb();
    },
    onAuth(auth, _session, cb) {
      if (auth.username === options.user && auth.password === options.pass) cb(null, { user: auth.username });
      else cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onRcptTo(address, _session, cb) {
      const a = address.address;
      const nth = perAddress.get(a) ?? 0;
      perAddress.set(a, nth + 1);
      relay.rcpt.seen++;
      const verdict = relay.refuse.has(a)
        ? { code: 550, message: '5.1.1 mailbox unavailable: no such user here' }
        : relay.defer.has(a)
          ? { code: 451, message: '4.2.1 mailbox busy, try again later' }
          : relay.onRcpt(a, nth);
      if (!verdict) return cb();
      relay.rcpt.refused++;
      cb(Object.assign(new Error(verdict.message), { responseCode: verdict.code }));
    },
    onData(stream, session: SMTPServerSession, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', async () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const verdict = await relay.onMessage(seen++, raw);
        if (verdict === 'drop') {
          const conn = [...(server as unknown as { connections: Set<{ id: string; _socket: { destroy(): void } }> }).connections].find((c) => c.id === session.id);
          conn?._socket.destroy();
          return;
        }
        if (verdict !== 'accept') return cb(Object.assign(new Error(verdict.message), { responseCode: verdict.code }));
        relay.received.push({
          raw,
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          messageId: /^message-id:\s*(\S+)/im.exec(raw)?.[1] ?? '',
          connectionId: session.id,
        });
        cb(null, 'OK: queued as test');
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  const auth = options.user ? `${encodeURIComponent(options.user)}:${encodeURIComponent(options.pass ?? '')}@` : '';
  return Object.assign(relay, {
    port,
    url: `smtp://${auth}127.0.0.1:${port}`,
    acceptedCount: (id: string) => relay.received.filter((m) => m.messageId === id).length,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

/**
 * An onRcpt rule answering `code` to about `rate` of RCPT commands, chosen by a hash of (seed, address,
 * nth): deterministic for a seed whatever order the pooled connections send in.
 */
export function seededRcptFailures(seed: string, rate: number, code = 451): TestRelay['onRcpt'] {
  return (address, nth) => {
    const h = createHash('sha256').update(`${seed}\0${address}\0${nth}`).digest().readUInt32BE(0);
    if (h / 0x1_0000_0000 >= rate) return undefined;
    return code >= 500 ? { code, message: '5.1.1 mailbox unavailable' } : { code, message: '4.2.1 mailbox busy, try again later' };
  };
}

/** A port with nothing listening on it (relay down). */
export async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

// ---- DKIM (RFC 6376, relaxed/relaxed, rsa-sha256): enough to check what nodemailer signs ----

function relaxedHeader(line: string): string {
  const i = line.indexOf(':');
  return `${line.slice(0, i).trim().toLowerCase()}:${line.slice(i + 1).replace(/\r\n/g, '').replace(/[ \t]+/g, ' ').trim()}`;
}

function relaxedBody(body: string): string {
  const lines = body.split('\r\n').map((l) => l.replace(/[ \t]+/g, ' ').replace(/ $/, ''));
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines.length ? `${lines.join('\r\n')}\r\n` : '';
}

/** Verify the DKIM-Signature of a raw message with a PEM public key; returns the reason when it fails. */
export function verifyDkim(raw: string, publicKeyPem: string): { ok: boolean; reason: string; domain?: string; selector?: string; signed?: string[] } {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split + 2);
  const body = raw.slice(split + 4);
  const lines: string[] = [];
  for (const l of head.split('\r\n')) {
    if (l === '') continue;
    if (/^[ \t]/.test(l) && lines.length) lines[lines.length - 1] += `\r\n${l}`;
    else lines.push(l);
  }
  const sigLine = lines.find((l) => /^dkim-signature:/i.test(l));
  if (!sigLine) return { ok: false, reason: 'no DKIM-Signature header' };
  const tags = new Map<string, string>();
  for (const part of sigLine.slice(sigLine.indexOf(':') + 1).replace(/\s+/g, '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) tags.set(part.slice(0, eq), part.slice(eq + 1));
  }
  if (tags.get('a') !== 'rsa-sha256' || tags.get('c') !== 'relaxed/relaxed') return { ok: false, reason: `unexpected a=${tags.get('a')} c=${tags.get('c')}` };
  const bh = createHash('sha256').update(relaxedBody(body)).digest('base64');
  if (bh !== tags.get('bh')) return { ok: false, reason: 'body hash mismatch' };
  const names = (tags.get('h') ?? '').split(':').map((n) => n.toLowerCase());
  const pool = lines.filter((l) => l !== sigLine);
  let data = '';
  for (const name of names) {
    // Repeated names are taken from the bottom up; a name with no header left signs nothing.
    const idx = pool.map((l) => l.slice(0, l.indexOf(':')).trim().toLowerCase()).lastIndexOf(name);
    if (idx < 0) continue;
    data += `${relaxedHeader(pool[idx]!)}\r\n`;
    pool.splice(idx, 1);
  }
  data += relaxedHeader(sigLine).replace(/([;:]\s*b=)[^;]*/, '$1');
  const ok = verify('sha256', Buffer.from(data), createPublicKey(publicKeyPem), Buffer.from(tags.get('b') ?? '', 'base64'));
  return { ok, reason: ok ? 'verified' : 'signature does not verify', domain: tags.get('d'), selector: tags.get('s'), signed: names };
}

// ---- a UDP DNS server answering TXT queries from a table (NXDOMAIN otherwise) ----

export interface TestDns {
  server: string;
  queries: string[];
  close(): Promise<void>;
}

/** Answer TXT queries for `records` (name → TXT strings); unknown names get NXDOMAIN. */
export async function startDns(records: Record<string, string[]>): Promise<TestDns> {
  const queries: string[] = [];
  const socket: UdpSocket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => {
    let off = 12;
    const labels: string[] = [];
    while (msg[off]! > 0) {
      labels.push(msg.subarray(off + 1, off + 1 + msg[off]!).toString('ascii'));
      off += msg[off]! + 1;
    }
    const question = msg.subarray(12, off + 5);
    const qtype = msg.readUInt16BE(off + 1);
    const name = labels.join('.').toLowerCase();
    queries.push(name);
    const txts = qtype === 16 ? records[name] : undefined;
    const known = name in records;
    const answers = (txts ?? []).map((t) => {
      const chunks: Buffer[] = [];
      for (let i = 0; i < t.length || i === 0; i += 255) {
        const part = Buffer.from(t.slice(i, i + 255), 'utf8');
        chunks.push(Buffer.from([part.length]), part);
        if (t.length === 0) break;
      }
      const rdata = Buffer.concat(chunks);
      const rr = Buffer.alloc(12);
      rr.writeUInt16BE(0xc00c, 0);
      rr.writeUInt16BE(16, 2);
      rr.writeUInt16BE(1, 4);
      rr.writeUInt32BE(60, 6);
      rr.writeUInt16BE(rdata.length, 10);
      return Buffer.concat([rr, rdata]);
    });
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2);
    header.writeUInt16BE(0x8180 | (known ? 0 : 3), 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    socket.send(Buffer.concat([header, question, ...answers]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    server: `127.0.0.1:${socket.address().port}`,
    queries,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
