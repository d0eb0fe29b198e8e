/**
 * Message bodies: one plain-text part and one HTML part saying exactly the same thing (spam filters
 * score HTML-only or mismatched alternatives: SpamAssassin MIME_HTML_ONLY, MPART_ALT_DIFF), and a
 * footer that names the sender address to look for in the spam folder.
 */
import type { Config } from '../config.js';
import { LINK_PLACEHOLDER } from './types.js';

export interface MailContent {
  greeting: string;
  paragraphs: string[];
  /** Where the link goes; the outbox puts the minted URL in place of {{link}} at delivery. */
  link?: { label: string };
  /** Paragraphs after the link. */
  after?: string[];
  /** The sender address the footer names (senderAddress(config)). */
  senderHint: string;
}

/** The address every message is sent from: HMIS_MAIL_FROM, or a local address in .eml folder mode. */
export function senderAddress(config: Config): string {
  return config.mailFrom ?? 'hmis-admin@localhost';
}

/** The domain of the sender address: Message-IDs are made on it and `mail doctor` checks it. */
export function senderDomain(config: Config): string {
  const from = config.mailFromAddress ?? senderAddress(config); // never the display name's part
  return from.slice(from.lastIndexOf('@') + 1).toLowerCase();
}

/** The footer, the same sentences in both parts. */
export function spamFooter(sender: string): string {
  return (
    `This message was sent by the HMIS administrators from ${sender}. ` +
    `If you found it in your spam or junk folder, please mark it as "Not spam" and add ${sender} ` +
    'to your contacts so that the next message from HMIS reaches your inbox.'
  );
}

/** HTML-escape text for element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Build the plain-text and HTML parts of one message; both carry {{link}} where the link goes. */
export function renderMail(input: MailContent): { text: string; html: string } {
  const footer = spamFooter(input.senderHint);
  const after = input.after ?? [];

  const text: string[] = [input.greeting, ...input.paragraphs];
  if (input.link) text.push(`${input.link.label}:\n${LINK_PLACEHOLDER}`);
  text.push(...after, footer);

  // The link is shown as its own visible text: no hidden targets, the reader sees where it leads.
  const para = (s: string) => `<p>${escapeHtml(s).replace(/\n/g, '<br>\n')}</p>`;
  const html: string[] = [input.greeting, ...input.paragraphs].map(para);
  if (input.link) {
    html.push(`<p>${escapeHtml(input.link.label)}:<br>\n<a href="${LINK_PLACEHOLDER}">${LINK_PLACEHOLDER}</a></p>`);
  }
  html.push(...after.map(para));
  html.push(`<hr>\n<p style="color:#555;font-size:90%">${escapeHtml(footer)}</p>`);

  return {
    text: `${text.join('\n\n')}\n`,
    html:
      '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"></head>\n' +
      `<body style="font-family:sans-serif;line-height:1.4">\n${html.join('\n')}\n</body>\n</html>\n`,
  };
}

/** Put the minted link in place of {{link}}: raw in the text part, escaped in the HTML part. */
export function insertLink(parts: { text: string; html: string }, url: string): { text: string; html: string } {
  return {
    text: parts.text.split(LINK_PLACEHOLDER).join(url),
    html: parts.html.split(LINK_PLACEHOLDER).join(escapeHtml(url)),
  };
}
