/**
 * Hostile values, by kind of value (the kinds the command definitions and the configuration schema
 * carry). Every value produced must be refused: the generic ones by every kind, the others by theirs.
 */
import fc from 'fast-check';
import { HOSTILE_ADDRESSES } from '../fixtures/hostile-addresses.js';

const C0 = [...Array(32).keys()].map((c) => String.fromCharCode(c)).concat('\u007f');
const C1 = [...Array(32).keys()].map((c) => String.fromCharCode(0x80 + c));
const BIDI = ['\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069', '\u200e', '\u200f', '\u061c'];
const SEPARATORS = ['\u2028', '\u2029'];
// Characters trimming does not remove, so a value of only these is "invisible", not "empty".
const INVISIBLE = ['\u200b', '\u200c', '\u200d', '\u2060', '\u00ad', '\u034f', '\u180e', '\u3164', '\ufe0f'];
const BROKEN = ['\ud800', '\udfff', '\ufffd'];
// Refused anywhere, ends included (trim() would remove U+FEFF): BOM, tag characters, the braille blank.
const HIDDEN = ['\ufeff', '\u{E0041}', '\u{E0020}', '\u{E007F}', '\u2800'];

/** Insert one of `chars` somewhere into `base`, ends included. */
const inserted = (base: string, chars: string[]) =>
  fc.tuple(fc.constantFrom(...chars), fc.nat({ max: base.length })).map(([c, at]) => base.slice(0, at) + c + base.slice(at));

/** Refused by every kind: controls, bidi, separators and broken text anywhere; nothing visible; far too long. */
export function generic(valid: string): fc.Arbitrary<string> {
  return fc.oneof(
    inserted(valid, C0),
    inserted(valid, C1),
    inserted(valid, ['\u001b[31m', '\u009b31m', '\r\nX-Injected: 1', '\u001b]0;PWNED\u0007']),
    inserted(valid, BIDI),
    inserted(valid, SEPARATORS),
    inserted(valid, BROKEN),
    inserted(valid, HIDDEN),
    fc.constantFrom(...HIDDEN).map((c) => `${c}${valid}`),
    fc.constantFrom(...HIDDEN).map((c) => `${valid}${c}`),
    fc.array(fc.constantFrom(...INVISIBLE, ' '), { maxLength: 6 }).map((a) => `${a.join('')}\u200b`),
    fc.array(fc.constantFrom(...HIDDEN, ' '), { minLength: 1, maxLength: 4 }).map((a) => `${a.join('')}\u2800`),
    fc.integer({ min: 5000, max: 100_000 }).map((n) => valid + 'x'.repeat(n)),
  );
}

const examples = (...values: string[]) => fc.constantFrom(...values);
const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: min, maxLength: max });

