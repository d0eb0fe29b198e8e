/**
 * knex CLI configuration, built from the same config as hmis-admin (flags > env > .env > defaults).
 * Use with a server database: HMIS_DATABASE_URL=postgres://… npx knex --knexfile knexfile.ts migrate:latest
 * (knex loads .ts files through tsx: NODE_OPTIONS="--import tsx").
 */
import type { Knex } from 'knex';
import { loadConfig } from './src/config.js';
import { migrationConfig } from './src/db/migrate.js';
import { pgConnection } from './src/validate/database-url.js';

const config = loadConfig();
if (!config.databaseUrl && config.databaseSource !== 'pg-env') {
  throw new Error('knexfile.ts: set HMIS_DATABASE_URL (the embedded database is migrated by hmis-admin itself: `hmis-admin db migrate`)');
}

const knexConfig: Knex.Config = {
  client: 'pg',
  connection: config.databaseUrl ? pgConnection(config.databaseUrl) : {},
  migrations: migrationConfig(config.schema),
  // devise mode: the tool's tables live in hmis_admin, never in the host's schema.
  ...(config.schema === 'devise' ? { searchPath: ['hmis_admin', 'public'] } : {}),
};

export default knexConfig;
