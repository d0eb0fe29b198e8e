import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireLock, LockBusyError } from '../../src/db/lockfile.js';
import { repoRoot, testRoot } from '../helpers/paths.js';

const dir = () => mkdtempSync(join(testRoot, 'lock-'));

describe('the embedded database lock file', () => {
  it('is exclusive within a process and released only by its holder', async () => {
    const path = join(dir(), 'pgdata.lock');
    const release = await acquireLock(path, 0);
    await expect(acquireLock(path, 200)).rejects.toBeInstanceOf(LockBusyError);
    const content = readFileSync(path, 'utf8');
    expect(content).toMatch(new RegExp(`^${process.pid} [0-9a-f]{16}\\n$`));
    // Someone else's lock now stands in its place: our release must not remove it.
    writeFileSync(path, '1 feedfacefeedface\n');
    release();
    expect(existsSync(path)).toBe(true);
  });

  it('takes over a lock whose process is gone, or one with our pid that we did not write (pid reuse)', async () => {
    const d = dir();
    for (const stale of ['999999999 0123456789abcdef\n', `${process.pid} 0123456789abcdef\n`, '\n', '4242\n'.replace('4242', '999999998')]) {
      const path = join(d, 'pgdata.lock');
      writeFileSync(path, stale);
      const release = await acquireLock(path, 0);
      expect(readFileSync(path, 'utf8')).not.toBe(stale);
      release();
      expect(existsSync(path)).toBe(false);
    }
  });

  it('lets exactly one of many processes hold it at a time, also when they race to replace a stale lock', async () => {
    const d = dir();
    const path = join(d, 'pgdata.lock');
    const log = join(d, 'log');
    writeFileSync(path, '999999999 0123456789abcdef\n');
    writeFileSync(log, '');
    const lockfile = join(repoRoot, 'dist/src/db/lockfile.js');
    const script = `
      import { appendFileSync } from 'node:fs';
      const { acquireLock } = await import(${JSON.stringify(lockfile)});
      const release = await acquireLock(${JSON.stringify(path)}, 20000);
      appendFileSync(${JSON.stringify(log)}, 'in ' + process.pid + '\\n');
      await new Promise((r) => setTimeout(r, 60));
      appendFileSync(${JSON.stringify(log)}, 'out ' + process.pid + '\\n');
      release();`;
    const runs = Array.from({ length: 6 }, () =>
      new Promise<number>((resolve) => spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit' }).on('close', (c) => resolve(c ?? -1))),
    );
    expect(await Promise.all(runs)).toEqual([0, 0, 0, 0, 0, 0]);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(12);
    for (let i = 0; i < lines.length; i += 2) {
      expect(lines[i]).toMatch(/^in /);
      expect(lines[i + 1]).toBe(lines[i]!.replace('in', 'out'));
    }
  });
});
