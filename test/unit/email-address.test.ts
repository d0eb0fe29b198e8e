import { describe, expect, it } from 'vitest';
import { isPhone, parseEmailAddress, parsePhone } from '../../src/services/email/email-address.js';
import { HOSTILE_ADDRESSES } from '../fixtures/hostile-addresses.js';

describe('parseEmailAddress', () => {
  it('accepts the broad valid forms and keeps the local part as typed', () => {
    for (const [input, out] of [
      ['jane@agency.org', 'jane@agency.org'],
      ['Jane.Doe@Agency.ORG', 'Jane.Doe@agency.org'],
      ['jane+hmis@agency.org', 'jane+hmis@agency.org'],
      ["o'brien@agency.org", "o'brien@agency.org"],
      ['a_b-c.d@sub.agency.example.org', 'a_b-c.d@sub.agency.example.org'],
      ['x@a1.co', 'x@a1.co'],
      ['  jane@agency.org  ', 'jane@agency.org'],
      ['jane@bücher.de', 'jane@xn--bcher-kva.de'],
      ['jane@BÜCHER.DE', 'jane@xn--bcher-kva.de'],
      ['jane@xn--bcher-kva.de', 'jane@xn--bcher-kva.de'],
      ['jane@例え.jp', 'jane@xn--r8jz45g.jp'],
      [`${'a'.repeat(64)}@agency.org`, `${'a'.repeat(64)}@agency.org`],
    ]) {
      expect(parseEmailAddress(input!), input).toEqual({ ok: true, address: out });
    }
  });

  it('has at least 100 hostile addresses and rejects every one with a reason', () => {
    expect(HOSTILE_ADDRESSES.length).toBeGreaterThanOrEqual(100);
    expect(new Set(HOSTILE_ADDRESSES).size).toBe(HOSTILE_ADDRESSES.length);
    for (const a of HOSTILE_ADDRESSES) {
      const r = parseEmailAddress(a);
      expect(r.ok, JSON.stringify(a)).toBe(false);
      if (!r.ok) expect(r.reason.length).toBeGreaterThan(3);
    }
  });

  it('gives specific reasons', () => {
    const reason = (a: string) => (parseEmailAddress(a) as { reason: string }).reason;
    expect(reason('jane@agency.org\r\nBcc: x@y.org')).toMatch(/control characters/);
    expect(reason('"evil@evil.org"@agency.org')).toMatch(/quoted/);
    expect(reason('Jane <jane@agency.org>')).toMatch(/display name/);
    expect(reason('a@b@c.org')).toMatch(/more than one @/);
    expect(reason(`${'a'.repeat(65)}@agency.org`)).toMatch(/at most 64/);
    expect(reason('jane@[127.0.0.1]')).toMatch(/IP address/);
    expect(reason('jane@ａｇｅｎｃｙ.org')).toMatch(/look-alike/);
    expect(reason('jane@agency')).toMatch(/without a dot/);
  });

  it('limits the total to 254 characters', () => {
    const domain = `${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}.abcdef`; // 189
    expect(parseEmailAddress(`${'a'.repeat(64)}@${domain}`).ok).toBe(true); // 254
    expect(parseEmailAddress(`${'a'.repeat(64)}@e${domain}`).ok).toBe(false); // 255
  });
});

describe('phone', () => {
  it('accepts common forms and tidies spacing', () => {
    expect(parsePhone('(555) 123-4567')).toEqual({ ok: true, phone: '(555) 123-4567' });
    expect(parsePhone(' +1 555  123 4567 ')).toEqual({ ok: true, phone: '+1 555 123 4567' });
    expect(isPhone('555.123.4567')).toBe(true);
  });
  it('rejects junk', () => {
    for (const p of ['', '12345', 'call me', '555-123-4567 ext 2', '+1 (555) 123-4567\n', '1'.repeat(21), '555+1234567']) expect(isPhone(p), p).toBe(false);
  });
});

describe('fast path', () => {
  it('agrees with the full parser on every sample', () => {
    const samples = [...HOSTILE_ADDRESSES, 'jane@agency.org', 'Jane.Doe@agency.org', 'a@b.co', "o'brien+x@agency.example.org", 'x@xn--bcher-kva.de', 'x@a--b.org',
      `${'a'.repeat(64)}@agency.org`, `${'a'.repeat(65)}@agency.org`, 'a@1.org', 'a@b.c0', 'a@b.c', 'a{b}@c.org', 'a|b@c.org', `x@${'b'.repeat(63)}.org`, `x@${'b'.repeat(64)}.org`];
    for (let i = 0; i < 2000; i++) {
      const chars = 'ab.-_@+1Z%';
      samples.push(Array.from({ length: 3 + (i % 12) }, (_, j) => chars[(i * 7 + j * 13 + (i >> 3)) % chars.length]).join('') + (i % 3 ? '.org' : ''));
    }
    for (const s of samples) expect(parseEmailAddress(s), JSON.stringify(s)).toEqual(parseEmailAddress(s, { fastPath: false }));
  });
});
