/**
 * The JSON error answers of the HTTP API (docs/api.md "Errors"): every error is
 * `{ "error": { "code": "TANDEM_ERR_…", "message": "…", "detail": {…} } }` with the status below. Messages are the
 * TandemError's own (built value-free); anything else is TANDEM_ERR_INTERNAL with its text redacted.
 */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { TandemError, errorLine } from '../core/errors.js';

/** HTTP status per error code; a code not listed answers 409 when it is a refusal of the state, else 500. */
const STATUS: Partial<Record<string, ContentfulStatusCode>> = {
  TANDEM_ERR_AUTH_REQUIRED: 401,
  TANDEM_ERR_AUTH_FORBIDDEN: 403,
  TANDEM_ERR_ROUTE_NOT_FOUND: 404,
  TANDEM_ERR_REQUEST_TOO_LARGE: 413,
  TANDEM_ERR_REQUEST_INVALID: 400,
  TANDEM_ERR_TUNE_INVALID: 400,
  TANDEM_ERR_ROUTING_PERCENT_INVALID: 400,
  TANDEM_ERR_USAGE: 400,
  TANDEM_ERR_PHASE_INVALID: 409,
  TANDEM_ERR_GATE_FAILED: 409,
  TANDEM_ERR_ROLLBACK_REFUSED: 409,
  TANDEM_ERR_ROUTING_GUARD_TRIPPED: 409,
  TANDEM_ERR_LEASE_HELD: 409,
  TANDEM_ERR_CUTOVER_FAILED: 409,
  TANDEM_ERR_ACTION_IN_PROGRESS: 409,
  TANDEM_ERR_STORE_UNREACHABLE: 503,
};

/** The status a TandemError answers with (500 for anything not in the table). */
export function statusOf(e: TandemError): ContentfulStatusCode {
  return STATUS[e.code] ?? 500;
}

/** The JSON body of an error. */
export function errorBody(e: unknown): { error: { code: string; message: string; detail: Record<string, unknown> } } {
  if (e instanceof TandemError) return { error: { code: e.code, message: e.message, detail: e.detail } };
  const line = errorLine(e);
  return { error: { code: 'TANDEM_ERR_INTERNAL', message: line.replace(/^TANDEM_ERR_INTERNAL: /, ''), detail: {} } };
}

/** Answers `e` as a coded JSON error. */
export function sendError(c: Context, e: unknown): Response {
  return c.json(errorBody(e), e instanceof TandemError ? statusOf(e) : 500);
}
