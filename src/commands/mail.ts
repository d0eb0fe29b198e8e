/** `mail test <address>` proves the relay; `mail doctor` checks the sender domain's SPF, DKIM and DMARC. */
import type { AppContext } from '../context.js';
import { mailDoctor, type DoctorReport } from '../mail/dns.js';
import { testRelay, type RelayTestResult } from '../mail/relay.js';

export interface MailTestOpts {
  ticket?: string;
  dryRun?: boolean;
}

/** Connect, log in and send one test message through the outbox; exit 1 when the relay fails. */
export async function test(address: string, opts: MailTestOpts, ctx: AppContext): Promise<RelayTestResult> {
  return testRelay(ctx, address, opts.ticket ?? null, Boolean(opts.dryRun));
}

export interface DoctorOpts {
  dnsServer?: string;
}

/** Look up what receivers check; exit 5 when something is missing. */
export async function doctor(opts: DoctorOpts, ctx: AppContext): Promise<DoctorReport> {
  return mailDoctor(ctx.config, { server: opts.dnsServer ?? ctx.config.dnsServer ?? undefined });
}
