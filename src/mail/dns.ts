/**
 * `mail doctor`: the DNS records receivers check before they trust the sender's domain. Gmail and
 * Yahoo require SPF or DKIM from every sender and DMARC for bulk senders (Google support 81126);
 * without them reset mail lands in spam or is refused.
 */
import { Resolver } from 'node:dns/promises';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Config } from '../config.js';
import { parseDnsServer } from '../validate/host.js';
import { senderDomain } from './compose.js';

export interface DoctorCheck {
  id: 'sender' | 'relay' | 'relay_tls' | 'spf' | 'dmarc' | 'dkim';
  status: 'ok' | 'warn' | 'fail';
  message: string;
  fix: string | null;
}

export interface DoctorReport {
  /** The sender's domain; null when HMIS_MAIL_FROM is not set (there is none of ours to look up). */
  domain: string | null;
  checks: DoctorCheck[];
  exitCode: number;
}

export interface DnsOptions {
  /** `host` or `host:port` of the resolver to ask (HMIS_DNS_SERVER, a test and diagnostic knob). */
  server?: string;
  timeoutMs?: number;
}

/** `nxdomain`: the name does not exist at all, which for the sender's own domain is worse than a missing record. */
type Lookup = { records: string[] } | { error: string; missing: boolean; nxdomain: boolean };

async function txt(resolver: Resolver, name: string): Promise<Lookup> {
  try {
    return { records: (await resolver.resolveTxt(name)).map((chunks) => chunks.join('')) };
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'error';
    const missing = code === 'ENODATA' || code === 'ENOTFOUND';
    return { error: missing ? `no TXT record at ${name}` : `the lookup of ${name} failed (${code})`, missing, nxdomain: code === 'ENOTFOUND' };
  }
}

/** Check SPF, DMARC and the DKIM selector record of the sender's domain, and the relay settings. */
export async function mailDoctor(config: Config, options: DnsOptions = {}): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [];
  const resolver = new Resolver({ timeout: options.timeoutMs ?? 3000, tries: 1 });
  if (options.server) resolver.setServers([parseDnsServer(options.server, 'HMIS_DNS_SERVER')]);

  checks.push(
    config.mailFrom
      ? { id: 'sender', status: 'ok', message: `mail is sent from ${config.mailFrom}`, fix: null }
      : { id: 'sender', status: 'fail', message: 'HMIS_MAIL_FROM is not set, so mail would come from hmis-admin@localhost, which every receiver distrusts', fix: 'set HMIS_MAIL_FROM to an address of your own domain, e.g. HMIS_MAIL_FROM="HMIS Support <hmis-noreply@your-agency.org>"' },
  );
  if (!config.smtpUrl) {
    checks.push({ id: 'relay', status: 'warn', message: `HMIS_SMTP_URL is not set: messages are only written as .eml files under ${config.dataDir}/mail`, fix: 'set HMIS_SMTP_URL to your mail relay, e.g. smtps://user:pass@relay.example.org:465' });
  } else if (config.smtpUrl.startsWith('smtps:')) {
    checks.push({ id: 'relay_tls', status: 'ok', message: 'the relay is reached over TLS (smtps://)', fix: null });
  } else {
    checks.push({ id: 'relay_tls', status: 'warn', message: 'smtp:// upgrades to TLS only when the relay offers STARTTLS; receivers distrust mail that travelled unencrypted', fix: 'use smtps:// (port 465) or a relay that requires STARTTLS' });
  }

  if (!config.mailFrom) {
    // No sender of ours: records for "localhost" would be advice about nothing.
    for (const id of ['spf', 'dmarc', 'dkim'] as const) {
      checks.push({ id, status: 'warn', message: 'not checked: HMIS_MAIL_FROM is not set, so there is no sender domain to look up', fix: 'set HMIS_MAIL_FROM (see the sender check), then run `hmis-admin mail doctor` again' });
    }
    return { domain: null, checks, exitCode: 5 };
  }
  const domain = senderDomain(config);
  const [spf, dmarc, dkim] = await Promise.all([
    txt(resolver, domain),
    txt(resolver, `_dmarc.${domain}`),
    config.dkim ? txt(resolver, `${config.dkim.selector}._domainkey.${config.dkim.domain}`) : Promise.resolve(undefined),
  ]);
  checks.push(spfCheck(domain, spf));
  checks.push(dmarcCheck(domain, dmarc, 'error' in spf && spf.nxdomain));
  checks.push(await dkimCheck(config, domain, dkim));
  return { domain, checks, exitCode: checks.some((c) => c.status === 'fail') ? 5 : 0 };
}

function spfCheck(domain: string, found: Lookup): DoctorCheck {
  const fix = `publish a TXT record at ${domain} such as "v=spf1 include:<your relay's SPF domain> -all"`;
  if ('error' in found && found.nxdomain) return nxdomainCheck('spf', domain);
  if ('error' in found) {
    return { id: 'spf', status: 'fail', message: `${found.missing ? `no SPF record for ${domain}` : found.error}: Gmail and Yahoo send unauthenticated mail to spam or refuse it`, fix };
  }
  const spf = found.records.filter((r) => /^v=spf1(\s|$)/i.test(r.trim()));
  if (spf.length === 0) return { id: 'spf', status: 'fail', message: `no SPF record (v=spf1) among the TXT records of ${domain}: receivers cannot tell whether your relay may send for it`, fix };
  if (spf.length > 1) return { id: 'spf', status: 'fail', message: `${spf.length} SPF records at ${domain}: more than one is an SPF error (permerror) and counts as no SPF`, fix: 'merge them into one v=spf1 record' };
  if (/[+?]all\b/i.test(spf[0]!) || !/[-~]all\b|redirect=/i.test(spf[0]!)) {
    return { id: 'spf', status: 'warn', message: `the SPF record of ${domain} does not end in -all or ~all, so it vouches for any sender: "${spf[0]}"`, fix: 'end the record with -all (or ~all while testing)' };
  }
  return { id: 'spf', status: 'ok', message: `SPF: ${spf[0]}`, fix: null };
}

