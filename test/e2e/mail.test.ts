/** The built binary: outbox, outbox flush, mail test and mail doctor print one parseable JSON document. */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderMail } from '../../src/mail/compose.js';
import { enqueueMail } from '../../src/mail/outbox.js';
import { cli, spawnCli } from '../helpers/cli.js';
import { binPath, sandboxEnv } from '../helpers/paths.js';
import { spawnTestDb, withOpen, type SpawnDb } from '../helpers/db.js';
import { startDns, startRelay, type TestDns, type TestRelay } from '../helpers/smtp.js';

let sdb: SpawnDb;
let relay: TestRelay;
let dns: TestDns;
const FROM = 'hmis@e2e.example.org';
const env = () => ({ ...sdb.env, HMIS_SITE_URL: 'https://hmis.test.example.org', HMIS_SMTP_URL: relay.url, HMIS_MAIL_FROM: FROM, HMIS_DNS_SERVER: dns.server });

beforeAll(async () => {
  sdb = await spawnTestDb();
  relay = await startRelay();
  dns = await startDns({ 'e2e.example.org': ['v=spf1 -all'], '_dmarc.e2e.example.org': ['v=DMARC1; p=reject'] });
  // Migrate (a server database starts empty), then queue three messages, in-process on the file's database
  // (the handle is closed before any spawn; the tests below spawn the binary).
  await withOpen(sdb, async (database) => {
    const migrated = await cli(['db', 'migrate', '--json'], { database, env: sdb.env });
    expect(migrated.code, migrated.stderr).toBe(0);
    const first = await cli(['outbox', '--json'], { database, env: sdb.env });
    expect(first.code, first.stderr).toBe(0);
    expect(first.json()).toEqual([]);
    const body = renderMail({ greeting: 'Hello,', paragraphs: ['e2e'], senderHint: FROM });
    for (let i = 0; i < 3; i++) await enqueueMail(database.knex, { kind: 'notice', to: `e2e${i}@agency.org`, subject: 'e2e', ...body });
  });
});
afterAll(async () => {
  await relay?.close();
  await dns?.close();
  await sdb?.drop();
});

describe('mail commands (built binary)', () => {
  it('outbox --json lists the queue', async () => {
    const r = await spawnCli(['outbox', '--json', '--status', 'pending'], env());
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toHaveLength(3);
  });

  it('outbox flush --json delivers and exits 0', async () => {
    const r = await spawnCli(['outbox', 'flush', '--json'], env());
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().results.map((x: { outcome: string }) => x.outcome)).toEqual(['sent', 'sent', 'sent']);
    expect(relay.received).toHaveLength(3);
  });

  it('mail test --json proves the relay', async () => {
    const r = await spawnCli(['mail', 'test', 'admin@agency.org', '--json'], env());
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ connected: true, authenticated: false, sent: true, dkimSigned: false }); // no credentials configured
  });

  it('mail doctor --json reads HMIS_DNS_SERVER and exits 5 when DKIM is missing', async () => {
    const r = await spawnCli(['mail', 'doctor', '--json'], env());
    expect(r.code, r.stderr).toBe(5);
    const report = r.json<{ domain: string; checks: Array<{ id: string; status: string }> }>();
    expect(report.domain).toBe('e2e.example.org');
    expect(Object.fromEntries(report.checks.map((c) => [c.id, c.status]))).toMatchObject({ spf: 'ok', dmarc: 'ok', dkim: 'fail' });
  });
});

describe('outbox flush stopped by a signal (cron\'s SIGTERM)', () => {
  it('claims nothing more, tries and settles what it had claimed, leaves the rest pending, and exits 143', async () => {
    const body = renderMail({ greeting: 'Hello,', paragraphs: ['signal'], senderHint: FROM });
    await withOpen(sdb, async (database) => {
      for (let i = 0; i < 40; i++) await enqueueMail(database.knex, { kind: 'notice', to: `sig${i}@agency.org`, subject: 'signal', ...body });
    });
    const before = relay.received.length;
    const child = spawn(process.execPath, [binPath, 'outbox', 'flush', '--json'], { env: { PATH: process.env.PATH ?? '', ...sandboxEnv(), HMIS_ACTOR: 'e2e', ...env() } });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.stdout.resume();
    // A slow relay; the run is told to stop as the first message arrives.
    let told = false;
    relay.onMessage = async () => {
      if (!told) child.kill('SIGTERM');
      told = true;
      await new Promise((r) => setTimeout(r, 150));
      return 'accept' as const;
    };
    try {
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(code, stderr).toBe(143);
      expect(stderr).toMatch(/stopped by SIGTERM after trying the \d+ message\(s\) it had claimed; \d+ more stay queued for the next `hmis-admin outbox flush`/);
      expect(stderr).not.toMatch(/\n\s+at /);
    } finally {
      relay.onMessage = () => 'accept';
    }
    const rows = await withOpen(sdb, (database) => database.knex('mail_outbox').where({ subject: 'signal' }).select('status', 'attempts'));
    const by = (status: string) => rows.filter((r: { status: string }) => r.status === status);
    // Nothing left claimed: every claimed message was tried and settled; the others were never touched.
    expect(by('sending')).toEqual([]);
    expect(by('sent').length).toBe(relay.received.length - before);
    expect(by('sent').length).toBeGreaterThan(0);
    expect(by('pending').length).toBeGreaterThan(0);
    expect(by('pending').every((r: { attempts: number | string }) => Number(r.attempts) === 0)).toBe(true);
    expect(by('sent').length + by('pending').length).toBe(40);
  });
});
