/**
 * Issue 12, item by item: bad input is refused at the edge (exit 2, or 3 for an id no account can
 * have), in one clean line naming the value, before anything is written.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cli, type CliResult } from '../helpers/cli.js';
import { openTestDb, type TestDb } from '../helpers/db.js';
import { fingerprint } from '../helpers/fingerprint.js';
import { seedAgency, seedUser } from '../helpers/lockout-seed.js';
import { testRoot } from '../helpers/paths.js';

let db: TestDb;
let home: string;
let dataDir: string;
let key: string;
let env: Record<string, string>;
let before: string;
const mail = () => join(dataDir, 'mail');
const run = (args: string[], extra: Record<string, string | undefined> = {}) => cli(args, { database: db, env: { ...env, ...extra } });

/** Exit `code`, one line naming `name`, and not one byte changed. */
async function refused(r: CliResult, code: number, name: RegExp | string): Promise<void> {
  expect(r.code, r.stderr).toBe(code);
  expect(r.stderr).toMatch(/^hmis-admin: [^\n]*\n$/);
  expect(r.stderr).toMatch(name);
  expect(r.stderr).not.toMatch(/select |SECURITY WARNING|unexpected error/);
  expect(r.stdout).toBe('');
  expect(await fingerprint(db.knex, mail())).toBe(before);
}

