/** Text renderings of single documents for table mode. */
import type { DigestResult, MigrateResult } from '../commands/db.js';
import type { DemoResult } from '../services/accounts/demo.js';
import type { AccountDetail } from '../services/accounts/detail.js';
import { isEmbeddedDescription } from '../config.js';
import { cell, when } from './format.js';
import { renderFields } from './table.js';

/** devise mode: the host's table, what it offers, and the settings that must equal the application's. */
function hostLines(r: MigrateResult): string[] {
  if (!r.host) return [];
  const yes = Object.entries(r.host.optional).filter(([, v]) => v).map(([k]) => k);
  const no = Object.entries(r.host.optional).filter(([, v]) => !v).map(([k]) => k);
  return [
    `host table: ${r.host.table} (Devise)`,
    `found: ${yes.join(', ') || 'no optional columns'}`,
    ...(no.length ? [`not found (not used): ${no.join(', ')}`] : []),
    `settings (must equal the application's): ${Object.entries(r.host.settings).map(([k, v]) => `${k}=${v}`).join(', ')}`,
  ];
}

export function migrateText(r: MigrateResult): string {
  const lines = [`database: ${r.database}`, `schema: ${r.schema}${r.schema === 'devise' ? ' (the tool\'s own tables in hmis_admin)' : ''}`, ...hostLines(r)];
  lines.push(r.applied.length ? `applied: ${r.applied.join(', ')}` : 'applied: nothing (already up to date)');
  if (r.pending.length) lines.push(`pending: ${r.pending.join(', ')}`);
  return lines.join('\n');
}

export function statusText(r: MigrateResult): string {
  return [
    `database: ${r.database}`,
    `schema: ${r.schema}${r.schema === 'devise' ? ' (the tool\'s own tables in hmis_admin)' : ''}`,
    ...hostLines(r),
    ...r.applied.map((m) => `applied  ${m}`),
    ...r.pending.map((m) => `pending  ${m}`),
    r.pending.length ? 'run `hmis-admin db migrate` to apply the pending migrations' : 'schema is up to date',
  ].join('\n');
}

export function digestText(r: DigestResult): string {
  return [
    `sha1    ${r.sha1}`,
    `sha256  ${r.sha256}`,
    `compare with: rails runner 'puts Devise.token_generator.digest(User, :reset_password_token, "${r.word}")'`,
    `set HMIS_DEVISE_KEY_DIGEST to the one that matches (now: ${r.configured}); if neither does, HMIS_DEVISE_SECRET(_FILE) is not the application's secret_key_base`,
  ].join('\n');
}

export function demoText(r: DemoResult & { database: string }): string {
  // On a server the next command needs the same database: without it, it would read the embedded demo instead.
  const same = isEmbeddedDescription(r.database) ? '' : ' (with the same --db, or HMIS_DATABASE_URL set)';
  return `${r.message} in ${r.database}${r.created ? `\nnext: \`hmis-admin locked\`${same} lists the locked demo accounts` : ''}`;
}

export function detailText(d: AccountDetail, color: boolean): string {
  const a = d.account as Record<string, unknown>;
  const g = d.agreement as Record<string, unknown> & { signatures: Record<string, string | null>; missingSignatures: string[] };
  const lock = a.locked ? `locked (${a.lockReason ?? 'unknown reason'}) since ${when(a.lockedAt as string)}` : 'not locked';
  const fields: Array<[string, unknown]> = [
    ['user', `${a.username} (#${a.id})`],
    ['name', a.name],
    ['agency', a.agency ?? '(none)'],
    ['supervisor', d.supervisor ?? '(none)'],
    ['email', a.email ? `${a.email}${a.emailVerified ? ' (verified)' : ' (not verified)'}` : '(none)'],
    ['phone', a.phone ?? '(none)'],
    ['status', lock],
    ['failed logins', a.failedLoginAttempts],
    ['last login', a.lastLoginAt ? when(a.lastLoginAt as string) : '(never)'],
    ['expires', a.accountExpiresAt ? when(a.accountExpiresAt as string) : '(no expiry)'],
    ['agreement', `${g.status}${g.missingSignatures.length ? `, missing: ${g.missingSignatures.join(', ')}` : ''}`],
  ];
  const out = [renderFields(fields, color)];
  out.push('', 'recent reset links:');
  if (!d.recentResets.length) out.push('  (none)');
  for (const r of d.recentResets) out.push(`  ${when(r.createdAt as string)}  ${r.state}  delivery: ${r.delivery}`);
  out.push('', 'recent audit entries:');
  if (!d.recentAudit.length) out.push('  (none)');
  for (const e of d.recentAudit) out.push(`  ${when(e.at as string)}  ${cell(e.action)}  by ${cell(e.actor)}${e.dbUser ? ` (database user ${cell(e.dbUser)})` : ''}${e.ticket ? `  ticket ${cell(e.ticket)}` : ''}`);
  return out.join('\n');
}
