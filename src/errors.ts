/** Typed errors: each carries the exit code CONTRACT.md assigns and a message that says what to do next. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad flag, bad value or refused precondition (exit 2): nothing was changed. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 2);
  }
}

/** A named user does not exist (exit 3). */
export class NotFoundError extends CliError {
  constructor(message: string) {
    super(message, 3);
  }
}

/** Database or relay unreachable, or another operational failure (exit 1). */
export class OperationalError extends CliError {
  constructor(message: string) {
    super(message, 1);
  }
}

/** Bulk work partly failed (exit 4); the result rows say which items. */
export class PartialFailureError extends CliError {
  constructor(
    message: string,
    readonly data?: unknown,
  ) {
    super(message, 4);
  }
}

/** A check found problems (exit 5); data is still printed. */
export class CheckFailedError extends CliError {
  constructor(
    message: string,
    readonly data?: unknown,
  ) {
    super(message, 5);
  }
}

/** The person answered no, or pressed Ctrl-C, at a prompt (exit 130); or a signal stopped the run (130 SIGINT, 143 SIGTERM). */
export class CancelledError extends CliError {
  constructor(message = 'cancelled; nothing was changed', exitCode = 130) {
    super(message, exitCode);
  }
}

/** Turn low-level connection errors into one line naming host and port. */
export function describeConnectionError(err: unknown, target: string): CliError | undefined {
  const code = (err as { code?: string } | undefined)?.code;
  const codes = ['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'ECONNRESET', 'EAI_AGAIN'];
  if (code && codes.includes(code)) {
    return new OperationalError(
      `cannot reach the database at ${target} (${code}); check that PostgreSQL is running there, or fix --db / HMIS_DATABASE_URL`,
    );
  }
  if (code === '3D000') {
    const name = /database "([^"]*)"/.exec((err as Error).message)?.[1] ?? '';
    return new OperationalError(
      `database ${JSON.stringify(name)} does not exist on ${target}; create it (createdb ${name}) or fix --db / HMIS_DATABASE_URL`,
    );
  }
  if (code === '28P01' || code === '28000') {
    return new OperationalError(`the database at ${target} refused the login; check the user and password in --db / HMIS_DATABASE_URL`);
  }
  return undefined;
}

/**
 * A PostgreSQL error as one line without its SQL: knex puts the whole statement (with its values) before
 * the server's message (`<sql> - <message>`); only the message and its SQLSTATE are shown. A query the
 * server cancelled for its statement_timeout says so. Null for anything that is not a database error.
 */
export function databaseMessage(err: unknown): string | null {
  const e = err as { message?: unknown; code?: unknown; severity?: unknown } | null;
  if (!e || typeof e.message !== 'string' || typeof e.code !== 'string' || !/^[0-9A-Z]{5}$/.test(e.code) || typeof e.severity !== 'string') return null;
  const cut = e.message.lastIndexOf(' - ');
  const text = (cut >= 0 ? e.message.slice(cut + 3) : e.message).replace(/\s+/g, ' ').trim();
  if (e.code === '57014' && /statement timeout/i.test(text)) {
    return `the database cancelled a query that ran longer than its statement_timeout (SQLSTATE 57014); raise statement_timeout for this database user, or drop options=-c statement_timeout from --db / HMIS_DATABASE_URL`;
  }
  return `the database said: ${text} (SQLSTATE ${e.code})`;
}
