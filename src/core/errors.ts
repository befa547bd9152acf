/**
 * Tandem's error catalogue, grouped by subsystem the way Fastify's is.
 *
 * Every error that reaches a user carries one stable `TANDEM_ERR_*` code and one line of text that names the
 * problem (the table, column, URL or key involved). Messages never contain passwords, hashes or connection
 * passwords: URLs are redacted with {@link redactUrl} before they are put into a message.
 *
 * Exit codes of the CLI: 0 success, 1 differences found (verify), 2 any TandemError or unexpected failure.
 */
import { redactErrorText } from './redact.js';

export const ErrorCodes = {
  // config
  CONFIG_NOT_FOUND: 'the config file does not exist',
  CONFIG_SYNTAX: 'the config file could not be parsed or evaluated',
  CONFIG_INVALID: 'the config does not match the schema',
  // stores / URLs
  URL_SCHEME: 'the store URL has an unknown scheme',
  URL_INVALID: 'the store URL cannot be parsed',
  STORE_UNREACHABLE: 'the server could not be reached',
  STORE_AUTH: 'the server refused the credentials',
  STORE_DATABASE_NOT_FOUND: 'the database does not exist',
  STORE_QUERY: 'the store rejected a statement',
  STORE_UNSUPPORTED: 'the store adapter does not implement what the command needs (sequences, read-only triggers)',
  // schema and mapping
  TABLE_NOT_FOUND: 'a table named in the config does not exist',
  COLUMN_NOT_FOUND: 'a source column named in the config does not exist',
  MAPPING_COLUMN_NOT_FOUND: 'the mapping writes to a target column that does not exist',
  MAPPING_INVALID: 'the mapping cannot be applied as written',
  KEY_NOT_UNIQUE: 'the entity key does not identify one row',
  TARGET_KEY_MISSING: 'a target table has no primary or unique key on the mapped entity key',
  VALUE_DOES_NOT_FIT: 'a mapped value does not fit the target column type',
  REFERENCE_MISSING:
    'the target refused a row whose foreign key names a row it does not hold (fill parents first: the config order)',
  FK_CYCLE: 'the target tables reference each other in a cycle; name an order in the config',
  PREFLIGHT_FAILED:
    'the config does not fit the schemas or the data in several places (detail.problems lists each: entity, table, column, problem, fix)',
  WHERE_INVALID:
    "an entity's where is not a usable SQL predicate (empty, a ';' or a comment, unbalanced quotes, or params that do not match its ?)",
  // control plane
  CONTROL_SCHEMA: 'the control plane schema is newer than this version of Tandem',
  LEGACY_WRITE_REFUSED:
    "a write to the legacy store outside Tandem's control tables was refused (before write cutover, or a statement Tandem never runs there)",
  LEASE_HELD:
    "another process holds the lease (an entity being backfilled); wait for it or stop it, a dead holder's lease is taken over at once (its pid gone on this host, or its heartbeat stopped), else when it expires",
  LEASE_LOST: "this process's lease was taken over by another after it expired; it stopped without writing",
  // backfill / verify
  BACKFILL_INTERRUPTED: 'the backfill stopped on request before finishing',
  VERIFY_FAILED: 'verification could not run to the end',
  // prepare
  PREPARE_CONFLICT: 'a column or trigger with the name tandem prepare uses exists but was not created by it',
  // capture (dual writes) and relay
  CAPTURE_UNKNOWN_ENTITY: 'the dual-write API was given an entity the config does not have',
  CAPTURE_KEY_INVALID: 'the dual-write API was given a key that does not match the entity key',
  PHASE_INVALID: 'the phase change is not allowed from the current phase without --force',
  // identity
  HASH_MALFORMED: 'a stored password hash is malformed',
  HASH_UNSUPPORTED: 'a stored password hash has an unknown format',
  HASH_WORK_FACTOR: 'a stored password hash asks for a work factor above the configured cap',
  IDENTITY_BUSY: 'too many password hashes are being computed; try again',
  // verify
  REPAIR_FAILED: 'tandem repair could not re-apply some keys from the primary (the other keys were repaired)',
  // routing (read path)
  ROUTING_PERCENT_INVALID: 'a shadow or canary percentage is not a number from 0 to 100 with at most two decimals',
  ROUTING_KEY_INVALID: 'a key given to the read path does not match the entity key (count or type of its values)',
  ROUTING_UNKNOWN_ENTITY: 'the read path was given an entity that is not in the config or was not resolved',
  ROUTING_GUARD_TRIPPED: 'the guard tripped and its cooldown has not passed; the canary cannot be advanced yet',
  // cutover and decommission
  ARCHIVE_DIR_NOT_EMPTY: 'the archive folder is not empty; choose an empty one, or pass --force to write into it',
  ARCHIVE_INVALID: 'the archive folder has no readable manifest (manifest.json) of tandem archive',
  GATE_FAILED: 'a gate of the phase change failed (the table names it); fix it, or pass --force (audited)',
  WRITE_FENCED: 'the write met the cutover fence and was not run (retryable: run it again, it goes to the new primary)',
  ROLLBACK_REFUSED:
    'rollback is refused from this phase (after legacy_read_only only forward fixes: reconcile new → legacy first)',
  ARCHIVE_UNVERIFIED:
    'decommission needs a verified archive of the legacy tables (tandem archive, then archive verify)',
  CUTOVER_FAILED: 'the cutover or rollback stopped before the flip; the phase is unchanged and the fence released',
  // apply: target triggers (docs/mapping.md "Target triggers")
  APPLY_TRIGGERS_UNSUPPORTED:
    "apply.userTriggers: 'replica' needs a target engine with a per-session trigger switch (PostgreSQL, PGlite); MySQL/MariaDB and SQLite have none",
  APPLY_TRIGGERS_REFUSED:
    "the target refused session_replication_role = replica (apply.userTriggers: 'replica'): connect as a superuser, or on PostgreSQL 15+ GRANT SET ON PARAMETER session_replication_role TO the user",
  // operations: HTTP API (docs/api.md) and control while running
  AUTH_REQUIRED: 'the request has no valid bearer token (Authorization: Bearer <token> from server.tokens)',
  AUTH_FORBIDDEN: "the token's role may not do this (viewer tokens read; operator tokens act)",
  REQUEST_INVALID: 'the request body or query does not match what the route takes (detail.problems names each field)',
  REQUEST_TOO_LARGE: 'the request body is larger than server.bodyLimitBytes',
  ROUTE_NOT_FOUND: 'no API route has this method and path',
  SERVER_LISTEN: 'the HTTP server could not listen on the address (taken, not local, or not host:port)',
  TUNE_INVALID: 'a backfill tune value is out of range (maxRowsPerSecond > 0 or null, chunkSeconds in (0, 60])',
  THROTTLE_CHECK_FAILED:
    'a backfill throttle check (replica lag, throttle query) could not be read; the backfill holds',
  ACTION_IN_PROGRESS:
    'another phase action (phase advance, cutover, rollback) is running in this server; wait for its answer, then retry',
  // generic
  USAGE: 'the command line is not valid',
  INTERNAL: 'an unexpected internal error',
} as const;

