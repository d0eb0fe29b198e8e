import { UsageError } from '../../src/errors.js';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { testRoot } from '../helpers/paths.js';

const empty = mkdtempSync(join(testRoot, 'hmis-cfg-'));
const load = (env: Record<string, string>, flags = {}, cwd = empty) => loadConfig(flags, { HOME: '/home/x', ...env }, cwd, false);

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    const c = load({});
    expect(c).toMatchObject({
      databaseUrl: null,
      databaseSource: 'embedded',
      dataDir: '/home/x/.local/share/hmis-admin',
      siteUrl: null,
      resetPath: '/password/reset',
      verifyPath: '/email/confirm',
      smtpUrl: null,
      dkim: null,
      lockoutThreshold: 3,
      resetTtlMs: 60 * 60_000,
      agreementTermMs: 365 * 86_400_000,
      reminderDays: [30, 14, 7, 1],
      format: 'table',
      color: false,
    });
  });

  it('orders flags > environment > .env > defaults', () => {
    const dir = mkdtempSync(join(testRoot, 'hmis-cfg-'));
    writeFileSync(join(dir, '.env'), 'HMIS_DATABASE_URL=postgres://dotenv/db\nHMIS_LOCKOUT_THRESHOLD=5\nHMIS_ACTOR=fromfile\n');
    expect(load({}, {}, dir)).toMatchObject({ databaseUrl: 'postgres://dotenv/db', lockoutThreshold: 5, actor: 'fromfile' });
    expect(load({ HMIS_DATABASE_URL: 'postgres://env/db', HMIS_ACTOR: 'fromenv' }, {}, dir)).toMatchObject({ databaseUrl: 'postgres://env/db', actor: 'fromenv', databaseSource: 'env' });
    expect(load({ HMIS_DATABASE_URL: 'postgres://env/db' }, { db: 'postgres://flag/db', actor: 'alice' }, dir)).toMatchObject({
      databaseUrl: 'postgres://flag/db',
      databaseSource: 'flag',
      actor: 'alice',
    });
  });

  it('an empty variable counts as unset: the .env value applies', () => {
    const dir = mkdtempSync(join(testRoot, 'hmis-cfg-'));
    writeFileSync(join(dir, '.env'), 'HMIS_SITE_URL=https://hmis.example.org\nHMIS_LOCKOUT_THRESHOLD=5\n');
    expect(load({ HMIS_SITE_URL: '', HMIS_LOCKOUT_THRESHOLD: '' }, {}, dir)).toMatchObject({ siteUrl: 'https://hmis.example.org', lockoutThreshold: 5 });
    expect(load({ HMIS_SITE_URL: '' }).siteUrl).toBeNull();
  });

  it('checks the PG* variables pg reads, naming the variable (exit 2)', () => {
    const refused = (env: Record<string, string>, re: RegExp) => {
      expect(() => load(env)).toThrow(UsageError);
      expect(() => load(env)).toThrow(re);
    };
    refused({ PGHOST: '127.0.0.1', PGPORT: '99999' }, /^PGPORT "99999" has the port 99999, outside 1 to 65535; .*HMIS_DATABASE_URL/);
    refused({ PGHOST: '127.0.0.1', PGPORT: 'abc' }, /^PGPORT /);
    refused({ PGHOST: 'db\u001b[31m.example.org' }, /^PGHOST .*control characters/);
    refused({ PGHOST: 'db example.org' }, /^PGHOST /);
    refused({ PGHOST: 'db.example.org', PGDATABASE: 'hmis\u202e' }, /^PGDATABASE .*bidi/);
    refused({ PGHOST: 'db.example.org', PGUSER: 'x'.repeat(64) }, /^PGUSER .*63 bytes/);
    // Also with a URL: pg fills what the URL leaves out from them.
    refused({ HMIS_DATABASE_URL: 'postgres://db.example.org/hmis', PGPORT: '0' }, /^PGPORT /);
    expect(load({ PGHOST: '/var/run/postgresql', PGPORT: '5433', PGDATABASE: 'hmis', PGUSER: 'hmis_admin' }).databaseSource).toBe('pg-env');
    expect(load({ PGHOST: '::1' }).databaseSource).toBe('pg-env');
  });

  it('uses XDG_DATA_HOME and the PG* variables', () => {
    expect(load({ XDG_DATA_HOME: '/xdg' }).dataDir).toBe('/xdg/hmis-admin');
    expect(load({ PGHOST: 'db.example.org' }).databaseSource).toBe('pg-env');
  });

  it.each([
    [{ HMIS_DATABASE_URL: 'mysql://x' }, /^HMIS_DATABASE_URL "mysql:\/\/x" must start with postgres:\/\/ or postgresql:\/\//],
    [{ HMIS_SITE_URL: 'hmis.example.org' }, /^HMIS_SITE_URL "hmis.example.org" is not a URL .*; give the bare site address/],
    [{ HMIS_SITE_URL: 'https://hmis.example.org/?next=evil' }, /^HMIS_SITE_URL/],
    [{ HMIS_RESET_PATH: 'password/reset' }, /^HMIS_RESET_PATH .* must be a path/],
    [{ HMIS_SMTP_URL: 'http://relay' }, /^HMIS_SMTP_URL "http:\/\/relay" must start with smtp:\/\/ or smtps:\/\//],
    [{ HMIS_SMTP_URL: 'smtp://relay.example.org' }, /^HMIS_MAIL_FROM is required when HMIS_SMTP_URL is set/],
    [{ HMIS_DKIM_DOMAIN: 'example.org' }, /DKIM needs all three/],
    [{ HMIS_LOCKOUT_THRESHOLD: '0' }, /^HMIS_LOCKOUT_THRESHOLD 0 is out of range; give a number from 1 to 100/],
    [{ HMIS_LOCKOUT_THRESHOLD: 'three' }, /^HMIS_LOCKOUT_THRESHOLD/],
    [{ HMIS_RESET_TTL: '5x' }, /^HMIS_RESET_TTL "5x" is not a duration/],
    [{ HMIS_RESET_TTL: '30d' }, /^HMIS_RESET_TTL "30d" must be between 5m and 7d/],
    [{ HMIS_AGREEMENT_TERM: '36h' }, /^HMIS_AGREEMENT_TERM "36h" must be a whole number of days/],
    [{ HMIS_REMINDER_DAYS: '30;14' }, /^HMIS_REMINDER_DAYS "30;14" must be a comma-separated list/],
    [{ HMIS_REMINDER_DAYS: '30,0' }, /^HMIS_REMINDER_DAYS .* each stage must be from 1 to 365 days/],
  ])('%j is a one-line exit-2 error naming the variable', (env, message) => {
    expect(() => load(env as Record<string, string>)).toThrowError(expect.objectContaining({ exitCode: 2, message: expect.stringMatching(message) }));
  });

  it('does not echo a password from a URL', () => {
    expect(() => load({ HMIS_SMTP_URL: 'smtp://user:secret@relay' })).toThrowError(expect.not.objectContaining({ message: expect.stringContaining('secret') }));
  });

  it('names --db when the flag is wrong, and reads formats', () => {
    expect(() => load({}, { db: 'nope' })).toThrowError(/^--db "nope"/);
    expect(load({}, { json: true }).format).toBe('json');
    expect(load({}, { format: 'csv' }).format).toBe('csv');
    expect(() => load({}, { json: true, format: 'csv' })).toThrowError(/--json contradicts --format "csv"/);
  });

  it('sorts and de-duplicates reminder stages; lowercases the DKIM domain', () => {
    expect(load({ HMIS_REMINDER_DAYS: '1, 7,30,7' }).reminderDays).toEqual([30, 7, 1]);
    const dir = mkdtempSync(join(testRoot, 'hmis-cfg-'));
    writeFileSync(join(dir, 'k.pem'), generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    expect(load({ HMIS_DKIM_DOMAIN: 'Example.ORG', HMIS_DKIM_SELECTOR: 's1', HMIS_DKIM_KEY_FILE: 'k.pem' }, {}, dir).dkim?.domain).toBe('example.org');
  });

  it('colour only on a TTY without NO_COLOR or --no-color', () => {
    expect(loadConfig({}, { HOME: '/h' }, empty, true).color).toBe(true);
    expect(loadConfig({}, { HOME: '/h', NO_COLOR: '1' }, empty, true).color).toBe(false);
    expect(loadConfig({ color: false }, { HOME: '/h' }, empty, true).color).toBe(false);
    // FORCE_COLOR=0/false and TERM=dumb mean plain text too (a tester saw colour with both).
    for (const env of [{ FORCE_COLOR: '0' }, { FORCE_COLOR: 'false' }, { TERM: 'dumb' }]) expect(loadConfig({}, { HOME: '/h', ...env }, empty, true).color, JSON.stringify(env)).toBe(false);
    expect(loadConfig({}, { HOME: '/h', FORCE_COLOR: '1', TERM: 'xterm-256color' }, empty, true).color).toBe(true);
  });
});

describe('secrets in configuration errors', () => {
  it.each(['postgress://admin:s3/cr3t@db.internal/hmis', 'smtpx://u:p@ss/w@relay'])('never echoes %j', (url) => {
    const key = url.startsWith('smtpx') ? 'HMIS_SMTP_URL' : 'HMIS_DATABASE_URL';
    let message = '';
    try {
      loadConfig({}, { HOME: '/h', [key]: url }, mkdtempSync(join(testRoot, 'hmis-cfg-')), false);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(new RegExp(`^${key} must start with`));
    expect(message).not.toMatch(/cr3t|ss\/w/);
  });
});
