/**
 * The first run (issue 10): creating the embedded database shows a bar on a terminal and nothing
 * without one; on a server, `demo` and `db status` name the database, never the password.
 */
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { createServerDatabase, onServer } from '../helpers/db.js';

describe.skipIf(onServer)('the first demo on the embedded database', () => {
  // Without a terminal no bar is drawn: test/e2e/cli.test.ts checks the spawned first demo's stderr.
  it('shows a bar while the database is created, then the users', async () => {
    const tty = await cli(['demo', '--users', '20'], { interactive: true });
    expect(tty.code, tty.stderr).toBe(0);
    expect(tty.stderr).toMatch(/^embedded database \S+pgdata/);
    expect(tty.stderr).toMatch(/creating the embedded database \[#{30}\] 100%\n/);
    expect(tty.stderr).toMatch(/demo users \[#{30}\] 100% 20\/20\n/);
  }, 180_000);
});

describe.skipIf(!onServer)('on a server', () => {
  it('demo and db status name host, port and database', async () => {
    const server = await createServerDatabase('hmis_where');
    try {
      const url = new URL(server.url);
      url.password = 'not-printed';
      const env = { HMIS_DATABASE_URL: url.toString() };
      const name = url.pathname.slice(1);
      const migrate = await cli(['db', 'migrate'], { env });
      expect(migrate.code, migrate.stderr).toBe(0);
      const demo = await cli(['demo', '--users', '20'], { env });
      expect(demo.stdout).toMatch(new RegExp(`in ${url.hostname}:${url.port || 5432}/${name}\\n`));
      // The next command needs the same database: typed bare, it would read the embedded demo (a fresh-clone tester did).
      expect(demo.stdout).toContain('next: `hmis-admin locked` (with the same --db, or HMIS_DATABASE_URL set) lists the locked demo accounts');
      const status = await cli(['db', 'status'], { env });
      expect(status.stdout).toMatch(new RegExp(`^database: ${url.hostname}:${url.port || 5432}/${name}$`, 'm'));
      expect(demo.stdout + demo.stderr + status.stdout + status.stderr).not.toMatch(/not-printed/);
    } finally {
      await server.drop();
    }
  });

  it('two demos started together: one fills the database, the other waits for it and finds its accounts', async () => {
    const server = await createServerDatabase('hmis_two_demos');
    try {
      const env = { HMIS_DATABASE_URL: server.url };
      expect((await cli(['db', 'migrate'], { env })).code).toBe(0);
      const runs = await Promise.all([cli(['demo', '--users', '3000'], { env }), cli(['demo', '--users', '3000'], { env })]);
      expect(runs.map((r) => [r.code, r.stderr])).toEqual([[0, ''], [0, '']]);
      expect(runs.map((r) => (/^created 8 agencies and 3000 users/.test(r.stdout) ? 'created' : r.stdout.split(' (')[0])).sort()).toEqual([
        'created', 'demo data is already there',
      ]);
      const users = await cli(['users', 'list', '--json', '--limit', '5000'], { env });
      expect(users.json<unknown[]>()).toHaveLength(3000);
    } finally {
      await server.drop();
    }
  });
});
