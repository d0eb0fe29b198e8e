/** How the tool names the database it uses (issue 10): host, port and database name, never a password; a short notice. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeDatabase, loadConfig } from '../../src/config.js';
import { embeddedNotice } from '../../src/db/connection.js';

const where = (env: Record<string, string>) => describeDatabase(loadConfig({}, { HMIS_ACTOR: 'tester', ...env }, process.cwd(), false));

describe('describeDatabase', () => {
  it('names host, port and database, never the user or password', () => {
    const s = where({ HMIS_DATABASE_URL: 'postgres://admin:s3cret@db.example.org:5433/hmis_prod?sslmode=require' });
    expect(s).toBe('db.example.org:5433/hmis_prod');
    expect(s).not.toMatch(/s3cret|admin/);
    expect(where({ HMIS_DATABASE_URL: 'postgres://postgres@127.0.0.1/scratch' })).toBe('127.0.0.1:5432/scratch');
    expect(where({ HMIS_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432' })).toBe('127.0.0.1:5432');
  });
});

describe('the embedded-database notice', () => {
  it('fits one 80-column line for the usual data folder', () => {
    const line = embeddedNotice(join(homedir(), '.local/share/hmis-admin/pgdata'));
    expect(line).toBe('embedded database ~/.local/share/hmis-admin/pgdata (--db for a server)');
    expect(line.length).toBeLessThan(80);
  });
});
