/**
 * The README's scheduled-job examples work as printed: the job environment file carries every variable a
 * run needs (an `outbox flush` with only that file delivers a queued reset link), the cron lines and the
 * systemd units read it, and each systemd unit is its own file that `systemd-analyze verify` accepts.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { openTestDb, type TestDb } from '../helpers/db.js';
import { FROM, Leaks, seedUsers, SITE } from '../helpers/links.js';
import { repoRoot, testRoot } from '../helpers/paths.js';
import { startRelay, type TestRelay } from '../helpers/smtp.js';

const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
/** Fenced blocks of a language whose first line is `# <path>`: path → content. */
function blocks(lang: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of readme.matchAll(new RegExp('^```' + lang + '\\n# (\\S+)[^\\n]*\\n([\\s\\S]*?)^```$', 'gm'))) {
    expect(out.has(m[1]!), `README shows ${m[1]} twice`).toBe(false);
    out.set(m[1]!, m[2]!);
  }
  return out;
}
const ENV_FILE = '/etc/hmis-admin/.env';
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';

describe('the job environment file', () => {
  let db: TestDb;
  let relay: TestRelay;
  beforeAll(async () => {
    db = await openTestDb();
    relay = await startRelay();
  });
  afterAll(async () => {
    await relay?.close();
    await db?.close();
  });

  it('is shown once, and the cron lines and systemd units all run where it is read', () => {
    const env = blocks('sh').get(ENV_FILE);
    expect(env, `README shows ${ENV_FILE}`).toBeDefined();
    for (const v of ['HMIS_DATABASE_URL', 'HMIS_SITE_URL', 'HMIS_SMTP_URL', 'HMIS_MAIL_FROM', 'HMIS_ACTOR']) expect(env).toMatch(new RegExp(`^${v}=\\S+`, 'm'));
    const cron = blocks('cron').get('/etc/cron.d/hmis-admin')!;
    const jobs = cron.split('\n').filter((l) => /^[\d*]/.test(l));
    expect(jobs.length).toBeGreaterThanOrEqual(3);
    for (const line of jobs) expect(line).toMatch(/ cd \/etc\/hmis-admin && hmis-admin /);
    const services = [...blocks('ini')].filter(([path]) => path.endsWith('.service'));
    expect(services.length).toBeGreaterThanOrEqual(2);
    for (const [, unit] of services) expect(unit).toMatch(/^WorkingDirectory=\/etc\/hmis-admin$/m);
  });

  it('is all an outbox flush needs to deliver a queued reset link', async () => {
    const { alice } = await seedUsers(db.knex, [{ username: 'alice' }]);
    relay.onMessage = () => ({ code: 421, message: '4.3.2 try again later' });
    const sendEnv = { ...db.env, HMIS_SITE_URL: SITE, HMIS_SMTP_URL: relay.url, HMIS_MAIL_FROM: FROM };
    expect((await cli(['reset', 'send', 'alice', '--json'], { database: db, env: sendEnv })).json().results[0].outcome).toBe('queued');
    relay.onMessage = () => 'accept';

    // The README's file as is, but for where the relay and the database of this test are.
    const dir = mkdtempSync(join(testRoot, 'job-'));
    const file = blocks('sh')
      .get(ENV_FILE)!
      .replace(/^HMIS_SMTP_URL=.*$/m, `HMIS_SMTP_URL=${relay.url}`)
      .replace(/^HMIS_DATABASE_URL=.*$/m, (line) => (db.env.HMIS_DATABASE_URL ? `HMIS_DATABASE_URL=${db.env.HMIS_DATABASE_URL}` : line));
    writeFileSync(join(dir, '.env'), file, { mode: 0o600 });
    const site = /^HMIS_SITE_URL=(\S+)$/m.exec(file)![1]!;
    const later = new Date(Date.now() + 10 * 60_000);
    // Nothing from the test's own environment: only PATH, HMIS_ACTOR and the file in the working directory.
    const r = await cli(['-q', 'outbox', 'flush', '--json'], { database: db, env: {}, cwd: dir, clock: () => later });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().results.map((x: { outcome: string }) => x.outcome)).toEqual(['sent']);
    const mail = await new Leaks().fromMail(relay);
    expect(mail.url.startsWith(`${site}/password/reset?token=`)).toBe(true);
    expect(await db.knex('password_reset_tokens').where('user_id', alice!).whereNull('revoked_at')).toHaveLength(1);
  });
});

describe('the systemd units', () => {
  const units = [...blocks('ini')].filter(([path]) => path.startsWith('/etc/systemd/system/'));

  it('are one unit per block: every timer has its service', () => {
    const names = units.map(([path]) => path.slice('/etc/systemd/system/'.length));
    expect(names.filter((n) => n.endsWith('.timer')).length).toBeGreaterThanOrEqual(2);
    for (const n of names.filter((x) => x.endsWith('.timer'))) expect(names).toContain(n.replace(/\.timer$/, '.service'));
    for (const [path, unit] of units) expect(unit.match(/^\[Unit\]$/gm), path).toHaveLength(1);
  });

  it.skipIf(!existsSync(SYSTEMD_ANALYZE))(`pass systemd-analyze verify (${SYSTEMD_ANALYZE})`, () => {
    const dir = mkdtempSync(join(testRoot, 'systemd-'));
    const files: string[] = [];
    for (const [path, unit] of units) {
      const file = join(dir, path.slice('/etc/systemd/system/'.length));
      // verify checks that ExecStart exists; hmis-admin is not installed here, node (what it runs on) is.
      writeFileSync(file, unit.replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath}`));
      files.push(file);
    }
    const r = spawnSync(SYSTEMD_ANALYZE, ['verify', ...files], { encoding: 'utf8', env: { ...process.env, SYSTEMD_LOG_COLOR: '0' } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr.trim(), 'systemd-analyze verify printed warnings').toBe('');
  });
});
