// The floor of `outbox flush` in `npm run bench`: a bare pooled nodemailer script sending the same
// messages (argv[2], a JSON file) to the same relay (argv[3]), all at once, with the tool's pool sizing
// (src/mail/transport.ts POOL_OPTIONS). No database, no bookkeeping: the fastest the relay can be fed.
import { readFileSync } from 'node:fs';
import nodemailer from 'nodemailer';

const messages = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const transport = nodemailer.createTransport({ pool: true, maxConnections: 3, maxMessages: 100, url: process.argv[3] });
const from = process.env.HMIS_MAIL_FROM;
await Promise.all(
  messages.map((m) => transport.sendMail({ from, to: m.to, cc: m.cc?.length ? m.cc : undefined, subject: m.subject, text: m.text, html: m.html })),
);
transport.close();
