/**
 * audit_log.db_user: which database account really wrote each entry. `actor` is whatever the operator
 * says (--actor, HMIS_ACTOR); db_user is filled by the database itself and never by the tool.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  // Added without a default first, so entries written before this migration stay null (unknown)
  // instead of all claiming the account that happens to run the migration.
  await knex.raw('alter table audit_log add column db_user text');
  await knex.raw('alter table audit_log alter column db_user set default session_user');
  // The default alone would let any INSERT name another account; the trigger makes it the session's, always.
  await knex.raw(`create or replace function audit_log_stamp_db_user() returns trigger language plpgsql as $$
    begin
      new.db_user := session_user;
      return new;
    end $$`);
  await knex.raw(`create trigger audit_log_db_user before insert on audit_log
    for each row execute function audit_log_stamp_db_user()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop trigger if exists audit_log_db_user on audit_log');
  await knex.raw('drop function if exists audit_log_stamp_db_user()');
  await knex.raw('alter table audit_log drop column if exists db_user');
}
