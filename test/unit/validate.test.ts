/** The shared validators (src/validate/): each kind of value, as flags, variables and .env see it. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { parseDate, parseDuration } from '../../src/parse.js';
import { parseSender } from '../../src/validate/address.js';
import { parseDatabaseUrl, pgConnection } from '../../src/validate/database-url.js';
import { dnsName, urlHost } from '../../src/validate/host.js';
import { checkText } from '../../src/validate/text.js';
import { value } from '../../src/validate/values.js';
import { parseSiteUrl, parseSmtpUrl } from '../../src/validate/urls.js';

const refuses = (fn: () => unknown, message: RegExp) => expect(fn).toThrowError(expect.objectContaining({ exitCode: 2, message: expect.stringMatching(message) }));

describe('.env', () => {
  it('keeps its first line when the file starts with a UTF-8 byte-order mark', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hmis-bom-'));
    writeFileSync(join(dir, '.env'), '\ufeffHMIS_LOCKOUT_THRESHOLD=7\r\nHMIS_ACTOR=fromfile\r\n');
    expect(loadConfig({}, { HOME: '/h' }, dir, false)).toMatchObject({ lockoutThreshold: 7, actor: 'fromfile' });
  });

  it('goes through the same validators as the environment', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hmis-dotenv-'));
    writeFileSync(join(dir, '.env'), 'HMIS_SITE_URL="https://u:p@hmis.example.org"\n');
    refuses(() => loadConfig({}, { HOME: '/h' }, dir, false), /^HMIS_SITE_URL must not contain a user name or password/);
  });
});

describe('durations and dates', () => {
  it('bounds durations to 100 years', () => {
    expect(parseDuration('5217w', '--since')).toBe(5217 * 7 * 86_400_000);
    refuses(() => parseDuration('5218w', '--since'), /^--since "5218w" is longer than 100 years/);
    refuses(() => parseDuration(`${'9'.repeat(30)}d`, '--since'), /longer than 100 years/);
  });

  it('reads years 0001 to 9999 as written (not 1900 + two digits) and refuses the rest', () => {
    expect(parseDate('0050-03-01', '--date').toISOString()).toBe('0050-03-01T00:00:00.000Z');
    expect(parseDate('9999-12-31T23:59:59.5-23:59', '--date').toISOString()).toBe('+010000-01-01T23:58:59.500Z');
    refuses(() => parseDate('0000-01-01', '--date'), /before year 1/);
    refuses(() => parseDate('2026-01-01T00:00+24:00', '--date'), /offset beyond/);
  });
});

describe('URLs', () => {
  it('normalises the site URL; links are built from this form only', () => {
    expect(parseSiteUrl('https://HMIS.Example.org:443/', 'S')).toBe('https://hmis.example.org');
    expect(parseSiteUrl('https://bücher.example/hmis/', 'S')).toBe('https://xn--bcher-kva.example/hmis');
    expect(parseSiteUrl('http://localhost:8080', 'S')).toBe('http://localhost:8080');
    for (const bad of ['https://hmis.example.org\\@evil.example', 'https://a@hmis.example.org', 'https://hmis.example.org/\u001b[31m', 'https://hmis.example.org/\tx', 'https://ｈｍｉｓ.example.org', 'https://hmis.example.org?x=1']) {
      refuses(() => parseSiteUrl(bad, 'HMIS_SITE_URL'), /^HMIS_SITE_URL /);
    }
  });

  it('parses the relay URL in full', () => {
    expect(parseSmtpUrl('smtp://u:p@[::1]:2525', 'R')).toBe('smtp://u:p@[::1]:2525');
    refuses(() => parseSmtpUrl('smtp://u:p@[::1', 'HMIS_SMTP_URL'), /^HMIS_SMTP_URL has an unclosed|host "\[::1" has an unclosed/);
    refuses(() => parseSmtpUrl('smtp://relay.example.org:65536', 'HMIS_SMTP_URL'), /outside 1 to 65535/);
  });

  it('hands pg an ssl object for sslmode=require, so pg-connection-string has nothing to warn about', () => {
    let warned = false;
    const listen = () => (warned = true);
    process.on('warning', listen);
    try {
      expect(parseDatabaseUrl(' postgres://u@db.example.org:5432/hmis?sslmode=require ', '--db')).toBe('postgres://u@db.example.org:5432/hmis?sslmode=require');
      expect(pgConnection('postgres://u@db.example.org:5432/hmis?sslmode=require')).toMatchObject({ host: 'db.example.org', port: 5432, ssl: {} });
      expect(pgConnection('postgres://u@h/db?sslmode=disable').ssl).toBe(false);
      expect(pgConnection('postgres://u@h/db?sslmode=no-verify').ssl).toMatchObject({ rejectUnauthorized: false });
    } finally {
      process.off('warning', listen);
    }
    expect(warned).toBe(false);
  });

  it('hosts: names, IPv4, bracketed IPv6, underscores for container names; no look-alikes', () => {
    expect(urlHost('[::1]')).toEqual({ ok: true, host: '[::1]' });
    expect(urlHost('hmis_db')).toEqual({ ok: true, host: 'hmis_db' });
    expect(urlHost('[::1').ok).toBe(false);
    expect(dnsName('1.2.3.4', { dot: true }).ok).toBe(false);
    expect(dnsName('ｈｍｉｓ.org').ok).toBe(false);
  });
});

describe('HMIS_MAIL_FROM', () => {
  it('is an address, or a display name and an address', () => {
    expect(parseSender('HMIS Support <No-Reply@HMIS.example.org>', 'F')).toEqual({ header: 'HMIS Support <No-Reply@hmis.example.org>', address: 'No-Reply@hmis.example.org', name: 'HMIS Support' });
    expect(parseSender('"Support, HMIS" <a@hmis.example.org>', 'F').header).toBe('"Support, HMIS" <a@hmis.example.org>');
    expect(parseSender('no-reply@hmis.example.org', 'F').name).toBeNull();
  });
});

describe('free text', () => {
  it('refuses rather than cuts, and names the rule', () => {
    const rules = { max: 10, kind: 'name' as const };
    refuses(() => checkText('x'.repeat(11), '--actor', rules), /is 11 characters long; at most 10/);
    refuses(() => checkText('a\u200bb', '--actor', rules), /invisible/);
    expect(checkText('  zoë  ', '--actor', rules)).toBe('zoë');
    expect(checkText('من\u200cهم', '--reason', { max: 10, kind: 'prose' })).toBe('من\u200cهم'); // ZWNJ inside a Persian word
  });

  it('refuses U+FEFF (also at either end, where trimming would hide it), tag characters and the braille blank', () => {
    const prose = { max: 100, kind: 'prose' as const };
    const name = { max: 100, kind: 'name' as const };
    for (const bad of ['\ufeffleft', 'left\ufeff', 'left\ufeffthe agency', 'left \u{E0041}\u{E007F}', '\u{E0041}', '\u2800', 'left\u2800the agency']) {
      refuses(() => checkText(bad, '--reason', prose), /^--reason /);
      refuses(() => checkText(bad, '--actor', name), /^--actor /);
      refuses(() => value.reason('--reason')(bad), /^--reason /);
      refuses(() => value.ticket()(bad), /^--ticket /);
      refuses(() => value.actor('--actor')(bad), /^--actor /);
      refuses(() => value.user()(bad.replace(/ /g, '')), /^user /);
    }
  });
});

describe('relay, sender and site edges', () => {
  it('HMIS_SMTP_URL refuses query parameters it would silently drop', () => {
    for (const bad of ['smtp://127.0.0.1:2525?x=1', 'smtp://127.0.0.1:2525?secure=true', 'smtps://relay.example.org/?tls=false']) {
      refuses(() => parseSmtpUrl(bad, 'HMIS_SMTP_URL'), /^HMIS_SMTP_URL .*parameter/);
    }
    expect(parseSmtpUrl('smtp://127.0.0.1:2525', 'R')).toBe('smtp://127.0.0.1:2525');
  });

  it('HMIS_MAIL_FROM refuses an RFC 2047 encoded word in the display name', () => {
    refuses(() => parseSender('=?utf-8?b?SE1JUyBTdXBwb3J0?= <a@hmis.example.org>', 'HMIS_MAIL_FROM'), /^HMIS_MAIL_FROM .*=\?/);
    refuses(() => parseSender('"=?utf-8?q?x?=" <a@hmis.example.org>', 'HMIS_MAIL_FROM'), /^HMIS_MAIL_FROM /);
  });

  it('HMIS_SITE_URL refuses a percent-encoded backslash or control in its path', () => {
    for (const bad of ['https://hmis.example.org/a%5cb', 'https://hmis.example.org/a%5Cb', 'https://hmis.example.org/a%0d%0ab', 'https://hmis.example.org/%1b[31m', 'https://hmis.example.org/a%7fb']) {
      refuses(() => parseSiteUrl(bad, 'HMIS_SITE_URL'), /^HMIS_SITE_URL /);
    }
    expect(parseSiteUrl('https://hmis.example.org/a%20b', 'S')).toBe('https://hmis.example.org/a%20b');
  });
});
