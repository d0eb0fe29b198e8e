/**
 * devise mode: the tool's own tables in the `hmis_admin` schema, keyed by the host's user ids, in their
 * current shape (the native migrations' steps, replayed here), plus what Devise has no column for: lock
 * reasons, agreement expiry and the supervisor (account_state), and agency directors (agency_contacts).
 * Nothing here names the host's schema: the connection's search_path starts with hmis_admin.
 */
import type { Knex } from 'knex';
import { createToolTables } from '../20261127000001_initial.js';
import * as outboxRecipients from '../20261128000001_outbox_recipients.js';
import * as auditDbUser from '../20261128000002_audit_db_user.js';

export async function up(knex: Knex): Promise<void> {
  // Never create anything in the host's schema: stop unless unqualified names land in hmis_admin.
  const { rows } = (await knex.raw('select current_schema() as s')) as { rows: Array<{ s: string | null }> };
  if (rows[0]?.s !== 'hmis_admin') throw new Error(`refusing to create tables in schema ${rows[0]?.s ?? '(none)'}: expected hmis_admin first on the search_path`);
  await createToolTables(knex, { host: 'devise' });
  await outboxRecipients.up(knex);
  await auditDbUser.up(knex);
  await knex.schema.createTable('account_state', (t) => {
    t.bigInteger('user_id').primary();
    // The agreement expiry Devise has no column for; null: no agreement on record yet.
    t.timestamp('expires_at', { useTz: true });
    // Why the host's active flag is off, when this tool switched it off; locked_at says since when.
    t.text('lock_reason');
    t.timestamp('locked_at', { useTz: true });
    t.bigInteger('supervisor_id');
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`alter table account_state add constraint account_state_lock_reason_check
    check (lock_reason is null or lock_reason in ('agreement_expired', 'admin'))`);
  await knex.raw('create index account_state_expires_at_idx on account_state (expires_at)');
  await knex.schema.createTable('agency_contacts', (t) => {
    t.bigInteger('agency_id').primary();
    t.text('executive_director_name');
    t.text('executive_director_email');
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['agency_contacts', 'account_state', 'audit_log', 'agreement_reminders', 'user_agreements', 'email_verification_tokens', 'password_reset_tokens', 'mail_outbox']) {
    await knex.schema.dropTableIfExists(table);
  }
}
