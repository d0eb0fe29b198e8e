/** The usual setting of a mail test file: one test database for the file, emptied and given a fresh relay before each test. */
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { openTestDb, type TestDb } from './db.js';
import type { HostName } from './hosts.js';
import { guardHostSchema } from './host-suite.js';
import { startRelay, type TestRelay } from './smtp.js';

export interface MailFixture {
  db: TestDb;
  relay: TestRelay;
}

/** Register the hooks; the returned object's fields are set once they have run. On devise the host schema is guarded too. */
export function mailFixture(host: HostName = 'native'): MailFixture {
  const f = {} as MailFixture;
  beforeAll(async () => {
    f.db = await openTestDb(host);
  });
  afterAll(async () => f.db?.close());
  guardHostSchema(host, () => f.db.knex);
  beforeEach(async () => {
    await f.db.reset();
    f.relay = await startRelay();
  });
  afterEach(async () => f.relay?.close());
  return f;
}
