/** The guard global setup uses to fail a run that touched the operator's hmis-admin folder. */
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { changes, guardedDirs, guardOperatorFiles, snapshot } from '../helpers/home-guard.js';
import { testRoot } from '../helpers/paths.js';

afterEach(() => {
  process.exitCode = undefined;
  vi.restoreAllMocks();
});

describe('the operator-files guard', () => {
  it('watches ${XDG_DATA_HOME:-$HOME/.local/share}/hmis-admin and HMIS_DATA_DIR', () => {
    expect(guardedDirs({ HOME: '/home/op' })).toEqual(['/home/op/.local/share/hmis-admin']);
    expect(guardedDirs({ HOME: '/home/op', XDG_DATA_HOME: '/xdg', HMIS_DATA_DIR: '/srv/hmis' })).toEqual(['/xdg/hmis-admin', '/srv/hmis']);
  });

  it('sees a folder created, a file added, changed or removed', () => {
    const dir = join(mkdtempSync(join(testRoot, 'guard-')), 'hmis-admin');
    const absent = snapshot(dir);
    mkdirSync(join(dir, 'mail'), { recursive: true });
    expect(changes(absent, snapshot(dir))).toEqual(['created the folder itself', 'added mail']);
    writeFileSync(join(dir, 'mail', 'a.eml'), 'x');
    const one = snapshot(dir);
    expect(changes(one, snapshot(dir))).toEqual([]);
    writeFileSync(join(dir, 'mail', 'a.eml'), 'xy');
    utimesSync(join(dir, 'mail', 'a.eml'), new Date(0), new Date(0));
    expect(changes(one, snapshot(dir))).toEqual(['changed mail/a.eml']);
    rmSync(join(dir, 'mail', 'a.eml'));
    expect(changes(one, snapshot(dir))).toEqual(['removed mail/a.eml']);
  });

  it('fails loudly (stderr banner, exit code 1, an error) when the folder changed', () => {
    const home = mkdtempSync(join(testRoot, 'guard-home-'));
    const check = guardOperatorFiles({ HOME: home });
    check(); // nothing changed: silent
    mkdirSync(join(home, '.local', 'share', 'hmis-admin', 'mail'), { recursive: true });
    writeFileSync(join(home, '.local', 'share', 'hmis-admin', 'mail', 'leak.eml'), 'x');
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(check).toThrow(/TOUCHED THE OPERATOR'S FILES \(3 change\(s\)\)[\s\S]*added mail\/leak\.eml/);
    expect(String(stderr.mock.calls[0]?.[0])).toMatch(/^\n!{78}\n/);
    expect(process.exitCode).toBe(1);
  });
});
