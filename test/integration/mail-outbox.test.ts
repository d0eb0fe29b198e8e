/** `outbox` listing (table at 80 columns, JSON, CSV) and the outbox/flush command pair. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderMail } from '../../src/mail/compose.js';
import { enqueueMail } from '../../src/mail/outbox.js';
import { cli } from '../helpers/cli.js';
import { openTestDb, type TestDb } from '../helpers/db.js';

let db: TestDb;
beforeAll(async () => {
  db = await openTestDb();
  const body = renderMail({ greeting: 'Hello,', paragraphs: ['x'], senderHint: 'hmis@example.org' });
  for (let i = 0; i < 5; i++) await enqueueMail(db.knex, { kind: 'notice', to: `very.long.address.${i}@some-agency.example.org`, subject: `n${i}`, ...body });
  await db.knex('mail_outbox').where({ id: 1 }).update({ status: 'failed', attempts: 1, last_error: '550 5.1.1 no such user\u001b[31m', relay_response: '550 5.1.1 no such user' });
  await db.knex('mail_outbox').where({ id: 2 }).update({ status: 'sent', attempts: 1, sent_at: new Date(), message_id: '<abc@example.org>' });
});
afterAll(async () => db?.close());

describe('outbox', () => {
  it('lists newest first in the JSON shape', async () => {
    const r = await cli(['outbox', '--json'], { database: db });
    expect(r.code, r.stderr).toBe(0);
    const list = r.json<Array<Record<string, unknown>>>();
    expect(list.map((m) => m.id)).toEqual([5, 4, 3, 2, 1]);
    expect(Object.keys(list[0]!)).toEqual([
      'id', 'createdAt', 'kind', 'userId', 'user', 'to', 'recipients', 'subject', 'status', 'attempts', 'nextAttemptAt', 'sentAt',
      'lastError', 'relayResponse', 'messageId', 'emlPath', 'ticket',
    ]);
    expect(list[4]).toMatchObject({ status: 'failed', relayResponse: '550 5.1.1 no such user' });
  });

  it('filters by status and limit; refuses an unknown status', async () => {
    expect((await cli(['outbox', '--status', 'pending', '--json'], { database: db })).json()).toHaveLength(3);
    expect((await cli(['outbox', '--limit', '2', '--json'], { database: db })).json()).toHaveLength(2);
    const bad = await cli(['outbox', '--status', 'lost'], { database: db });
    expect(bad.code).toBe(2);
    const extra = await cli(['outbox', 'flsh'], { database: db });
    expect(extra.code).toBe(2);
  });

  it('fits an 80-column terminal and strips control characters in table mode; CSV has a header', async () => {
    const r = await cli(['outbox'], { database: db, columns: 80 });
    expect(r.code).toBe(0);
    for (const line of r.stdout.trimEnd().split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    expect(r.stdout).not.toContain('\u001b');
    expect(r.stdout).toMatch(/^ID\s+CREATED \(UTC\)\s+KIND\s+TO\s+STATUS/);
    // Times are never cut: the addresses give way first (a tester saw "2026-11-28 2…").
    const timed = r.stdout.split('\n').filter((l) => / (sent|pending) /.test(l));
    expect(timed).toHaveLength(4);
    for (const line of timed) expect(line).toMatch(/ \d{4}-\d\d-\d\d \d\d:\d\d$/);
    const csv = await cli(['outbox', '--format', 'csv'], { database: db });
    expect(csv.stdout.split('\n')[0]).toBe('id,createdAt,kind,userId,user,to,recipients,subject,status,attempts,nextAttemptAt,sentAt,lastError,relayResponse,messageId,emlPath,ticket');
  });

  it('has both an action and a flush subcommand, with examples in --help', async () => {
    const help = await cli(['outbox', '--help']);
    expect(help.stdout).toMatch(/flush/);
    expect(help.stdout).toMatch(/Examples:/);
    const flushHelp = await cli(['outbox', 'flush', '--help']);
    expect(flushHelp.stdout).toMatch(/--dry-run/);
    const dry = await cli(['outbox', 'flush', '--dry-run', '--limit', '1', '--json'], { database: db });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.json().results).toHaveLength(1);
  });
});
