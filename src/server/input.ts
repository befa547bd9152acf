/**
 * The request shapes of the API (docs/api.md): one zod schema per action body and per paginated query, and the
 * one parser that turns a mismatch into TANDEM_ERR_REQUEST_INVALID naming each field. Objects are strict: an
 * unknown field is refused (a typo must not be silently ignored). Messages name fields and expected types, never
 * the value sent.
 */
import { z } from 'zod';
import { PHASES } from '../control/phase.js';
import { TandemError } from '../core/errors.js';

/** A percentage as the routing writers take it: a number or decimal text (checked by `parsePercent`). */
const percent = z.union([z.number(), z.string().max(16)]);

/** `POST /api/backfill/pause` and `/resume`: no field. */
export const EmptyBody = z.object({}).strict();

/** `POST /api/backfill/tune`: a field left out is unchanged, `null` removes the operator's value. */
export const TuneBody = z
  .object({
    maxRowsPerSecond: z.number().nullable().optional(),
    chunkSeconds: z.number().nullable().optional(),
  })
  .strict();

/** `POST /api/routing`: at least one of the two percentages (0…100, two decimals). */
export const RoutingBody = z
  .object({ shadowPercent: percent.optional(), canaryPercent: percent.optional() })
  .strict()
  .refine((b) => b.shadowPercent !== undefined || b.canaryPercent !== undefined, {
    message: 'give shadowPercent, canaryPercent or both',
    path: ['shadowPercent'],
  });

/** `POST /api/phase/advance`: the destination (default the next phase) and whether to move past failing gates. */
export const AdvanceBody = z.object({ to: z.enum(PHASES).optional(), force: z.boolean().optional() }).strict();

/** `POST /api/cutover`. */
export const CutoverBody = z.object({ force: z.boolean().optional() }).strict();

/** `POST /api/rollback`: `reconciled` from legacy_read_only; `verify` (default true) after the flip back. */
export const RollbackBody = z.object({ reconciled: z.boolean().optional(), verify: z.boolean().optional() }).strict();

/** Page size of the paginated routes: 1…200, default 50. */
const limit = z.coerce.number().int().min(1).max(200).default(50);

/** `GET /api/audit?limit=&before=`: entries with an id below `before` (the `next` of the previous page). */
export const AuditQuery = z
  .object({
    limit,
    before: z
      .string()
      .regex(/^[1-9]\d{0,17}$/, 'must be an audit entry id (the next of the previous page)')
      .optional(),
  })
  .strict();

/** `GET /api/mismatches?limit=&cursor=&entity=&state=&origin=`. */
export const MismatchQuery = z
  .object({
    limit,
    cursor: z.string().max(2048).optional(),
    entity: z.string().min(1).max(128).optional(),
    state: z.enum(['pending', 'confirmed', 'repaired', 'resolved']).optional(),
    origin: z.enum(['verify', 'shadow']).optional(),
  })
  .strict();

/** `GET /api/gates?to=`: the gates of `to` (default the next phase). */
export const GatesQuery = z.object({ to: z.enum(PHASES).optional() }).strict();

/** One field that did not match: its dotted path (`(body)` for the whole body) and what was expected. */
export interface InputProblem {
  field: string;
  message: string;
}

/**
 * Checks `input` against `schema` (`undefined` and `null` read as `{}`: a POST without a body). Returns the parsed
 * value. Throws TANDEM_ERR_REQUEST_INVALID whose message names every field that does not match and whose
 * `detail.problems` lists them ({@link InputProblem}); `where` says which part of the request (`body`, `query`).
 */
export function parseInput<S extends z.ZodType>(
  schema: S,
  input: unknown,
  where: 'body' | 'query' = 'body',
): z.output<S> {
  const r = schema.safeParse(input ?? {});
  if (r.success) return r.data;
  const problems: InputProblem[] = r.error.issues.map((i) => ({
    field: i.path.length ? i.path.map(String).join('.') : i.code === 'unrecognized_keys' ? keysOf(i) : `(${where})`,
    message: i.message,
  }));
  throw new TandemError(
    'REQUEST_INVALID',
    `the request ${where} is not valid: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`,
    { problems },
  );
}

/** The unknown keys of an `unrecognized_keys` issue, comma-separated. */
function keysOf(i: z.core.$ZodIssue): string {
  const keys = (i as { keys?: string[] }).keys ?? [];
  return keys.length ? keys.join(', ') : '(body)';
}

/**
 * The JSON body of a request as text → a value. An empty body is `{}`. Throws TANDEM_ERR_REQUEST_INVALID when it
 * is not JSON (the message says where it broke, never the text).
 */
export function parseJsonBody(text: string): unknown {
  if (!text.trim()) return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new TandemError('REQUEST_INVALID', 'the request body is not JSON (send a JSON object, or no body)', {
      problems: [{ field: '(body)', message: 'not JSON' }],
    });
  }
}
