/** The library for the HMIS web application: the same rules and tables as the CLI. */
export { CliError, NotFoundError, UsageError } from './errors.js';
export { recordLoginFailure, recordLoginSuccess, type LoginOptions, type LoginResult } from './services/login.js';
export { daysLeft } from './services/days.js';
