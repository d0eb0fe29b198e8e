import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // A worker runs file after file without reloading knex, pg, PGlite and the CLI's modules for each
    // (the import alone cost more than a second a file). Test files close what they open and restore
    // what they change (TZ, test minters), which is what makes that safe.
    isolate: false,
    // Two cores: more workers only make the PGlite start-ups fight.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
