/** A behaviour suite run once per host: its database, and the check every devise run ends with (the host schema unchanged). */
import type { Knex } from 'knex';
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import { openTestDb, type TestDb } from './db.js';
import { hostSchemaFingerprint } from './fingerprint.js';
import type { HostName } from './hosts.js';

/**
 * On the devise host: the host's schema (public tables, columns, indexes, constraints, triggers, functions) after
 * the suite is what it was before it. Call inside the host's describe, after the hook that opens the database.
 */
export function guardHostSchema(host: HostName, knex: () => Knex): void {
  if (host !== 'devise') return;
  let before: string[] | undefined;
  beforeAll(async () => {
    before = await hostSchemaFingerprint(knex());
  });
  afterAll(async () => {
    if (before === undefined) return; // the suite never started: its own failure is reported
    expect(await hostSchemaFingerprint(knex()), "the suite changed the host's schema").toEqual(before);
  });
}

/**
 * One database per file per host: opened before the host's tests (`opened` receives it), emptied before each test
 * unless `reset` is false, closed after; on devise the host schema is guarded. Call first inside the host's describe.
 */
export function useHostDb(host: HostName, opened: (db: TestDb) => void | Promise<void>, { reset = true } = {}): void {
  let db: TestDb | undefined;
  beforeAll(async () => {
    db = await openTestDb(host);
    await opened(db);
  });
  afterAll(async () => db?.close());
  if (reset) beforeEach(async () => db!.reset());
  guardHostSchema(host, () => db!.knex);
}
