/** The whole schema of CONTRACT.md: shared tables (agencies, users, reset tokens, audit log) and the tool's own. */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await createHostTables(knex);
  await createToolTables(knex, { host: 'native' });
}

/** The accounts of native mode (CONTRACT "Database"): agencies and users. */
async function createHostTables(knex: Knex): Promise<void> {
  await knex.schema.createTable('agencies', (t) => {
    t.increments('id');
    t.text('name').notNullable().unique();
    t.text('executive_director_name');
    t.text('executive_director_email');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('users', (t) => {
    t.increments('id');
    t.text('username').notNullable();
    t.text('first_name').notNullable().defaultTo('');
    t.text('last_name').notNullable().defaultTo('');
    t.text('email');
    t.timestamp('email_verified_at', { useTz: true });
    t.text('phone');
    t.integer('agency_id').references('agencies.id').onDelete('SET NULL');
    t.integer('supervisor_id').references('users.id').onDelete('SET NULL');
    t.integer('failed_login_attempts').notNullable().defaultTo(0);
    t.timestamp('last_failed_login_at', { useTz: true });
    t.timestamp('locked_at', { useTz: true });
    t.text('lock_reason');
    t.timestamp('account_expires_at', { useTz: true });
    t.timestamp('last_login_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`alter table users add constraint users_lock_reason_check
    check (lock_reason is null or lock_reason in ('failed_logins', 'agreement_expired', 'admin'))`);
  await knex.raw('alter table users add constraint users_failed_login_attempts_check check (failed_login_attempts >= 0)');
  // Usernames are unique ignoring case: "JDoe" and "jdoe" are one account and share one lockout counter.
  await knex.raw('create unique index users_username_lower_key on users (lower(username))');
  await knex.raw('create index users_email_lower_idx on users (lower(email))');
  // The locked list reads only locked rows: a partial index keeps it fast at a million accounts.
  await knex.raw('create index users_locked_idx on users (locked_at, id) where locked_at is not null');
  await knex.raw('create index users_account_expires_at_idx on users (account_expires_at)');
  await knex.raw('create index users_agency_id_idx on users (agency_id)');
  await knex.raw('create index users_supervisor_id_idx on users (supervisor_id)');
}

/**
 * The tool's own tables, as this migration first made them. Native mode references its users table; on a
 * host's table (devise) they only hold its ids (bigint, as Rails makes them): no constraint reaches into the host.
 */
export async function createToolTables(knex: Knex, o: { host: 'native' | 'devise' }): Promise<void> {
  const userRef = (t: Knex.CreateTableBuilder, nullable: boolean, onDelete: 'SET NULL' | 'CASCADE') => {
    const col = o.host === 'native' ? t.integer('user_id') : t.bigInteger('user_id');
    if (!nullable) col.notNullable();
    if (o.host === 'native') col.references('users.id').onDelete(onDelete);
  };
  await knex.schema.createTable('mail_outbox', (t) => {
    t.bigIncrements('id');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text('kind').notNullable();
    userRef(t, true, 'SET NULL');
    t.text('to_address').notNullable();
    t.jsonb('cc').notNullable().defaultTo('[]');
    t.text('subject').notNullable();
    // Bodies never hold a raw token: link-bearing mail stores a template and the link is minted at delivery.
    t.text('text_body').notNullable();
    t.text('html_body').notNullable();
    t.jsonb('params').notNullable().defaultTo('{}');
    t.text('message_id');
    t.text('status').notNullable().defaultTo('pending');
    t.integer('attempts').notNullable().defaultTo(0);
    t.timestamp('next_attempt_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('claimed_at', { useTz: true });
    // Who holds a 'sending' row: set afresh by each claim; marks match on it, so a run whose claim was
    // recovered as stale cannot mark a row another run has taken over.
    t.text('claim_id');
    t.timestamp('sent_at', { useTz: true });
    t.text('last_error');
    t.text('relay_response');
    t.text('eml_path');
    t.text('ticket');
  });
  await knex.raw(`alter table mail_outbox add constraint mail_outbox_status_check
    check (status in ('pending', 'sending', 'sent', 'failed'))`);
  await knex.raw('create index mail_outbox_due_idx on mail_outbox (next_attempt_at, id) where status = \'pending\'');
  await knex.raw('create index mail_outbox_status_idx on mail_outbox (status, id)');
  await knex.raw('create index mail_outbox_user_idx on mail_outbox (user_id, created_at)');

  await knex.schema.createTable('password_reset_tokens', (t) => {
    t.bigIncrements('id');
    userRef(t, false, 'CASCADE');
    t.text('token_hash').notNullable().unique();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('used_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
    t.text('revoked_reason');
    t.bigInteger('superseded_by_id').references('password_reset_tokens.id').onDelete('SET NULL');
    t.text('site_url').notNullable().defaultTo('');
    t.text('sent_to');
    t.bigInteger('outbox_id').references('mail_outbox.id').onDelete('SET NULL');
    t.text('created_by');
    t.text('ticket');
  });
  await knex.raw(`alter table password_reset_tokens add constraint password_reset_tokens_hash_check
    check (token_hash ~ '^[0-9a-f]{64}$')`);
  await knex.raw('create index password_reset_tokens_user_idx on password_reset_tokens (user_id, created_at desc)');

  await knex.schema.createTable('email_verification_tokens', (t) => {
    t.bigIncrements('id');
    userRef(t, false, 'CASCADE');
    // The token confirms exactly this address; a later change of users.email makes it useless.
    t.text('email').notNullable();
    t.text('token_hash').notNullable().unique();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('used_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
    t.bigInteger('outbox_id').references('mail_outbox.id').onDelete('SET NULL');
  });
  await knex.raw(`alter table email_verification_tokens add constraint email_verification_tokens_hash_check
    check (token_hash ~ '^[0-9a-f]{64}$')`);
  await knex.raw('create index email_verification_tokens_user_idx on email_verification_tokens (user_id, created_at desc)');

  // One row per agreement term being renewed: three signatures; the third completes it.
  await knex.schema.createTable('user_agreements', (t) => {
    t.bigIncrements('id');
    userRef(t, false, 'CASCADE');
    t.timestamp('term_started_at', { useTz: true }).notNullable();
    t.timestamp('user_signed_at', { useTz: true });
    t.text('user_signed_by');
    t.timestamp('supervisor_signed_at', { useTz: true });
    t.text('supervisor_signed_by');
    t.timestamp('director_signed_at', { useTz: true });
    t.text('director_signed_by');
    t.timestamp('completed_at', { useTz: true });
    t.timestamp('renewed_until', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw('create unique index user_agreements_one_pending on user_agreements (user_id) where completed_at is null');
  await knex.raw('create index user_agreements_user_idx on user_agreements (user_id, created_at desc)');

  // Reminder bookkeeping: a stage is sent once per expiry date, whatever day the job runs.
  await knex.schema.createTable('agreement_reminders', (t) => {
    t.bigIncrements('id');
    userRef(t, false, 'CASCADE');
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.integer('stage_days').notNullable();
    t.timestamp('sent_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.bigInteger('outbox_id').references('mail_outbox.id').onDelete('SET NULL');
    t.unique(['user_id', 'expires_at', 'stage_days']);
  });

  await knex.schema.createTable('audit_log', (t) => {
    t.bigIncrements('id');
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text('actor').notNullable();
    t.text('action').notNullable();
    // No foreign key: the trail outlives the account it speaks of.
    if (o.host === 'native') t.integer('user_id');
    else t.bigInteger('user_id');
    t.text('ticket');
    t.jsonb('details').notNullable().defaultTo('{}');
  });
  await knex.raw('create index audit_log_at_idx on audit_log (at desc, id desc)');
  await knex.raw('create index audit_log_user_idx on audit_log (user_id, at desc)');
  await knex.raw('create index audit_log_ticket_idx on audit_log (ticket) where ticket is not null');
  await knex.raw(`create or replace function audit_log_refuse_change() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_log is append-only: % refused', tg_op using errcode = 'P0001';
    end $$`);
  await knex.raw(`create trigger audit_log_no_update_delete before update or delete on audit_log
    for each row execute function audit_log_refuse_change()`);
  await knex.raw(`create trigger audit_log_no_truncate before truncate on audit_log
    for each statement execute function audit_log_refuse_change()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop trigger if exists audit_log_no_truncate on audit_log');
  await knex.raw('drop trigger if exists audit_log_no_update_delete on audit_log');
  for (const table of ['audit_log', 'agreement_reminders', 'user_agreements', 'email_verification_tokens', 'password_reset_tokens', 'mail_outbox', 'users', 'agencies']) {
    await knex.schema.dropTableIfExists(table);
  }
  await knex.raw('drop function if exists audit_log_refuse_change()');
}