/** Kind-specific hostile values, refused by that kind only. */
const SPECIFIC: Record<string, fc.Arbitrary<string>> = {
  duration: fc.oneof(
    fc.tuple(fc.integer({ min: 36_526, max: 99_999_999 }), fc.constantFrom('d')).map(([n, u]) => `${n}${u}`),
    fc.tuple(fc.integer({ min: 5218, max: 99_999_999 }), fc.constantFrom('w')).map(([n, u]) => `${n}${u}`),
    examples('0m', '0d', '-1d', '1.5h', '1e3d', '３０d', '30', 'd', '30 d', '30s', '1y', '30D', 'P30D', '999999w', `${'9'.repeat(400)}d`),
  ),
  date: examples('0000-01-01', '10000-01-01', '2026-02-30', '2026-13-01', '2026-12-01T24:00Z', '2026-12-01T09:00+24:00', '2026-12-01T09:00+99:99', '-2026-01-01', '+012026-01-01', '2026-12-01T09:00', '٢٠٢٦-١٢-٠١', 'today', '1e15'),
  count: fc.oneof(digits(12, 40).map((d) => `9${d}`), examples('0', '-1', '1.5', '1e3', '0x10', '１０', '10,000', 'NaN', 'Infinity')),
  user: fc.oneof(
    fc.bigInt({ min: 2_147_483_648n, max: 10n ** 40n }).map((n) => `#${n}`),
    examples('#', '#-1', '#1.5', '#0x10', '#１２', '# 12', '#12a'),
  ),
  address: fc.constantFrom(...HOSTILE_ADDRESSES),
  ticket: examples('HD 1', 'HD/1', 'HD-1;drop', 'ＨＤ-1', "HD'1", 'x'.repeat(65)),
  action: examples('UNLOCK', 'un lock', "unlock' or 1=1", 'unlock.%', '.unlock', 'x'.repeat(65)),
  phone: examples('call me', '12', '+1 (555) 123-4567 ext 9', '5'.repeat(25), '+'),
  'dns-server': examples('dns.example.org', '1.2.3.4:0', '1.2.3.4:65536', '[::1', '::1]:53', '999.1.1.1', '1.2.3.4:x'),
  'database-url': examples(
    'postgres://127.0.0.1:99999/x', 'postgres://h:abc/x', 'postgres://[::1/x', 'postgres://[::g]/x', 'postgres://h:0/x', 'mysql://h/x',
    'postgres://h/x?sslmode=bogus', 'postgres://h/x?port=99999', 'postgres://h/x%0a', 'postgres://h/x#f', 'postgres://h/x?sslrootcert=/nonexistent/ca.pem',
    'postgres://a b/x', 'postgres://h\\@evil/x', 'postgres://h%00/x',
  ),
  'site-url': examples(
    'https://hmis.example.org\\@evil.example', 'https://u:p@hmis.example.org', 'https://hmis.example.org/?next=x', 'https://hmis.example.org/#x',
    'ftp://hmis.example.org', 'hmis.example.org', 'https://hmis.example.org:99999', 'https://hmis.example.org/a/../b', 'https://[::1',
    'https://ｈｍｉｓ.example.org', 'https://hmis..example.org',
  ),
  'smtp-url': examples('smtp://127.0.0.1:99999', 'smtp://u:p@[::1', 'http://relay.example.org', 'smtp://', 'smtps://relay.example.org/x', 'smtp://relay.example.org#x', 'smtp://re lay.example.org', 'smtp://u:p%0a@relay.example.org'),
  sender: fc.oneof(
    // Every hostile address is a hostile sender too, except the two well-formed display-name forms.
    fc.constantFrom(...HOSTILE_ADDRESSES.filter((a) => a.trim() !== '' && !/^"?[A-Za-z ]+"? <[a-z.]+@agency\.org>$/.test(a))),
    examples('HMIS (Support) <a@hmis.example.org>', 'jane@agency.org <evil@evil.org>', '"HMIS" Support" <a@hmis.example.org>', 'HMIS <a@[127.0.0.1]>', 'HMIS <>', '<a@hmis.example.org> x'),
  ),
  domain: examples('hmis example.org', 'localhost', '-hmis.example.org', 'hmis_x.example.org', 'hmis.example.org/x', '*.example.org', 'ｈｍｉｓ.example.org', '1.2.3.4'),
  selector: examples('../x', 's 1', 's1/x', '-s1', 's1.', '.s1', 's_1', 's1:', 'x'.repeat(200)),
  'link-path': examples('password/reset', '/password reset', '//evil.example/x', '/a/../b', '/a?x=1', '/a#x', '/%2e%2e/x', `/${'a'.repeat(300)}`),
  days: examples('30;14', '30,0', '400', '30,,7', '-1', 'x'),
  schema: examples('nativ', 'devise2', 'rails', 'keycloak', 'native,devise'),
  column: examples('Email', 'e-mail', 'email;drop', '"email"', 'users.email', '1email', 'x'.repeat(64)),
  'active-flag': examples('!', '!!disabled', 'Active', 'not active', 'active,disabled', '!'),
  'unlock-after': examples('0m', '30s', 'forever', 'Never!', '-1h', '1y'),
  'key-digest': examples('md5', 'SHA-1', 'sha512', 'sha 256'),
  secret: examples('short', 'a'.repeat(29), `${'a'.repeat(40)} ${'b'.repeat(10)}`, `${'a'.repeat(40)}é`),
};

/** Hostile values for a kind; `valid` is a value of that kind that would be accepted. */
export function hostile(kind: string, valid: string): fc.Arbitrary<string> {
  const specific = SPECIFIC[kind];
  return specific ? fc.oneof(generic(valid), specific) : generic(valid);
}

/** A valid value of each kind, used to fill the other arguments of a command and as the base of mutations. */
export const VALID: Record<string, string> = {
  user: 'jdoe',
  address: 'new.person@agency.org',
  duration: '30d',
  date: '2026-11-20',
  count: '5',
  ticket: 'HD-1',
  reason: 'left the agency',
  filter: 'Harbor Light Shelter',
  actor: 'tester',
  action: 'unlock',
  link: 'https://hmis.example.org/password/reset?token=x',
  phone: '(555) 123-4567',
  'dns-server': '127.0.0.1:53',
  'database-url': 'postgres://postgres@127.0.0.1:5432/test',
  choice: 'table',
};
