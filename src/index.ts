/** The library for the HMIS web application: the same rules and tables as the CLI. */
export { CliError, NotFoundError, UsageError } from './errors.js';
export { DeviseDoesThisError } from './services/accounts/host-guard.js';
export { recordLoginFailure, recordLoginSuccess, type LoginOptions, type LoginResult } from './services/accounts/login.js';
export { daysLeft } from './services/accounts/days.js';
export { redeemResetToken, type RedeemResult } from './services/links/reset-links.js';
export { confirmEmail, type ConfirmResult } from './services/email/email.js';
export { parseEmailAddress, parsePhone, isPhone } from './services/email/email-address.js';
export { hashToken } from './services/links/tokens.js';