/** A stable error code: `TANDEM_ERR_` followed by a key of {@link ErrorCodes}. */
export type ErrorCode = keyof typeof ErrorCodes;

/**
 * The one error class Tandem throws for anything a user can fix. `code` is the full `TANDEM_ERR_*` string;
 * `detail` holds machine-readable context (never secrets).
 */
export class TandemError extends Error {
  readonly code: `TANDEM_ERR_${ErrorCode}`;
  readonly detail: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, detail: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TandemError';
    this.code = `TANDEM_ERR_${code}`;
    this.detail = detail;
  }

  /** The one line printed by the CLI: `TANDEM_ERR_X: message`. */
  toLine(): string {
    return `${this.code}: ${this.message}`;
  }
}

/** True when `e` is a TandemError, optionally with the given short code (`'CONFIG_INVALID'`). */
export function isTandemError(e: unknown, code?: ErrorCode): e is TandemError {
  return e instanceof TandemError && (code === undefined || e.code === `TANDEM_ERR_${code}`);
}

/** Replaces the password and secret query parameters of a URL with `***` (see src/core/redact.ts). */
export { redactUrl } from './redact.js';

/**
 * The one line that stands for an error on stderr and in the audit log: `TANDEM_ERR_X: message` for a
 * TandemError (its message is built value-free), `TANDEM_ERR_INTERNAL: …` with URLs, secret pairs and quoted
 * values removed for anything else ({@link redactErrorText}).
 */
export function errorLine(e: unknown): string {
  return e instanceof TandemError ? e.toLine() : `TANDEM_ERR_INTERNAL: ${redactErrorText(e)}`;
}
