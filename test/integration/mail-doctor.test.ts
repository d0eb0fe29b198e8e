/** `mail doctor` against a tiny in-process DNS server: what is found, what is missing, and exit 5. */
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { openTestDb, type TestDb } from '../helpers/db.js';
import { testRoot } from '../helpers/paths.js';
import { startDns, type TestDns } from '../helpers/smtp.js';

let db: TestDb;
let dns: TestDns;
let keyFile: string;
let publicB64: string;
type Report = { domain: string; checks: Array<{ id: string; status: string; message: string; fix: string | null }> };

beforeAll(async () => {
  db = await openTestDb();
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  keyFile = join(testRoot, `doctor-${process.pid}.pem`);
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  publicB64 = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  dns = await startDns({
    'good.example.org': ['google-site-verification=abc', 'v=spf1 include:_spf.relay.example.net -all'],
    '_dmarc.good.example.org': ['v=DMARC1; p=quarantine; rua=mailto:dmarc@good.example.org'],
    's1._domainkey.good.example.org': [`v=DKIM1; k=rsa; p=${publicB64}`],
    'old.example.org': ['v=spf1 +all', 'v=spf1 -all'],
    's1._domainkey.old.example.org': ['v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDwrongkey'],
    'bare.example.org': [], // exists, with no TXT record (NODATA)
  });
});
afterAll(async () => {
  await dns?.close();
  await db?.close();
});

const doctor = (env: Record<string, string>) => cli(['mail', 'doctor', '--json', '--dns-server', dns.server], { database: db, env });
const byId = (r: Report) => Object.fromEntries(r.checks.map((c) => [c.id, c]));

describe('mail doctor', () => {
  it('passes a domain with SPF, DMARC and the matching DKIM key (exit 0)', async () => {
    const r = await doctor({
      HMIS_SMTP_URL: 'smtps://u:p@relay.example.net:465',
      HMIS_MAIL_FROM: 'hmis@good.example.org',
      HMIS_DKIM_DOMAIN: 'good.example.org',
      HMIS_DKIM_SELECTOR: 's1',
      HMIS_DKIM_KEY_FILE: keyFile,
    });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const report = r.json<Report>();
    expect(report.domain).toBe('good.example.org');
    expect(report.checks.map((c) => [c.id, c.status])).toEqual([
      ['sender', 'ok'], ['relay_tls', 'ok'], ['spf', 'ok'], ['dmarc', 'ok'], ['dkim', 'ok'],
    ]);
    expect(dns.queries).toEqual(expect.arrayContaining(['good.example.org', '_dmarc.good.example.org', 's1._domainkey.good.example.org']));
  });

  it('says what is missing and why it lands in spam (exit 5)', async () => {
    const r = await doctor({ HMIS_SMTP_URL: 'smtp://relay.example.net:587', HMIS_MAIL_FROM: 'hmis@bare.example.org' });
    expect(r.code).toBe(5);
    const c = byId(r.json<Report>());
    expect(c.spf).toMatchObject({ status: 'fail' });
    expect(c.spf!.message).toMatch(/no SPF record for bare\.example\.org.*spam/);
    expect(c.dmarc!.status).toBe('fail');
    expect(c.dmarc!.fix).toMatch(/_dmarc\.bare\.example\.org/);
    expect(c.dkim).toMatchObject({ status: 'fail' });
    expect(c.dkim!.message).toMatch(/DKIM signing is off/);
    expect(c.relay_tls!.status).toBe('warn');
  });

  it('catches two SPF records and a published key that does not match the key file', async () => {
    const r = await doctor({
      HMIS_SMTP_URL: 'smtps://relay.example.net',
      HMIS_MAIL_FROM: 'hmis@old.example.org',
      HMIS_DKIM_DOMAIN: 'old.example.org',
      HMIS_DKIM_SELECTOR: 's1',
      HMIS_DKIM_KEY_FILE: keyFile,
    });
    expect(r.code).toBe(5);
    const c = byId(r.json<Report>());
    expect(c.spf!.message).toMatch(/2 SPF records/);
    expect(c.dkim!.message).toMatch(/does not match HMIS_DKIM_KEY_FILE/);
  });

  it('gives up quickly on a resolver that does not answer, and refuses a bad resolver address', async () => {
    const started = Date.now();
    const r = await cli(['mail', 'doctor', '--json', '--dns-server', '127.0.0.1:9'], { database: db, env: { HMIS_MAIL_FROM: 'hmis@good.example.org' } });
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(r.code).toBe(5);
    expect(byId(r.json<Report>()).spf!.message).toMatch(/lookup of good\.example\.org failed|no SPF/);
    const bad = await cli(['mail', 'doctor', '--dns-server', 'dns.example.org'], { database: db, env: {} });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--dns-server "dns.example.org" is not a resolver address/);
  });

  it('tells a domain that does not exist (NXDOMAIN) from one without a record', async () => {
    const r = await doctor({ HMIS_MAIL_FROM: 'hmis@typo.example.org' });
    expect(r.code).toBe(5);
    const c = byId(r.json<Report>());
    expect(c.spf!.message).toMatch(/the domain typo\.example\.org does not exist \(NXDOMAIN\)/);
    expect(c.dmarc!.message).toMatch(/does not exist \(NXDOMAIN\)/);
    expect(c.spf!.fix).toMatch(/HMIS_MAIL_FROM/);
    // bare.example.org exists: its SPF is missing, not the domain.
    const bare = byId((await doctor({ HMIS_MAIL_FROM: 'hmis@bare.example.org' })).json<Report>());
    expect(bare.spf!.message).not.toMatch(/NXDOMAIN/);
  });

  it('without HMIS_MAIL_FROM says to set it instead of advising records for localhost', async () => {
    const r = await doctor({});
    expect(r.code).toBe(5);
    const report = r.json<Report>();
    expect(report.domain).toBeNull();
    expect(JSON.stringify(report)).not.toMatch(/localhost\b(?!\W*which)|_dmarc\.localhost/);
    const c = byId(report);
    expect(c.sender).toMatchObject({ status: 'fail', fix: expect.stringMatching(/HMIS_MAIL_FROM=/) });
    for (const id of ['spf', 'dmarc', 'dkim']) expect(c[id]).toMatchObject({ status: 'warn', message: expect.stringMatching(/not checked: HMIS_MAIL_FROM is not set/) });
    expect(dns.queries.filter((q) => q.includes('localhost'))).toEqual([]);
    const text = await cli(['mail', 'doctor', '--dns-server', dns.server], { database: db, env: {} });
    expect(text.stdout).toMatch(/^sender domain: \(none: HMIS_MAIL_FROM is not set\)/);
  });

  it('prints a readable report in table mode', async () => {
    const r = await cli(['mail', 'doctor', '--dns-server', dns.server], { database: db, env: { HMIS_MAIL_FROM: 'hmis@good.example.org' } });
    expect(r.stdout).toMatch(/^sender domain: good\.example\.org/);
    expect(r.stdout).toMatch(/fail\s+dkim\s+DKIM signing is off/);
    expect(r.stdout).toMatch(/fix: /);
  });
});
