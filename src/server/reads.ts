/**
 * What the API's GET routes answer (docs/api.md "Reads"), as plain functions of the server's context so the
 * dashboard renders the same figures: the status model, the gates of the next phase, and the audit log and the
 * mismatches, paginated. All read only. No answer holds a row value: mismatch keys of an entity whose key column
 * is `sensitive` read `[redacted]`, key values are never given, audit arguments and details are redacted again
 * (src/core/redact.ts) on the way out.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { controlSchemaVersion } from '../control/control.js';
import { nextPhase, type Phase, readPhase } from '../control/phase.js';
import { TandemError } from '../core/errors.js';
import { REDACTED_KEY, shownKey } from '../core/mapping.js';
import { redactDeep, redactText } from '../core/redact.js';
import { checkGates } from '../cutover/gates.js';
import type { GateResult } from '../cutover/types.js';
import { type MigrationStatus, readMigrationStatus } from '../runtime/status.js';
import type { MismatchOrigin, MismatchState } from '../verify/mismatches.js';
import type { ServerContext } from './context.js';
import { AuditQuery, GatesQuery, MismatchQuery, parseInput } from './input.js';

/** `GET /api/status`: the status model (docs/status.md), the same JSON as `tandem status --json`. */
export function statusRead(ctx: ServerContext): Promise<MigrationStatus> {
  return readMigrationStatus(ctx.m);
}

/** One gate as the API gives it: the {@link GateResult} with its verdict spelled out. */
export interface GateAnswer extends GateResult {
  verdict: 'pass' | 'fail';
}

/** `GET /api/gates`: the phase, the destination judged and its gates. */
export interface GatesAnswer {
  phase: Phase;
  /** The phase the gates are of (`?to=`, default the next phase); null at the end of the road. */
  to: Phase | null;
  /** True when every gate passes (a move there would not need `force`). */
  pass: boolean;
  gates: GateAnswer[];
}

/**
 * The gates of `query.to` (default the phase after the current one) with figure, threshold, verdict and reason
 * (src/cutover/gates.ts; the same as `tandem phase advance` prints). For `new_primary` these are the gates read
 * before any write: `tandem cutover` adds its `reverse_probe` (a probe change through the reverse path) when it
 * runs. Throws TANDEM_ERR_REQUEST_INVALID for a `to` that is not a phase.
 */
export async function gatesRead(ctx: ServerContext, query: unknown = {}): Promise<GatesAnswer> {
  const q = parseInput(GatesQuery, query, 'query');
  const phase = await readPhase(ctx.m.stores.control).catch(() => 'prepare' as Phase);
  const to = q.to ?? nextPhase(phase);
  const gates = to ? await checkGates(ctx.m, to) : [];
  return {
    phase,
    to,
    pass: gates.every((g) => g.pass),
    gates: gates.map((g) => ({ ...g, verdict: g.pass ? 'pass' : 'fail' })),
  };
}

/** One audit-log entry as the API gives it. */
export interface AuditAnswerEntry {
  /** The entry's id (increasing). */
  id: string;
  /** When, ISO-8601 UTC. */
  at: string;
  command: string;
  /** The arguments (JSON), redacted. */
  args: unknown;
  /** Who: `user@host` (CLI) or `token:<name>` (API). */
  actor: string;
  outcome: string;
  detail: string | null;
}

/** A page of the audit log, newest first; `next` is the `before` of the next (older) page, null at the end. */
export interface AuditPage {
  entries: AuditAnswerEntry[];
  next: string | null;
}

/** A timestamp column as ISO-8601 UTC (drivers give a Date, or text such as `2026-01-02 03:04:05.678+00`). */
function isoOf(v: unknown): string {
  if (v instanceof Date) return v.toISOString();
  const s = String(v);
  let t = s.replace(' ', 'T');
  if (/[+-]\d\d$/.test(t)) t += ':00';
  else if (!/(?:[zZ]|[+-]\d\d:?\d\d)$/.test(t)) t += 'Z';
  const ms = Date.parse(t);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : s;
}

function parseArgs(text: unknown): unknown {
  try {
    return redactDeep(JSON.parse(String(text)) as unknown);
  } catch {
    return {};
  }
}

/**
 * `GET /api/audit?limit=&before=`: up to `limit` (1…200, default 50) audit entries with an id below `before`,
 * newest first. An empty page when there is no control plane yet. Throws TANDEM_ERR_REQUEST_INVALID for a bad
 * query.
 */
export async function auditRead(ctx: ServerContext, query: unknown = {}): Promise<AuditPage> {
  const q = parseInput(AuditQuery, query, 'query');
  const control = ctx.m.stores.control;
  if (!(await controlSchemaVersion(control))) return { entries: [], next: null };
  const params: unknown[] = [];
  const where = q.before ? `WHERE id < ${control.sql.param(params.push(Number(q.before)))}` : '';
  const rows = await control.query<Record<string, unknown>>(
    `SELECT id, at, command, args, actor, outcome, detail FROM ${control.controlTable('audit_log')} ${where} ORDER BY id DESC LIMIT ${q.limit + 1}`,
    params,
  );
  const entries = rows.slice(0, q.limit).map((r) => ({
    id: String(r.id),
    at: isoOf(r.at),
    command: String(r.command),
    args: parseArgs(r.args),
    actor: String(r.actor),
    outcome: String(r.outcome),
    detail: r.detail == null ? null : redactText(String(r.detail)),
  }));
  return { entries, next: rows.length > q.limit ? entries[entries.length - 1]!.id : null };
}

