-- The host's tables as OpenPath HMIS (greenriver/hmis-warehouse, db/structure.sql) shapes them: a Rails
-- Devise `users` table and `agencies`. Only the columns hmis-admin reads or writes, the Devise columns, and a
-- few of OpenPath's other NOT NULL / extra columns so the tool meets a table it does not fully know.
-- Timestamps are `timestamp without time zone` holding UTC, as Rails writes them.

create table agencies (
  id bigserial primary key,
  name varchar,
  created_at timestamp not null default (now() at time zone 'utc'),
  updated_at timestamp not null default (now() at time zone 'utc')
);

create table users (
  id bigserial primary key,
  first_name varchar,
  last_name varchar not null,
  email varchar not null,
  phone varchar,
  -- OpenPath keeps no foreign key here; agencies(id) by convention.
  agency_id bigint,
  -- OpenPath's admin switch: active_for_authentication? is `super && active`.
  active boolean not null default true,
  -- acts_as_paranoid: a row with deleted_at set does not exist for the application.
  deleted_at timestamp,

  -- database_authenticatable
  encrypted_password varchar not null default '',
  -- recoverable: the HMAC digest of the raw token in the link
  reset_password_token varchar,
  reset_password_sent_at timestamp,
  -- rememberable, trackable
  remember_created_at timestamp,
  sign_in_count integer not null default 0,
  current_sign_in_at timestamp,
  last_sign_in_at timestamp,
  current_sign_in_ip inet,
  last_sign_in_ip inet,
  -- confirmable (reconfirmable: a changed address waits in unconfirmed_email; the token is stored raw)
  confirmation_token varchar,
  confirmed_at timestamp,
  confirmation_sent_at timestamp,
  unconfirmed_email varchar,
  -- lockable
  failed_attempts integer not null default 0,
  unlock_token varchar,
  locked_at timestamp,

  -- OpenPath columns hmis-admin leaves alone (invitable, expirable, session limits, notifications)
  invitation_token varchar,
  invitation_sent_at timestamp,
  invitation_accepted_at timestamp,
  last_activity_at timestamp,
  expired_at timestamp,
  password_changed_at timestamp,
  unique_session_id varchar,
  otp_required_for_login boolean not null default false,
  email_schedule varchar not null default 'immediate',

  created_at timestamp not null default (now() at time zone 'utc'),
  updated_at timestamp not null default (now() at time zone 'utc')
);

-- One live address per person among rows not soft-deleted, compared case-blind (as OpenPath indexes it).
create unique index index_active_users_on_lower_email on users (btrim(lower(email))) where deleted_at is null;
create index index_users_on_deleted_at on users (deleted_at);
create unique index index_users_on_reset_password_token on users (reset_password_token);
create unique index index_users_on_confirmation_token on users (confirmation_token);
create unique index index_users_on_unlock_token on users (unlock_token);
