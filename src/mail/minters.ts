/**
 * Link-bearing kinds ('reset', 'verify') mint their link at delivery. Each also names what the delivering
 * run's configuration must provide (the site URL), so a run that cannot build the link is refused before
 * it claims anything: a mistake in our own configuration is never the recipient's failure.
 */
import type { Config } from '../config.js';
import type { LinkMinter, MailKind } from './types.js';

interface LinkKindService {
  mint: LinkMinter;
  /** Throws a UsageError naming the variable when this run's configuration cannot build the link. */
  check(config: Config): void;
}

// The services are loaded only when such mail goes out (and the outbox never imports them statically).
const SERVICES: Partial<Record<MailKind, () => Promise<LinkKindService>>> = {
  reset: async () => {
    const [{ mintResetLink }, { requireLinkSite, requireResetSecret }] = await Promise.all([import('../services/links/reset.js'), import('../services/links/tokens.js')]);
    return {
      mint: mintResetLink,
      check: (config) => {
        requireLinkSite(config, 'reset');
        requireResetSecret(config);
      },
    };
  },
  verify: async () => {
    const [{ mintVerifyLink }, { requireLinkSite }] = await Promise.all([import('../services/email/email.js'), import('../services/links/tokens.js')]);
    return { mint: mintVerifyLink, check: (config) => void requireLinkSite(config, 'verify') };
  },
};
const testMinters = new Map<MailKind, LinkMinter>();

/** The kinds whose message carries a link minted at delivery. */
export const LINK_KINDS = Object.keys(SERVICES) as MailKind[];

/** Tests register a minter for a kind (undefined removes it); a test minter needs no configuration. */
export function setLinkMinterForTest(kind: MailKind, minter: LinkMinter | undefined): void {
  if (minter) testMinters.set(kind, minter);
  else testMinters.delete(kind);
}

/** The LinkMinter of a link-bearing kind (a test override first); undefined for kinds without a link. */
export async function minterFor(kind: MailKind): Promise<LinkMinter | undefined> {
  return testMinters.get(kind) ?? (await SERVICES[kind]?.())?.mint;
}

/** Refuse (UsageError, exit 2) when this run's configuration cannot deliver one of these kinds. */
export async function checkKindsConfig(config: Config, kinds: MailKind[]): Promise<void> {
  for (const kind of kinds) {
    if (testMinters.has(kind)) continue;
    (await SERVICES[kind]?.())?.check(config);
  }
}