beforeAll(async () => {
  db = await openTestDb();
  home = mkdtempSync(join(testRoot, 'home-'));
  dataDir = db.env.HMIS_DATA_DIR ?? mkdtempSync(join(testRoot, 'data-'));
  const agency = await seedAgency(db.knex);
  await seedUser(db.knex, { username: 'bob', agencyId: agency });
  key = join(home, 'dkim.pem');
  writeFileSync(key, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  env = { ...db.env, HMIS_DATA_DIR: dataDir, HOME: home, XDG_DATA_HOME: home, HMIS_SITE_URL: 'https://hmis.example.org' };
});
beforeEach(async () => {
  before = await fingerprint(db.knex, mail());
});
afterAll(async () => {
  await db?.close();
  rmSync(home, { recursive: true, force: true });
});

describe('1. ids beyond the id column', () => {
  it.each([
    ['users', 'show', '#2147483648'],
    ['audit', '--user', '#2147483648'],
    ['lock', '#99999999999999', '--reason', 'left'],
    ['email', 'set', '#2147483648', 'bob.new@agency.org'],
    ['reset', 'send', `#${'9'.repeat(40)}`],
  ])('%s %s %s: does not exist (exit 3), no SQL in the message', async (...args) => {
    await refused(await run(args), 3, /no user "#\d+"/);
  });
});

describe('--format csv to a command with no CSV form', () => {
  // Once `demo --format csv` filled the database and `mail test --format csv` sent its mail, then refused.
  it.each([
    [['--format', 'csv', 'demo']],
    [['demo', '--users', '20', '--format', 'csv']],
    [['--format', 'csv', 'db', 'migrate']],
    [['--format', 'csv', 'mail', 'test', 'bob@agency.org']],
  ])('%j: refused before it runs (exit 2)', async (args) => {
    await refused(await run(args), 2, /this command has no CSV form; use --format table or --json/);
  });
});

describe('2. durations and dates the database cannot hold', () => {
  it.each([
    [['audit', '--since', '999999w'], /--since "999999w" is longer than 100 years/],
    [['users', 'list', '--expiring', '36526d'], /--expiring/],
    [['expiring', '--within', '9999999d'], /--within/],
    [['reset', 'send', 'bob', '--ttl', '99999999999999999999m'], /--ttl/],
    [['agreement', 'sign', 'bob', '--by', 'user', '--date', '0000-01-01'], /--date "0000-01-01" is before year 1/],
    [['agreement', 'sign', 'bob', '--by', 'user', '--date', '10000-01-01'], /--date/],
    [['agreement', 'sign', 'bob', '--by', 'user', '--date', '2026-01-01T00:00+99:00'], /--date .* offset/],
  ])('%j: exit 2', async (args, name) => {
    await refused(await run(args as string[]), 2, name as RegExp);
  });

  it('the longest duration accepted still queries cleanly', async () => {
    expect((await run(['audit', '--since', '5217w', '--json'])).code).toBe(0);
  });
});

describe('3. the database URL is configuration', () => {
  it.each(['postgres://127.0.0.1:99999/x', 'postgres://127.0.0.1:abc/x', 'postgres://[::1/x', 'postgres://127.0.0.1\u001b[31m/x', 'postgres://h/x%0a', 'postgres://h/x?sslmode=bogus'])(
    '--db %j and HMIS_DATABASE_URL: exit 2 naming the source',
    async (url) => {
      await refused(await run(['--db', url, 'users', 'list']), 2, /^hmis-admin: --db /);
      await refused(await run(['users', 'list'], { HMIS_DATABASE_URL: url }), 2, /^hmis-admin: HMIS_DATABASE_URL /);
    },
  );
});

describe('4. HMIS_DATA_DIR', () => {
  it('pointing at a file, or below one: exit 2 naming it', async () => {
    const file = join(home, 'not-a-folder');
    writeFileSync(file, 'x');
    await refused(await run(['users', 'list'], { HMIS_DATA_DIR: file }), 2, /HMIS_DATA_DIR ".*not-a-folder" is a file, not a folder/);
    await refused(await run(['users', 'list'], { HMIS_DATA_DIR: join(file, 'sub') }), 2, /HMIS_DATA_DIR .* has a file where a folder should be/);
  });
});

describe('5. mail test <address>', () => {
  it.each(['bob\u200b@x.org', 'bob\u202e@x.org', '.bob@x.org', 'ｂｏｂ@x.org', 'bob@x.123', 'bob@ｘ.org', 'Bob <bob@x.org>'])('%j: the rules of email set, before any write', async (a) => {
    await refused(await run(['mail', 'test', a]), 2, /^hmis-admin: address ".*" .*(give one plain address|type it again)/);
  });
});

describe('6. free text that is stored', () => {
  it.each(['\u009b31m', 'a\u0085b', 'x\u202ey', 'x\u2066y', 'x\u2069', '\u200b', '\u200b\u200c ', 'x'.repeat(501), 'a\u001b[2Jb'])('lock --reason %j: exit 2', async (reason) => {
    await refused(await run(['lock', 'bob', '--reason', reason]), 2, /--reason/);
  });

  it('a 100,000-character actor is refused, not cut to 100', async () => {
    await refused(await run(['--actor', 'a'.repeat(100_000), 'lock', 'bob', '--reason', 'left']), 2, /--actor "a+\.\.\." is 100000 characters long; at most 100/);
    await refused(await run(['lock', 'bob', '--reason', 'left'], { HMIS_ACTOR: 'a'.repeat(101) }), 2, /HMIS_ACTOR/);
    await refused(await run(['lock', 'bob', '--reason', 'left'], { HMIS_ACTOR: 'te\u200bster' }), 2, /HMIS_ACTOR .* invisible/);
  });

  it('prose may still hold joiners inside words, and is stored as given', async () => {
    const r = await run(['lock', 'bob', '--reason', 'left the agency \u2014 see ticket', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const row = await db.knex('audit_log').where({ action: 'lock' }).orderBy('id', 'desc').first();
    expect(row.details.note ?? JSON.parse(row.details).note).toBe('left the agency \u2014 see ticket');
    await db.knex('users').where({ username: 'bob' }).update({ locked_at: null, lock_reason: null });
  });
});

describe('7. links come only from the normalised HMIS_SITE_URL', () => {
  it.each(['https://hmis.example.org/\u001b[31m', 'https://hmis.example.org/\nx', 'https://hmis.example.org\\@evil.example', 'https://u:p@hmis.example.org', 'https://hmis.example.org/ x', 'https://hmis.example.org/a/../b'])(
    'HMIS_SITE_URL=%j: exit 2, no link printed or written',
    async (site) => {
      await refused(await run(['reset', 'send', 'bob', '--print-link'], { HMIS_SITE_URL: site }), 2, /HMIS_SITE_URL/);
    },
  );

  it('the printed and mailed link is built from the parsed form', async () => {
    const r = await run(['reset', 'send', 'bob', '--print-link', '--json'], { HMIS_SITE_URL: 'https://HMIS.Example.org:443/' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().results[0].link).toMatch(/^https:\/\/hmis\.example\.org\/password\/reset\?token=[A-Za-z0-9_-]{43}$/);
  });
});

describe('8. HMIS_SMTP_URL is parsed in full at start', () => {
  it.each(['smtp://127.0.0.1:99999', 'smtp://u:p@[::1', 'smtp://relay.example.org:0', 'smtps://relay.example.org/path', 'smtp://re lay.example.org'])('%j: exit 2 before the outbox is written', async (url) => {
    await refused(await run(['mail', 'test', 'bob@agency.org'], { HMIS_SMTP_URL: url, HMIS_MAIL_FROM: 'no-reply@hmis.example.org' }), 2, /HMIS_SMTP_URL/);
  });
});

describe('9. HMIS_MAIL_FROM', () => {
  it.each(['hmis\u001b@hmis.example.org', 'HMIS \u202e Support <a@hmis.example.org>', 'HMIS\u200b <a@hmis.example.org>', 'a@hmis.example.org (HMIS)', 'HMIS <a@[127.0.0.1]>', 'jane@agency.org <evil@evil.org>', 'HMIS <a@ｈｍｉｓ.example.org>'])(
    '%j: exit 2',
    async (from) => {
      await refused(await run(['mail', 'test', 'bob@agency.org'], { HMIS_MAIL_FROM: from }), 2, /HMIS_MAIL_FROM/);
    },
  );

  it('takes a display name, as CONTRACT says, and keeps the domain for Message-IDs', async () => {
    const r = await run(['mail', 'test', 'bob@agency.org', '--json'], { HMIS_MAIL_FROM: 'HMIS Support <no-reply@hmis.example.org>' });
    expect(r.code, r.stderr).toBe(0);
    const eml = readFileSync(r.json().emlPath, 'utf8');
    expect(eml).toMatch(/^From: HMIS Support <no-reply@hmis\.example\.org>\r?$/m);
    expect(eml).toMatch(/^Message-ID: <[^@>]+@hmis\.example\.org>\r?$/im);
  });
});

describe('10. DKIM settings are checked at start, before any write', () => {
  const dkim = (over: Record<string, string>) => ({ HMIS_DKIM_DOMAIN: 'hmis.example.org', HMIS_DKIM_SELECTOR: 's1', HMIS_DKIM_KEY_FILE: key, ...over });
  it('a junk, missing or folder key file, or an ed25519 key', async () => {
    const junk = join(home, 'junk.pem');
    writeFileSync(junk, 'junk');
    const folder = join(home, 'keys');
    mkdirSync(folder, { recursive: true });
    const ed = join(home, 'ed.pem');
    writeFileSync(ed, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
    for (const file of [junk, join(home, 'missing.pem'), folder, ed]) {
      await refused(await run(['reset', 'send', 'bob'], dkim({ HMIS_DKIM_KEY_FILE: file })), 2, /HMIS_DKIM_KEY_FILE/);
    }
  });

  it.each([
    ['HMIS_DKIM_DOMAIN', 'hmis example.org'],
    ['HMIS_DKIM_DOMAIN', 'hmis\u001b.example.org'],
    ['HMIS_DKIM_SELECTOR', '../x'],
    ['HMIS_DKIM_SELECTOR', 's1\r\nX: y'],
    ['HMIS_DKIM_SELECTOR', 's 1'],
  ])('%s=%j', async (name, value) => {
    await refused(await run(['reset', 'send', 'bob'], dkim({ [name]: value })), 2, name);
  });
});

describe('12. every refusal comes before the first write', () => {
  it('a mail folder that is untouched by a refused mail test', async () => {
    const files = () => (readdirSync(dataDir).includes('mail') ? readdirSync(mail()) : []);
    const n = files().length;
    await refused(await run(['mail', 'test', 'bob\u200b@x.org']), 2, /address/);
    expect(files()).toHaveLength(n);
  });
});
