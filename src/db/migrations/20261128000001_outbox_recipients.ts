/**
 * Per-recipient delivery state on mail_outbox: a relay may accept some recipients of one message and
 * refuse others (451 for now, 550 for good), so the row alone cannot say who has the message.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('mail_outbox', (t) => {
    // [{address, role: 'to'|'cc', status: 'pending'|'sent'|'failed', response}], in header order. A retry
    // addresses only the 'pending' ones. Null on rows written before this column: they are read as every
    // recipient sharing the row's status (src/db/outbox.ts, recipientsOf).
    t.jsonb('recipients');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('mail_outbox', (t) => {
    t.dropColumn('recipients');
  });
}