/** One mismatch as the API gives it: no key values, no column values. */
export interface MismatchAnswer {
  entity: string;
  /** The key's canonical text, or `[redacted]` when a key column of the entity is `sensitive`. */
  key: string;
  /** `missing` (not in new), `extra` (only in new) or `different`. */
  kind: string;
  /** `table.column` of each differing column (names only). */
  columns: string[];
  state: MismatchState;
  origin: MismatchOrigin;
  firstSeenAt: string;
  lastSeenAt: string;
  /** When it entered its state. */
  stateAt: string;
  /** How many checks saw it. */
  checks: number;
}

/** A page of mismatches, most recently seen first; `next` is the `cursor` of the next page, null at the end. */
export interface MismatchPage {
  mismatches: MismatchAnswer[];
  next: string | null;
}

/**
 * Cursors are sealed (AES-256-GCM with a key of this process): the position they hold includes a key, which may
 * be sensitive, and a client cannot forge one. They are valid while the server runs.
 */
const CURSOR_KEY = randomBytes(32);

function sealCursor(pos: [number, string, string]): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', CURSOR_KEY, iv);
  const body = Buffer.concat([c.update(JSON.stringify(pos), 'utf8'), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), body]).toString('base64url');
}

function openCursor(cursor: string): [number, string, string] {
  try {
    const raw = Buffer.from(cursor, 'base64url');
    const d = createDecipheriv('aes-256-gcm', CURSOR_KEY, raw.subarray(0, 12));
    d.setAuthTag(raw.subarray(12, 28));
    const pos = JSON.parse(Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8')) as unknown;
    if (Array.isArray(pos) && typeof pos[0] === 'number' && typeof pos[1] === 'string' && typeof pos[2] === 'string')
      return pos as [number, string, string];
  } catch {
    // falls through: not a cursor of this server
  }
  throw new TandemError('REQUEST_INVALID', 'cursor is not one this server gave (or the server restarted since)', {
    problems: [{ field: 'cursor', message: 'unknown or expired cursor' }],
  });
}

/** The key as the API shows it: {@link shownKey} for a resolved entity; for another, hidden when in doubt. */
function keyShown(ctx: ServerContext, entity: string, key: string): string {
  const e = ctx.m.entities.find((x) => x.name === entity);
  if (e) return shownKey(e, key);
  const cfg = ctx.m.config.entities[entity] as { key?: string | string[]; sensitive?: string[] } | undefined;
  const sensitive = cfg?.sensitive ?? [];
  if (!sensitive.length) return cfg ? key : REDACTED_KEY;
  const keys = new Set([cfg?.key ?? []].flat());
  // a `table.column` name may be a target key column: without the resolved entity, it cannot be told apart
  return sensitive.some((n) => keys.has(n) || n.includes('.')) ? REDACTED_KEY : key;
}

/**
 * `GET /api/mismatches?limit=&cursor=&entity=&state=&origin=`: up to `limit` (1…200, default 50) mismatches,
 * most recently seen first (then by entity and key), filtered by entity, state and origin. Every state is listed
 * unless `state` says (open ones are `pending` and `confirmed`). An empty page when there is no control plane
 * (or no mismatch table) yet. Throws TANDEM_ERR_REQUEST_INVALID for a bad query or cursor.
 */
export async function mismatchesRead(ctx: ServerContext, query: unknown = {}): Promise<MismatchPage> {
  const q = parseInput(MismatchQuery, query, 'query');
  const pos = q.cursor ? openCursor(q.cursor) : null;
  const control = ctx.m.stores.control;
  const version = await controlSchemaVersion(control);
  if (version < 4) return { mismatches: [], next: null };
  const params: unknown[] = [];
  const ph = (v: unknown) => control.sql.param(params.push(v));
  // placeholders in text order (`?` dialects bind by position)
  const where: string[] = [];
  if (q.entity) where.push(`entity = ${ph(q.entity)}`);
  if (q.state) where.push(`state = ${ph(q.state)}`);
  if (q.origin) where.push(version >= 7 ? `origin = ${ph(q.origin)}` : q.origin === 'verify' ? '1 = 1' : '1 = 0');
  if (pos)
    where.push(
      `(last_seen_ms < ${ph(pos[0])} OR (last_seen_ms = ${ph(pos[0])} AND (entity > ${ph(pos[1])} OR (entity = ${ph(pos[1])} AND entity_key > ${ph(pos[2])}))))`,
    );
  const rows = await control.query<Record<string, unknown>>(
    `SELECT entity, entity_key, kind, columns_differing, state, ${version >= 7 ? 'origin' : `'verify' AS origin`}, first_seen_ms, last_seen_ms, state_ms, checks FROM ${control.controlTable('mismatches')}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY last_seen_ms DESC, entity, entity_key LIMIT ${q.limit + 1}`,
    params,
  );
  const page = rows.slice(0, q.limit);
  const iso = (v: unknown) => new Date(Number(v)).toISOString();
  const mismatches = page.map((r) => ({
    entity: String(r.entity),
    key: keyShown(ctx, String(r.entity), String(r.entity_key)),
    kind: String(r.kind),
    columns: r.columns_differing ? (JSON.parse(String(r.columns_differing)) as string[]) : [],
    state: String(r.state) as MismatchState,
    origin: (r.origin == null ? 'verify' : String(r.origin)) as MismatchOrigin,
    firstSeenAt: iso(r.first_seen_ms),
    lastSeenAt: iso(r.last_seen_ms),
    stateAt: iso(r.state_ms),
    checks: Number(r.checks),
  }));
  const last = page[page.length - 1];
  return {
    mismatches,
    next:
      rows.length > q.limit && last
        ? sealCursor([Number(last.last_seen_ms), String(last.entity), String(last.entity_key)])
        : null,
  };
}
