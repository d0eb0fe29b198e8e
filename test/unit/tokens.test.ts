import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { buildLink, hashToken, newToken, parseLinkOrToken, PLACEHOLDER_SITE, requireLinkSite } from '../../src/services/links/tokens.js';

const config = (env: Record<string, string>) => loadConfig({}, { HMIS_ACTOR: 't', ...env }, '/nonexistent', false);

describe('tokens', () => {
  it('are 43 base64url characters from 32 random bytes; the hash is lowercase hex SHA-256', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const { raw, hash } = newToken();
      expect(raw).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{42}$/); // never a leading '-': it would read as an option
      expect(Buffer.from(raw, 'base64url')).toHaveLength(32);
      expect(hash).toBe(createHash('sha256').update(raw).digest('hex'));
      seen.add(raw);
    }
    expect(seen.size).toBe(1000);
    expect(hashToken('x')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('take links and bare tokens apart, never quoting the token in a message', () => {
    const t = 'A'.repeat(43);
    expect(parseLinkOrToken(t)).toEqual({ ok: true, raw: t, origin: null, path: null });
    expect(parseLinkOrToken(` https://hmis.example.org/password/reset?token=${t}\n`)).toEqual({ ok: true, raw: t, origin: 'https://hmis.example.org', path: '/password/reset' });
    expect(parseLinkOrToken(`hmis.example.org/password/reset?token=${t}`)).toMatchObject({ ok: true, origin: 'https://hmis.example.org' });
    for (const bad of ['', 'abc', `${t}A`, 'https://hmis.example.org/password/reset', `https://hmis.example.org/password/reset?token=${t.slice(1)}`, `https://x/?token=${t}%20`]) {
      const r = parseLinkOrToken(bad);
      expect(r.ok, bad).toBe(false);
      if (!r.ok && bad.length > 40) expect(r.detail).not.toContain(t.slice(1));
    }
    expect(buildLink({ siteUrl: 'https://h.org', path: '/p' }, t)).toBe(`https://h.org/p?token=${t}`);
  });

  it('are built only on an allowed site', () => {
    const server = { HMIS_DATABASE_URL: 'postgres://x@db/hmis' };
    expect(() => requireLinkSite(config(server), 'reset')).toThrow(/HMIS_SITE_URL is not set/);
    expect(() => requireLinkSite(config({ ...server, HMIS_SITE_URL: 'http://hmis.example.org' }), 'reset')).toThrow(/is not https/);
    expect(requireLinkSite(config({ ...server, HMIS_SITE_URL: 'https://hmis.agency.org/' }), 'verify')).toEqual({ siteUrl: 'https://hmis.agency.org', path: '/email/confirm', placeholder: false });
    expect(requireLinkSite(config({ HMIS_SITE_URL: 'http://localhost:8080' }), 'reset')).toMatchObject({ siteUrl: 'http://localhost:8080', placeholder: false });
    expect(requireLinkSite(config({}), 'reset')).toEqual({ siteUrl: PLACEHOLDER_SITE, path: '/password/reset', placeholder: true });
    expect(() => requireLinkSite(config({ HMIS_SMTP_URL: 'smtp://relay', HMIS_MAIL_FROM: 'a@b.org' }), 'reset')).toThrow(/placeholder link/);
  });
});