/** The sender's domain is not in DNS at all (NXDOMAIN): a typo in HMIS_MAIL_FROM, or a domain never registered. */
function nxdomainCheck(id: 'spf' | 'dmarc', domain: string): DoctorCheck {
  return {
    id,
    status: 'fail',
    message: `the domain ${domain} does not exist (NXDOMAIN), so it can have no ${id === 'spf' ? 'SPF' : 'DMARC'} record; receivers refuse mail from a domain that does not exist`,
    fix: `check the address in HMIS_MAIL_FROM: mail must come from a domain that exists and that you control`,
  };
}

function dmarcCheck(domain: string, found: Lookup, domainMissing: boolean): DoctorCheck {
  if (domainMissing) return nxdomainCheck('dmarc', domain);
  const fix = `publish a TXT record at _dmarc.${domain} such as "v=DMARC1; p=none; rua=mailto:dmarc@${domain}", then tighten p= once reports look clean`;
  if ('error' in found) {
    return { id: 'dmarc', status: 'fail', message: `${found.missing ? `no DMARC record at _dmarc.${domain}` : found.error}: Gmail and Yahoo require DMARC from senders of regular mail, and its absence pushes mail to spam`, fix };
  }
  const rec = found.records.find((r) => /^v=DMARC1\s*(;|$)/i.test(r.trim()));
  if (!rec) return { id: 'dmarc', status: 'fail', message: `the TXT records at _dmarc.${domain} hold no v=DMARC1 policy`, fix };
  const policy = /(?:^|;)\s*p\s*=\s*(\w+)/i.exec(rec)?.[1]?.toLowerCase();
  if (!policy) return { id: 'dmarc', status: 'fail', message: `the DMARC record of ${domain} has no p= policy, so receivers ignore it: "${rec}"`, fix };
  return { id: 'dmarc', status: 'ok', message: `DMARC policy p=${policy}${policy === 'none' ? ' (monitoring only; fine for now)' : ''}`, fix: null };
}

async function dkimCheck(config: Config, domain: string, found: Lookup | undefined): Promise<DoctorCheck> {
  if (!config.dkim || !found) {
    return { id: 'dkim', status: 'fail', message: 'DKIM signing is off: without a DKIM signature aligned with the sender domain, DMARC rests on SPF alone and large receivers are quick to file mail as spam', fix: `create a key pair, publish the public key at <selector>._domainkey.${domain} and set HMIS_DKIM_DOMAIN, HMIS_DKIM_SELECTOR and HMIS_DKIM_KEY_FILE` };
  }
  const name = `${config.dkim.selector}._domainkey.${config.dkim.domain}`;
  const fix = `publish the public key as a TXT record at ${name}: "v=DKIM1; k=rsa; p=<base64 public key>"`;
  if ('error' in found) return { id: 'dkim', status: 'fail', message: `${found.missing ? `no DKIM key at ${name}` : found.error}: receivers cannot verify the signatures, which then count as absent`, fix };
  const rec = found.records.find((r) => /(?:^|;)\s*p\s*=/i.test(r));
  const published = rec ? (/(?:^|;)\s*p\s*=\s*([^;]*)/i.exec(rec)?.[1] ?? '').replace(/\s+/g, '') : '';
  if (!published) return { id: 'dkim', status: 'fail', message: `the record at ${name} has no public key (p= is missing or empty, i.e. revoked)`, fix };
  const ours = await publicKeyOf(config.dkim.keyFile);
  if (ours === undefined) {
    return { id: 'dkim', status: 'fail', message: `HMIS_DKIM_KEY_FILE ${config.dkim.keyFile} cannot be read as a PEM private key, so nothing can be signed`, fix: 'point HMIS_DKIM_KEY_FILE at the private key whose public half is published' };
  }
  if (ours !== published) {
    return { id: 'dkim', status: 'fail', message: `the key published at ${name} does not match HMIS_DKIM_KEY_FILE: every signature would fail`, fix: `publish p=${ours.slice(0, 24)}… (the public half of HMIS_DKIM_KEY_FILE) or point HMIS_DKIM_KEY_FILE at the matching key` };
  }
  const aligned = domain === config.dkim.domain || domain.endsWith(`.${config.dkim.domain}`);
  if (!aligned) {
    return { id: 'dkim', status: 'warn', message: `DKIM signs as ${config.dkim.domain} but mail comes from ${domain}: the signature does not align for DMARC`, fix: `sign with HMIS_DKIM_DOMAIN=${domain} or send from an address at ${config.dkim.domain}` };
  }
  return { id: 'dkim', status: 'ok', message: `DKIM key published at ${name} and matches HMIS_DKIM_KEY_FILE`, fix: null };
}

/** The base64 SubjectPublicKeyInfo of the configured private key, as DNS publishes it; undefined if unreadable. */
async function publicKeyOf(keyFile: string): Promise<string | undefined> {
  try {
    const key = createPublicKey(createPrivateKey(await readFile(keyFile, 'utf8')));
    return key.export({ type: 'spki', format: 'der' }).toString('base64');
  } catch {
    return undefined;
  }
}
