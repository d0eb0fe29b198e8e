/**
 * HMIS_MAIL_FROM with a display name, end to end through a real relay (issue 10): the From header shows
 * the name, the envelope sender is the bare address, and a DKIM signature over the header verifies.
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { seedUser } from '../helpers/lockout-seed.js';
import { mailFixture } from '../helpers/mail-fixture.js';
import { testRoot } from '../helpers/paths.js';
import { verifyDkim } from '../helpers/smtp.js';

const f = mailFixture();
const FROM = 'HMIS Support <no-reply@hmis.example.org>';

describe('HMIS_MAIL_FROM with a display name', () => {
  it('reaches the relay as From: HMIS Support <…>, MAIL FROM the address, DKIM-signed', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const keyFile = join(testRoot, `from-${process.pid}.pem`);
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    await seedUser(f.db.knex, { username: 'jdoe', email: 'jane@agency.example.org' });
    const env = {
      HMIS_SMTP_URL: f.relay.url, HMIS_MAIL_FROM: FROM, HMIS_SITE_URL: 'https://hmis.example.org',
      HMIS_DKIM_DOMAIN: 'hmis.example.org', HMIS_DKIM_SELECTOR: 's1', HMIS_DKIM_KEY_FILE: keyFile,
    };
    const r = await cli(['reset', 'send', 'jdoe', '--json'], { database: f.db, env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().results[0].outcome).toBe('sent');
    expect(f.relay.received).toHaveLength(1);
    const [m] = f.relay.received;
    expect(m!.from).toBe('no-reply@hmis.example.org');
    expect(m!.raw).toMatch(/^From: HMIS Support <no-reply@hmis\.example\.org>\r$/m);
    expect(m!.raw).toMatch(/^Message-ID: <[^@>]+@hmis\.example\.org>\r$/im);
    expect(verifyDkim(m!.raw, publicKey.export({ type: 'spki', format: 'pem' }) as string)).toMatchObject({ ok: true });
  });
});
