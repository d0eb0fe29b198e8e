/**
 * Link tokens: 32 bytes from the CSPRNG as base64url; only the SHA-256 hex ever reaches the database.
 * Also the one place that decides which site a link may point to.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Config } from '../../config.js';
import { UsageError } from '../../errors.js';

/** 32 random bytes are 43 base64url characters, no padding. */
export const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

/** Shown in links when the embedded demo database has no HMIS_SITE_URL (and no relay): clearly not a real site. */
export const PLACEHOLDER_SITE = 'https://hmis.example.org';

/**
 * A fresh raw token and its hash. The raw value must stay in memory and go only into the sent link. It never
 * starts with '-', so a person can give it alone on a command line (`reset check <token>`) without it reading
 * as an option (1 in 64 draws did; redrawing them costs 0.02 bits of the 256).
 */
export function newToken(): { raw: string; hash: string } {
  let raw: string;
  do raw = randomBytes(32).toString('base64url');
  while (raw.startsWith('-'));
  return { raw, hash: hashToken(raw) };
}

/** Lowercase hex SHA-256 of the raw token, as stored in token_hash. */
export function hashToken(raw: string): string {
  return createHash('sha256').update(raw, 'utf8').digest('hex');
}

export type LinkKind = 'reset' | 'verify';

export interface LinkSite {
  /** Origin (no trailing slash) and path, e.g. https://hmis.example.org + /password/reset. */
  siteUrl: string;
  path: string;
  /** True when HMIS_SITE_URL was not set and the placeholder is used (embedded demo only). */
  placeholder: boolean;
}

/** The configured site, or null when there is none on a server database (no link can be judged or built). */
export function configuredSite(config: Config, kind: LinkKind): LinkSite | null {
  const path = kind === 'reset' ? config.resetPath : config.verifyPath;
  if (config.siteUrl) return { siteUrl: config.siteUrl, path, placeholder: false };
  if (config.databaseSource === 'embedded') return { siteUrl: PLACEHOLDER_SITE, path, placeholder: true };
  return null;
}

/**
 * The site a new link may be built on, or a UsageError (exit 2). Links come from HMIS_SITE_URL only:
 * against a server database it must be https; the embedded demo database may use http (localhost demos)
 * or, with no relay configured, the placeholder site. A real relay never carries a placeholder link.
 */
export function requireLinkSite(config: Config, kind: LinkKind): LinkSite {
  const what = kind === 'reset' ? 'reset links' : 'verification links';
  const server = config.databaseSource !== 'embedded';
  if (!config.siteUrl) {
    if (server) throw new UsageError(`HMIS_SITE_URL is not set; ${what} are built only from it: set it to the https:// address of your HMIS site, e.g. HMIS_SITE_URL=https://hmis.example.org`);
    if (config.smtpUrl) throw new UsageError(`HMIS_SITE_URL is not set but HMIS_SMTP_URL is: real mail would carry a placeholder link; set HMIS_SITE_URL to your HMIS site's https:// address`);
  } else if (server && !config.siteUrl.startsWith('https://')) {
    throw new UsageError(`HMIS_SITE_URL ${JSON.stringify(config.siteUrl)} is not https; ${what} against a server database must use https://, e.g. HMIS_SITE_URL=https://hmis.example.org`);
  }
  return configuredSite(config, kind)!;
}

/**
 * devise mode: reset links are signed with the application's secret_key_base. Without it no link can be minted:
 * refuse (exit 2) before anything is written, naming both ways to give it.
 */
export function requireResetSecret(config: Config): void {
  if (config.schema === 'devise' && !config.devise.secret) {
    throw new UsageError(
      'HMIS_DEVISE_SECRET_FILE (or HMIS_DEVISE_SECRET) is not set: reset links for a Devise application are signed with its secret_key_base; put it in a file only you can read and set HMIS_DEVISE_SECRET_FILE to that file',
    );
  }
}

/** How a host's link carries its token: the query parameter, the token's pattern, and its shape in words. */
export interface TokenFormat {
  param: string;
  pattern: RegExp;
  shape: string;
}

/** hmis-admin's own links (native mode): ?token= and 32 random bytes as base64url. */
export const NATIVE_TOKEN: TokenFormat = { param: 'token', pattern: TOKEN_RE, shape: '43 characters' };

/**
 * site + path + ?<param>=raw: the whole link. The site is the normalised HMIS_SITE_URL (validate/urls.ts)
 * and the path a checked plain path, so the link reads back as exactly itself; anything else is a bug
 * and must never reach a message or a terminal.
 */
export function buildLink(site: { siteUrl: string; path: string }, raw: string, format: TokenFormat = NATIVE_TOKEN): string {
  const link = `${site.siteUrl}${site.path}?${format.param}=${raw}`;
  if (!format.pattern.test(raw) || new URL(link).href !== link) throw new Error('refusing to build a link that does not read back as itself');
  return link;
}

export type ParsedLink =
  | { ok: true; raw: string; origin: string | null; path: string | null }
  | { ok: false; detail: string };

/** Take a pasted link or bare token apart without ever putting the token into a message. */
export function parseLinkOrToken(input: string, format: TokenFormat = NATIVE_TOKEN): ParsedLink {
  const value = input.trim();
  const shape = `${format.shape} of A-Z, a-z, 0-9, - and _`;
  if (format.pattern.test(value)) return { ok: true, raw: value, origin: null, path: null };
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value) && !value.includes('?') && !value.includes('/')) {
    return { ok: false, detail: `a token is ${shape}; this one has ${value.length}: check that the whole link was copied` };
  }
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `https://${value}`);
  } catch {
    return { ok: false, detail: 'this is neither a link nor a token; paste the whole link from the email' };
  }
  const raw = url.searchParams.get(format.param);
  if (raw === null) return { ok: false, detail: `the link to ${url.origin}${url.pathname} has no ?${format.param}=; paste the whole link from the email` };
  if (!format.pattern.test(raw)) {
    return { ok: false, detail: `the token in the link has ${raw.length} character${raw.length === 1 ? '' : 's'}, not ${shape}: the link was probably cut off or changed` };
  }
  return { ok: true, raw, origin: url.origin, path: url.pathname };
}
