/** The check every devise-host suite ends with: hmis-admin left the host application's schema as it found it. */
import type { Knex } from 'knex';
import { afterAll, beforeAll, expect } from 'vitest';
import { hostSchemaFingerprint } from './fingerprint.js';
import type { HostName } from './hosts.js';

/**
 * On the devise host: the host's schema (public tables, columns, indexes, constraints, triggers, functions) after
 * the suite is what it was before it. Call inside the host's describe, after the hook that opens the database.
 */
export function guardHostSchema(host: HostName, knex: () => Knex): void {
  if (host !== 'devise') return;
  let before: string[] = [];
  beforeAll(async () => {
    before = await hostSchemaFingerprint(knex());
  });
  afterAll(async () => {
    expect(await hostSchemaFingerprint(knex()), "the suite changed the host's schema").toEqual(before);
  });
}
