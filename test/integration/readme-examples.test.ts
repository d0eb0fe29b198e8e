/**
 * Every `hmis-admin …` example in the README (code blocks and inline code) and in each command's
 * `--help` Examples runs against a fresh demo database and exits as documented: 0 unless the example is
 * meant to report a problem. Each README code block (and the README's inline examples) runs in order on
 * a fresh demo, the way a person would type them; each --help example runs on a fresh demo of its own.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Prompts } from '../../src/context.js';
import { buildProgram } from '../../src/program.js';
import { cli } from '../helpers/cli.js';
import { openTestDb, type TestDb } from '../helpers/db.js';
import { snapshot, type Snapshot } from '../helpers/snapshot.js';

/** Examples that cannot run here, and why (matched on the command as written, after `hmis-admin`). */
const SKIP: Array<[RegExp, string]> = [
  [/^--db postgres:\/\//, 'names a PostgreSQL server of its own'],
  [/^helpdesk\b/, 'the interactive wizard: test/e2e/helpdesk.test.ts drives it in a terminal'],
  [/^db devise-digest\b/, "needs a Devise application's secret: test/unit/devise-token.test.ts and test/devise/openpath.test.ts run it"],
];
/** Examples that need an environment they set themselves (a relay). */
const NEEDS_ENV: Array<[RegExp, string]> = [[/^HMIS_SMTP_URL=/, 'needs a real mail relay']];

/** Examples meant to report a problem, with the exit code the README documents. */
const EXPECTED: Array<[RegExp, number, string]> = [
  [/^reset check /, 5, 'the example token is a placeholder: malformed (exit 5)'],
  [/--fail-if-any/, 5, 'the demo has problems to find (exit 5)'],
  [/^mail doctor\b/, 5, 'no HMIS_MAIL_FROM in the demo: the sender check fails (exit 5)'],
  [/^diagnose (jdoe|jane\.doe@agency\.org)\b/, 5, 'jdoe is locked in the demo: the checklist says so (exit 5)'],
];

interface Example {
  source: string;
  line: string;
}

/** Split a command line the way sh would for these examples: quotes, no expansions; stops at #, >, | and &&. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote) {
      if (ch === quote) quote = null;
      else word = (word ?? '') + ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      word ??= '';
    } else if (/\s/.test(ch)) {
      if (word !== null) words.push(word);
      word = null;
    } else if ((ch === '#' && word === null) || ch === '>' || ch === '|' || (ch === '&' && line[i + 1] === '&')) {
      break;
    } else word = (word ?? '') + ch;
  }
  if (word !== null) words.push(word);
  return words;
}

/** The `hmis-admin …` examples of the README, grouped: one group per ```sh block, one for inline code. */
function readmeExamples(): Example[][] {
  const text = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const groups: Example[][] = [];
  for (const [, body] of text.matchAll(/^```sh\n([\s\S]*?)^```/gm)) {
    const group: Example[] = [];
    for (const raw of body!.split('\n')) {
      // `npm install && npx hmis-admin demo && npx hmis-admin locked`: each hmis-admin part is an example.
      for (const part of raw.split('&&')) {
        const m = /^\s*(?:npx\s+)?((?:[A-Z_]+=\S+\s+)*hmis-admin\s.*)$/.exec(part);
        if (m) group.push({ source: 'README', line: m[1]!.replace(/\s+#\s.*$/, '').trim() });
      }
    }
    if (group.length) groups.push(group);
  }
  const inline: Example[] = [];
  for (const [, code] of text.matchAll(/`((?:npx )?hmis-admin [^`]+)`/g)) {
    if (/[<…]|\.\.\./.test(code!)) continue; // a pattern, not an example (`hmis-admin unlock <user>`)
    inline.push({ source: 'README (inline)', line: code!.replace(/^npx /, '') });
  }
  groups.push(inline);
  return groups;
}

/** The Examples of every command's --help, one group per command. */
function helpExamples(): Example[][] {
  const program = buildProgram({ exitCode: 0, makeContext: async () => { throw new Error('not run'); } }, '0');
  const groups: Example[][] = [];
  const walk = (cmd: import('commander').Command, path: string[]) => {
    let help = '';
    cmd.configureOutput({ writeOut: (s) => (help += s) });
    cmd.outputHelp();
    const lines = [...help.matchAll(/^ {2}\$ (.*)$/gm)].map((m) => m[1]!.trim());
    if (lines.length) groups.push(lines.map((line) => ({ source: `hmis-admin ${path.join(' ')} --help`.replace('  ', ' '), line })));
    for (const sub of cmd.commands) walk(sub, [...path, sub.name()]);
  };
  walk(program, []);
  return groups;
}

const yes: Prompts = {
  confirm: async () => true, // a person at a terminal who answers yes
  input: async () => { throw new Error('no input prompt expected'); },
  select: async () => { throw new Error('no select prompt expected'); },
  search: async () => { throw new Error('no search prompt expected'); },
};

let db: TestDb;
let demo: Snapshot;
beforeAll(async () => {
  db = await openTestDb();
  const r = await cli(['demo', '--users', '200'], { database: db });
  expect(r.code, r.stderr).toBe(0);
  // One demo, saved: each group starts from exactly its rows and sequences (a new demo each time cost seconds).
  demo = await snapshot(db.knex);
});
afterAll(async () => db?.close());

async function freshDemo(): Promise<void> {
  await demo.restore();
}

/** Today's date for `--date`: a fixed date in an example would drift before the demo's terms as time passes. */
const today = () => new Date().toISOString().slice(0, 10);

async function runGroup(group: Example[]): Promise<string[]> {
  await freshDemo();
  const failures: string[] = [];
  for (const { source, line } of group) {
    const words = shellWords(line);
    const at = words.indexOf('hmis-admin');
    const args = words.slice(at + 1).map((w, i, all) => (all[i - 1] === '--date' ? today() : w));
    const written = args.join(' ');
    if (SKIP.some(([re]) => re.test(written)) || NEEDS_ENV.some(([re]) => re.test(line))) continue;
    const want = EXPECTED.find(([re]) => re.test(written))?.[1] ?? 0;
    const r = await cli(args, { database: db, interactive: true, prompt: yes });
    if (r.code !== want) failures.push(`${source}: \`${line}\` exited ${r.code}, expected ${want}: ${r.stderr.trim().split('\n').at(-1)}`);
  }
  return failures;
}

describe('README examples', () => {
  const groups = readmeExamples();
  it('finds the examples (code blocks and inline)', () => {
    expect(groups.flat().length).toBeGreaterThan(40);
    expect(groups.flat().map((e) => e.line)).toContain('hmis-admin users list --locked --agency "Harbor Light Shelter"');
  });
  for (const [i, group] of groups.entries()) {
    it(`block ${i + 1} (${group[0]!.line}, …) runs on a fresh demo as documented`, async () => {
      expect(await runGroup(group)).toEqual([]);
    });
  }

  it('the Harbor Light Shelter examples find locked accounts in the demo', async () => {
    await freshDemo();
    const r = await cli(['users', 'list', '--locked', '--agency', 'Harbor Light Shelter', '--json'], { database: db });
    expect(r.json<unknown[]>().length).toBeGreaterThan(0);
  });
});

describe('--help examples', () => {
  const groups = helpExamples();
  it('every command but the groups has examples', () => {
    expect(groups.length).toBeGreaterThan(25);
  });
  // Examples in --help are alternatives, not steps: each gets a fresh demo of its own.
  for (const group of groups) {
    it(`${group[0]!.source} examples run on a fresh demo as documented`, async () => {
      const failures: string[] = [];
      for (const example of group) failures.push(...(await runGroup([example])));
      expect(failures).toEqual([]);
    });
  }
});
