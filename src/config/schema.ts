import { z } from 'zod';
import type { Row } from '../stores/types.js';

/**
 * The config file's shape (`tandem.config.ts`, default export of `defineConfig({...})`), validated with zod.
 *
 * ```ts
 * import { defineConfig, snakeCase } from 'tandem';
 * export default defineConfig({
 *   source: 'mysql://root@127.0.0.1/legacy',
 *   target: 'postgres://127.0.0.1/app',
 *   entities: {
 *     users: {
 *       table: 'users', key: 'id', version: 'version', sensitive: ['password_hash'],
 *       targets: [
 *         { table: 'users', columns: { id: 'id', email: 'email', password_hash: 'pass', plan: { value: 'free' } } },
 *         { table: 'user_profiles', columns: { user_id: 'id', display_name: { from: 'name' },
 *                                              bio: { transform: (row) => row.bio ?? null } } },
 *       ],
 *     },
 *   },
 * });
 * ```
 */

/** Casts a declarative mapping can apply (pushed down to SQL by later verify tiers). */
export const CASTS = [
  'text',
  'integer',
  'decimal',
  'float',
  'boolean',
  'timestamp',
  'date',
  'json',
  'lower',
  'upper',
  'trim',
  // issue 13 (types-b): spatial values and MySQL zero dates (docs/mapping.md)
  'wkt',
  'ewkt',
  'wkb',
  'ewkb',
  'zero-date-null',
  'array',
] as const;
export type Cast = (typeof CASTS)[number];

/**
 * What a column transform or a target row transform returns to leave the whole source row out of every target
 * of its entity (`SKIP`, exported from 'tandem'): apply deletes the key's target rows if present, verify counts
 * it as skipped. One marker, shared across module copies (`Symbol.for`).
 */
export const SKIP: unique symbol = Symbol.for('tandem.skip');
export type SkipMarker = typeof SKIP;

/**
 * An entity's `where`: an SQL predicate on the source table that leaves rows out of the migration, either plain
 * text (`"deleted_at IS NULL"`) or `{ sql, params }` with `?` placeholders (`{ sql: 'status <> ?', params:
 * ['banned'] }`). Checked by `compileWhere` (src/core/mapping.ts): TANDEM_ERR_WHERE_INVALID.
 */
export const whereSchema = z.union([
  z.string(),
  z
    .object({
      sql: z.string(),
      params: z.array(z.union([z.string(), z.number(), z.boolean(), z.null(), z.bigint(), z.date()])).optional(),
    })
    .strict(),
]);
export type WhereConfig = z.infer<typeof whereSchema>;

/** A TypeScript transform: the whole source row in, the target value out. */
export type ColumnTransform = (row: Row) => unknown;

const fn = <T>(what: string) =>
  z.custom<T>((v) => typeof v === 'function', { message: `expected a function (${what})` });

const identifier = z
  .string()
  .min(1, 'must not be empty')
  .max(128, 'at most 128 characters')
  .refine((s) => !s.includes('\u0000'), 'must not contain NUL');

/**
 * How one target column gets its value:
 * - `'SourceColumn'` — copy (rename) a source column;
 * - `{ from: 'SourceColumn', cast?: 'integer' | … }` — copy with a cast; `{ from, cast: 'array', separator? }`
 *   reads a SET or delimited string (default separator `,`) as an array (a JSON array on engines without arrays);
 * - `{ value: constant }` — a constant (string, number, boolean or null);
 * - `{ transform: (row) => value }` — anything else, in TypeScript.
 */
export const columnSpecSchema = z.union([
  identifier,
  z
    .object({
      from: identifier,
      cast: z.enum(CASTS).optional(),
      /** For `cast: 'array'`: the string between elements of a delimited source string (default `,`, a SET's). */
      separator: z.string().min(1, 'must not be empty').max(16, 'at most 16 characters').optional(),
    })
    .strict()
    .refine((s) => s.separator === undefined || s.cast === 'array', {
      message: "separator is only allowed with cast: 'array'",
      path: ['separator'],
    }),
  z.object({ value: z.union([z.string(), z.number(), z.boolean(), z.null()]) }).strict(),
  z.object({ transform: fn<ColumnTransform>('column transform (row) => value') }).strict(),
]);
export type ColumnSpec = z.infer<typeof columnSpecSchema>;

/** One target table of an entity: its name and `{ targetColumn: spec }`. */
export const targetSchema = z
  .object({
    table: identifier,
    columns: z
      .record(identifier, columnSpecSchema)
      .refine((r) => Object.keys(r).length > 0, 'must map at least one column'),
    /** Optional final touch on the mapped row: `(sourceRow, mappedRow) => mappedRow`. */
    transform: fn<(source: Row, mapped: Row) => Row | SkipMarker>(
      'row transform (source, mapped) => mapped (or SKIP)',
    ).optional(),
  })
  .strict();
export type TargetConfig = z.infer<typeof targetSchema>;

/** A lookup mode of an identifier column (see `src/identity/normalize.ts`). */
const lookupModeSchema = z.enum(['auto', 'exact', 'collation', 'lower']);

/**
 * The identity bridge's view of an entity (optional; only the entity that holds user credentials has one):
 *
 * ```ts
 * identity: {
 *   identifier: 'email',            // source column the user logs in with
 *   password: 'password_hash',      // source column holding the legacy hash
 *   // optional:
 *   targetIdentifier: 'users.email_address', // default: the target column the mapping copies `identifier` to
 *   targetPassword: 'users.password_hash',   // default: the target column the mapping copies `password` to
 *   lookup: { source: 'auto', target: 'lower' }, // how each side's identifier column is searched
 *   rawHex: { algorithm: 'md5' },   // the source stores bare digests (their shape alone is ambiguous)
 *   firebase: { signerKey, saltSeparator, rounds, memCost }, // Firebase scrypt project parameters
 * }
 * ```
 * See docs/identity.md.
 */
export const identitySchema = z
  .object({
    /** Source column holding the login identifier (e-mail, user name). */
    identifier,
    /** Source column holding the legacy password hash. */
    password: identifier,
    /** Target column of the identifier, `column` or `table.column`; default: where the mapping copies `identifier`. */
    targetIdentifier: z.string().min(1).optional(),
    /** Target column of the password hash, `column` or `table.column`; default: where the mapping copies `password`. */
    targetPassword: z.string().min(1).optional(),
    /** How the identifier columns are searched: `auto` (default), `exact`, `collation` or `lower`, per side. */
    lookup: z.object({ source: lookupModeSchema.optional(), target: lookupModeSchema.optional() }).strict().optional(),
    /** Layout of bare hex/base64 digests in the source (src/identity/types.ts `RawHexConfig`). */
    rawHex: z
      .object({
        algorithm: z.enum(['md5', 'sha1', 'sha256', 'sha512']),
        salt: z
          .object({
            position: z.enum(['prefix', 'suffix']),
            value: z.string().optional(),
            separator: z.string().min(1).optional(),
            order: z.enum(['digest-first', 'salt-first']).optional(),
          })
          .strict()
          .optional(),
        encoding: z.enum(['hex', 'base64']).optional(),
      })
      .strict()
      .optional(),
    /** Firebase scrypt project parameters (src/identity/types.ts `FirebaseScryptParams`). */
    firebase: z
      .object({
        signerKey: z.string().min(1),
        saltSeparator: z.string(),
        rounds: z.number().int(),
        memCost: z.number().int(),
      })
      .strict()
      .optional(),
    /** WordPress password trimming for `$wp$` / `$P$` hashes (default true). */
    wordpressTrim: z.boolean().optional(),
  })
  .strict();
export type IdentityConfig = z.infer<typeof identitySchema>;

export const entitySchema = z
  .object({
    /** Source table. */
    table: identifier,
    /** Key column(s) of the source table: unique, not null. */
    key: z.union([identifier, z.array(identifier).min(1, 'needs at least one column')]),
    /** A source column that grows on every change (integer counter or timestamp). Without one, last writer wins. */
    version: identifier.optional(),
    /** Target column names whose values verify redacts in its report. */
    sensitive: z.array(identifier).optional(),
    /**
     * Leaves source rows out (forward direction only): an SQL predicate on the source table, plain or
     * `{ sql, params }` with `?` placeholders. Rows that do not match are never read by backfill and verify, and
     * the relay applies them as absent (deleted from the target, tombstone in the ledger). See docs/mapping.md.
     */
    where: whereSchema.optional(),
    /** Target table(s) the entity's rows go to, parents first when they reference each other. */
    targets: z.array(targetSchema).min(1, 'needs at least one target table'),
    /**
     * After write cutover (`new_primary`) the reverse relay writes the new rows back to the legacy table. Legacy
     * columns copied by rename (or cast) are reversed by themselves; `reverse.columns` computes the others from
     * the new rows of the key, given as `{ targetTable: row }`.
     */
    reverse: z
      .object({
        columns: z.record(
          identifier,
          fn<(rows: Record<string, Row>) => unknown>('reverse column (rows by target table) => value'),
        ),
      })
      .strict()
      .optional(),
    /** Identity bridge settings: login identifier and password columns, hash-format options (docs/identity.md). */
    identity: identitySchema.optional(),
  })
  .strict();
export type EntityConfig = z.infer<typeof entitySchema>;

/**
 * `bucketBy` of one entity: what its keys are bucketed by instead of the whole key — one key column or several
 * (a subset of the entity's key, in the order given: `'org_id'`), or a function of the key's canonical values
 * (`(key) => tenantOf(key)`, strings in the key's canonical text, see docs/routing.md) returning the value(s) to
 * bucket by (strings, or integers written in decimal). Keys with the same bucketing value share a bucket, so a
 * tenant moves as one.
 */
export const bucketBySchema = z.union([
  identifier,
  z.array(identifier).min(1, 'needs at least one column'),
  fn<(key: string[]) => string | number | bigint | (string | number | bigint)[]>('bucketBy (key) => value'),
]);
export type BucketBy = z.infer<typeof bucketBySchema>;

/** The routing defaults (docs/routing.md). */
export const ROUTING_DEFAULTS = {
  salt: 'tandem',
  refreshMs: 1000,
  failSafeSeconds: 30,
  budgetMs: 100,
  shadowDeadlineMs: 1000,
  maxConcurrentShadow: 64,
} as const;

/**
 * The read path (docs/routing.md): how keys are bucketed, how often every instance re-reads the routing state,
 * when it gives up on the control plane, and the bounds of canary and shadow reads.
 */
export const routingSchema = z
  .object({
    /**
     * Mixed into every bucket: `bucket = floor(murmur3_x86_32(salt + ":" + key) × 10000 / 2³²)`. Changing it moves
     * every key.
     */
    salt: z.string().max(200).default(ROUTING_DEFAULTS.salt),
    /** Per entity, what to bucket by instead of the whole key (key column(s) or a function of the key). */
    bucketBy: z.record(identifier, bucketBySchema).optional(),
    /** How often an instance re-reads the routing state (and phase) from the control plane, ms. Default 1000. */
    refreshMs: z.number().int().min(50).max(60_000).default(ROUTING_DEFAULTS.refreshMs),
    /** An instance that cannot read the control plane for longer than this serves legacy only. Default 30. */
    failSafeSeconds: z.number().positive().max(3600).default(ROUTING_DEFAULTS.failSafeSeconds),
    /**
     * Default budget of a read served by new before it falls back to legacy, ms (`reads(…, { budgetMs })`). Default
     * 100.
     */
    budgetMs: z.number().positive().max(60_000).default(ROUTING_DEFAULTS.budgetMs),
    /** A detached shadow read of new not done by then is dropped (not compared), ms. Default 1000. */
    shadowDeadlineMs: z.number().positive().max(600_000).default(ROUTING_DEFAULTS.shadowDeadlineMs),
    /**
     * Most shadow reads in flight per instance; over it a shadow read is dropped and counted, never queued. Default 64.
     */
    maxConcurrentShadow: z.number().int().positive().max(100_000).default(ROUTING_DEFAULTS.maxConcurrentShadow),
  })
  .strict();
export type RoutingConfig = z.output<typeof routingSchema>;

/** The guard's defaults (docs/guard.md). */
export const GUARD_DEFAULTS = {
  windowSeconds: 60,
  minSamples: 100,
  maxErrorRate: 0.01,
  maxP99Ms: 500,
  maxMismatchRate: 0.001,
  cooldownSeconds: 300,
  intervalSeconds: 2,
  publishSeconds: 2,
} as const;

/**
 * The guard (docs/guard.md, src/routing/guard.ts): it judges the new store's reads over the fleet's sliding window
 * and sets the canary to 0 on a breach. Rates are fractions (0.01 = 1 %).
 */
export const guardSchema = z
  .object({
    /** Seconds of the sliding window the guard judges (every instance's published windows in it). Default 60. */
    windowSeconds: z.number().int().min(5).max(3600).default(GUARD_DEFAULTS.windowSeconds),
    /**
     * Fewest reads of `new` in the window for a verdict; fewer is `insufficient`, never a pass or a failure. Default
     * 100.
     */
    minSamples: z.number().int().min(1).max(1_000_000_000).default(GUARD_DEFAULTS.minSamples),
    /** Trips when (errors + timeouts + fallbacks) / reads of `new` exceeds it. Default 0.01 (1 %). */
    maxErrorRate: z.number().min(0).max(1).default(GUARD_DEFAULTS.maxErrorRate),
    /** Trips when the p99 latency of `new` exceeds it, ms. Default 500. */
    maxP99Ms: z.number().positive().max(3_600_000).default(GUARD_DEFAULTS.maxP99Ms),
    /**
     * Trips when the lower bound of the 95 % Wilson score interval with continuity correction of the mismatch
     * rate (mismatched / (matched + mismatched)) exceeds it — not the raw ratio. Default 0.001 (0.1 %).
     */
    maxMismatchRate: z.number().min(0).max(1).default(GUARD_DEFAULTS.maxMismatchRate),
    /**
     * Seconds after a trip before `tandem canary N` may advance the canary again; at least `windowSeconds`, so the
     * next verdict is reached on windows published after the trip. Default 300.
     */
    cooldownSeconds: z
      .number()
      .int()
      .min(0)
      .max(86_400 * 7)
      .default(GUARD_DEFAULTS.cooldownSeconds),
    /** Seconds between two evaluations by `tandem run`. Default 2. */
    intervalSeconds: z.number().positive().max(300).default(GUARD_DEFAULTS.intervalSeconds),
    /** Seconds between two publications of an instance's windows. Default 2. */
    publishSeconds: z.number().positive().max(300).default(GUARD_DEFAULTS.publishSeconds),
  })
  .strict()
  .refine((g) => g.cooldownSeconds >= g.windowSeconds, {
    message: 'cooldownSeconds must be at least windowSeconds (a re-advanced canary is judged on fresh windows only)',
    path: ['cooldownSeconds'],
  });
export type GuardConfig = z.output<typeof guardSchema>;

/** The gates' defaults (docs/cutover.md "Gates"). */
export const GATE_DEFAULTS = {
  backfillPercent: 100,
  maxLagSeconds: 5,
  maxDeadLetters: 0,
  minParityPercent: 99.99,
  verifyMaxAgeHours: 24,
  maxMismatchRate: 0.001,
  minSamples: 1000,
  rehearsalMaxAgeDays: 7,
} as const;

/**
 * The gates of the phase changes (`tandem phase advance`, `tandem cutover`; docs/cutover.md): each names the
 * figure it reads and the threshold it must meet.
 */
export const gatesSchema = z
  .object({
    /** Share of every entity's rows the backfill must have copied, percent. Default 100. */
    backfillPercent: z.number().min(0).max(100).default(GATE_DEFAULTS.backfillPercent),
    /** Age of the oldest change waiting in the outbox must be under it, seconds. Default 5. */
    maxLagSeconds: z.number().positive().max(86_400).default(GATE_DEFAULTS.maxLagSeconds),
    /** Most dead letters allowed. Default 0. */
    maxDeadLetters: z.number().int().min(0).default(GATE_DEFAULTS.maxDeadLetters),
    /** Parity of the last full or checksum verification, percent (a sample is not proof). Default 99.99. */
    minParityPercent: z.number().min(0).max(100).default(GATE_DEFAULTS.minParityPercent),
    /** That verification must be newer than this, hours. Default 24. */
    verifyMaxAgeHours: z
      .number()
      .positive()
      .max(24 * 365)
      .default(GATE_DEFAULTS.verifyMaxAgeHours),
    /** Shadow mismatch rate (mismatched / compared) must be under it, a fraction. Default 0.001 (0.1 %). */
    maxMismatchRate: z.number().min(0).max(1).default(GATE_DEFAULTS.maxMismatchRate),
    /** Fewest shadow comparisons for the mismatch gate to pass. Default 1000. */
    minSamples: z.number().int().min(1).default(GATE_DEFAULTS.minSamples),
    /** Before write cutover: a passing rehearsal newer than this, days. Default 7. */
    rehearsalMaxAgeDays: z.number().positive().max(365).default(GATE_DEFAULTS.rehearsalMaxAgeDays),
    /**
     * Before write cutover: seconds the canary must have stayed at 100 % with the guard green (the dwell of the
     * last canary step). Default: `guard.windowSeconds`.
     */
    dwellSeconds: z
      .number()
      .int()
      .positive()
      .max(86_400 * 7)
      .optional(),
  })
  .strict();
export type GatesConfig = z.output<typeof gatesSchema>;

/**
 * The service-level objectives `tandem plan` checks the predicted cutover against (docs/cutover.md "Plan").
 * Unset fields are not checked.
 */
export const sloSchema = z
  .object({
    /** Availability to keep during the migration, percent (99.9). */
    availability: z.number().min(0).max(100).optional(),
    /** Most data that may be lost on a failure, seconds of writes (0 with the transactional outbox). */
    rpoSeconds: z.number().min(0).optional(),
    /** Longest a rollback may take, seconds. */
    rtoSeconds: z.number().positive().optional(),
    /** Longest write pause of a cutover or rollback, ms. */
    maxWritePauseMs: z.number().positive().optional(),
  })
  .strict();
export type SloConfig = z.output<typeof sloSchema>;

/** The write cutover and rollback (docs/cutover.md). */
export const cutoverSchema = z
  .object({
    /**
     * How long a write that meets the fence is held before it runs on the new primary (or fails with the
     * retryable TANDEM_ERR_WRITE_FENCED when the application asks for that), ms. Default 2000.
     */
    fenceMs: z.number().int().positive().max(600_000).default(2000),
    /** How long the drain of the outbox under the fence may take before the cutover gives up, seconds. Default 60. */
    drainTimeoutSeconds: z.number().positive().max(86_400).default(60),
  })
  .strict();
export type CutoverConfig = z.output<typeof cutoverSchema>;

/**
 * How Tandem's apply writes to the new (target) store (backfill, relay, repair; docs/mapping.md "Target triggers").
 * `userTriggers`: `fire` (default) leaves the target's triggers on; `replica` runs every apply transaction on the
 * new store with `SET LOCAL session_replication_role = replica` (PostgreSQL/PGlite only: user triggers and the
 * triggers that check foreign keys do not fire; needs a superuser, or PostgreSQL 15+ `GRANT SET ON PARAMETER
 * session_replication_role`). Refused at start on other engines (TANDEM_ERR_APPLY_TRIGGERS_UNSUPPORTED) and when
 * the server refuses the setting (TANDEM_ERR_APPLY_TRIGGERS_REFUSED).
 */
export const applySchema = z
  .object({
    userTriggers: z.enum(['fire', 'replica']).default('fire'),
  })
  .strict();
export type ApplyConfig = z.output<typeof applySchema>;

/** One API token (docs/api.md "Tokens"): `viewer` reads, `operator` reads and acts. */
export const serverTokenSchema = z
  .object({
    /** Who the token stands for; written to the audit log with every action it asks for. */
    name: z.string().regex(/^[A-Za-z0-9_.@-]{1,64}$/, 'letters, digits and _ . @ - only, 1 to 64 characters'),
    /** The bearer token itself, usually `process.env.…`; at least 16 characters. Never logged. */
    token: z.string().min(16, 'must be at least 16 characters (use a random secret)'),
    role: z.enum(['viewer', 'operator']),
  })
  .strict();
export type ServerToken = z.output<typeof serverTokenSchema>;

/**
 * The HTTP API, dashboard and `/metrics` of `tandem run --http` (docs/api.md). Every route but `/metrics` and
 * `/healthz` needs one of `tokens` as a bearer token.
 */
export const serverSchema = z
  .object({
    /** `host:port` to listen on when `--http` gives none. Default `127.0.0.1:7070` (loopback). */
    listen: z.string().min(1).default('127.0.0.1:7070'),
    /** The tokens; names must be unique, and so must tokens. */
    tokens: z.array(serverTokenSchema).default([]),
    /** Largest request body accepted, bytes. Default 16384. */
    bodyLimitBytes: z.number().int().positive().max(1_048_576).default(16_384),
  })
  .strict()
  .superRefine((s, ctx) => {
    const names = new Set<string>();
    const secrets = new Set<string>();
    s.tokens.forEach((t, i) => {
      if (names.has(t.name))
        ctx.addIssue({ code: 'custom', path: ['tokens', i, 'name'], message: `duplicate token name ${t.name}` });
      if (secrets.has(t.token))
        ctx.addIssue({ code: 'custom', path: ['tokens', i, 'token'], message: 'the same token is given twice' });
      names.add(t.name);
      secrets.add(t.token);
    });
  });
export type ServerConfig = z.output<typeof serverSchema>;

/**
 * The backfill's throttle on the source's load, as gh-ost does (docs/backfill.md "Throttling"): checked before
 * every chunk (at most every `checkSeconds`); any one over its limit holds the backfill, and the reason is shown
 * in the progress line, `tandem status` and the dashboard.
 */
export const backfillThrottleSchema = z
  .object({
    /**
     * A replica of the source to watch: a `mysql://`/`mariadb://` URL (its `Seconds_Behind_Master` /
     * `Seconds_Behind_Source`) or a `postgres://` URL of the primary with `replicaName` (its
     * `pg_stat_replication.replay_lag` for that `application_name`).
     */
    replicaUrl: z.string().min(1).optional(),
    /** PostgreSQL: the replica's `application_name` in `pg_stat_replication`. */
    replicaName: z.string().min(1).optional(),
    /** Hold the backfill while the replica lags more than this, seconds. Default 5. */
    maxReplicaLagSeconds: z.number().positive().default(5),
    /** A query run on the source that returns one number; the backfill holds while it is above `max`. */
    query: z
      .object({ sql: z.string().min(1), max: z.number() })
      .strict()
      .optional(),
    /** Hold the backfill while this file exists (gh-ost's `--throttle-flag-file`). */
    flagFile: z.string().min(1).optional(),
    /** How often the checks run at most, seconds. Default 1. */
    checkSeconds: z.number().positive().max(60).default(1),
  })
  .strict();
export type BackfillThrottleConfig = z.output<typeof backfillThrottleSchema>;

export const configSchema = z
  .object({
    source: z.string().min(1, 'must be a store URL'),
    target: z.string().min(1, 'must be a store URL'),
    /** Where the audit log lives; default: the target. Ledger and checkpoints always live in the target. */
    control: z.string().min(1).optional(),
    entities: z
      .record(identifier, entitySchema)
      .refine((r) => Object.keys(r).length > 0, 'must name at least one entity'),
    /**
     * A broker between the primary and the relay, optional: `url` is `amqp://…` (RabbitMQ), `nats://…` (NATS
     * JetStream) or `redis://…` (Redis Streams); `name` the queue/stream (default `tandem_changes`).
     */
    transport: z
      .object({
        url: z.string().min(1, 'must be a broker URL'),
        name: z
          .string()
          .regex(/^[A-Za-z0-9_-]{1,100}$/, 'letters, digits, _ and - only')
          .default('tandem_changes'),
      })
      .strict()
      .optional(),
    /** Fill order of entities; default: parents first from the target's foreign keys. */
    order: z.array(identifier).optional(),
    backfill: z
      .object({
        /** Seconds one chunk should take; the chunk size adapts to it. Default 0.5. */
        chunkSeconds: z.number().positive().max(60).default(0.5),
        /** Rows in the first chunk. Default 1000. */
        initialChunkRows: z.number().int().positive().max(1_000_000).default(1000),
        /**
         * Largest chunk. Default 5,000 (bounds memory: two chunks are in flight at once; larger chunks were not
         * faster).
         */
        maxChunkRows: z.number().int().positive().max(1_000_000).default(5_000),
        /** Throttle: rows per second, across the backfill. Default none. */
        maxRowsPerSecond: z.number().positive().optional(),
        /**
         * Seconds an entity's backfill lease lives without renewal (renewed on every chunk and every third of it).
         * A second backfill of the entity is refused while it lives; a dead holder's lease (its pid gone on this
         * host, or its heartbeat stopped) is taken over at once, any other after it expires.
         * Default 30.
         */
        leaseSeconds: z.number().positive().max(3600).default(30),
        /** Throttle on the source's load: replica lag, a throttle query, a flag file. Default none. */
        throttle: backfillThrottleSchema.optional(),
        /**
         * Key ranges an entity's backfill is split into, each a lease parallel workers take (docs/backfill.md
         * "Parallel workers"): a number (1–1024), or `auto` — one range up to 100,000 rows (small tables are not
         * split), else one per 100,000 rows, at least the planning process's workers, at most 64. Read when an
         * entity is planned (its first backfill, or `--restart`). Default `auto`.
         */
        ranges: z.union([z.literal('auto'), z.number().int().min(1).max(1024)]).optional(),
        /** Range workers of one backfill process (`tandem backfill`, `tandem run`); `--workers` overrides. Default 1. */
        workers: z.number().int().min(1).max(64).optional(),
      })
      .strict()
      .default({ chunkSeconds: 0.5, initialChunkRows: 1000, maxChunkRows: 5_000, leaseSeconds: 30 }),
    /**
     * Seconds between two heartbeats of a long-running command (backfill, relay, verify, repair, identity wrap);
     * `tandem status` calls a process dead after three missed beats. Default 5.
     */
    heartbeatSeconds: z.number().positive().max(300).default(5),
    /** The read path: bucketing, refresh, failsafe, canary budget, shadow bounds (docs/routing.md). */
    routing: routingSchema.default({ ...ROUTING_DEFAULTS }),
    verify: z
      .object({
        /** How many differing keys the report lists. Default 20. */
        maxReportedDifferences: z.number().int().nonnegative().default(20),
        /** Rows per keyset page when streaming. Default 5000. */
        pageRows: z.number().int().positive().max(100_000).default(5000),
        /**
         * Continuous verification (`tandem run`, `tandem verify --continuous`): seconds between the starts of two
         * checksum passes; 0 turns it off in `tandem run`. Unset: 300 in `tandem run`, 60 in
         * `tandem verify --continuous`. The commands' `--verify-interval` / `--interval` override it.
         */
        intervalSeconds: z.number().nonnegative().max(604_800).optional(),
        /**
         * Continuous verification: seconds a difference must last before it is confirmed (a change still on its
         * way through the relay is not a mismatch). Default 30. `--verify-lag-seconds` / `--lag-seconds` override
         * it; a one-shot `tandem verify` confirms at once unless given `--lag-seconds`.
         */
        lagSeconds: z.number().nonnegative().max(86_400).default(30),
        /**
         * Segments the checksum tier checksums at once, each with one query on both stores (`tandem verify`,
         * continuous verification); bounded by the stores' connection pools, 1 on SQLite and PGlite (one
         * connection) and under `--max-rows-per-second`. `tandem verify --concurrency` overrides it. Default 4.
         */
        concurrency: z.number().int().positive().max(64).default(4),
      })
      .strict()
      .default({ maxReportedDifferences: 20, pageRows: 5000, lagSeconds: 30, concurrency: 4 }),
    guard: guardSchema.default(GUARD_DEFAULTS),
    /** The gates of phase changes (docs/cutover.md). */
    gates: gatesSchema.default({ ...GATE_DEFAULTS }),
    /** Service-level objectives `tandem plan` checks (docs/cutover.md). */
    slo: sloSchema.default({}),
    /** Write cutover and rollback (docs/cutover.md). */
    cutover: cutoverSchema.default({ fenceMs: 2000, drainTimeoutSeconds: 60 }),
    /** How Tandem writes rows to the new store (docs/mapping.md "Target triggers"). */
    apply: applySchema.default({ userTriggers: 'fire' }),
    /** The HTTP API, dashboard and `/metrics` of `tandem run --http` (docs/api.md). */
    server: serverSchema.default({ listen: '127.0.0.1:7070', tokens: [], bodyLimitBytes: 16_384 }),
  })
  .strict()
  .superRefine((c, ctx) => {
    // routing.bucketBy names entities: a typo must not silently bucket by the whole key
    for (const name of Object.keys(c.routing?.bucketBy ?? {}))
      if (!Object.hasOwn(c.entities, name))
        ctx.addIssue({
          code: 'custom',
          path: ['routing', 'bucketBy', name],
          message: `no entity named ${name} (entities: ${Object.keys(c.entities).join(', ')})`,
        });
  });

/** The config as written by the user (before defaults). */
export type TandemConfigInput = z.input<typeof configSchema>;
/** The config after validation and defaults. */
export type TandemConfig = z.output<typeof configSchema>;

/**
 * Identity function that gives a config file type checking and editor completion. Validation happens when
 * Tandem loads the file (`loadConfig`), so a config built without this helper is accepted too.
 */
export function defineConfig(config: TandemConfigInput): TandemConfigInput {
  return config;
}

/**
 * Reads a required environment variable in a config file: `source: env('SOURCE_URL')`. `tandem init` writes
 * this for a URL that holds a password, so the password never lands in the file. Throws a plain Error naming
 * the variable when it is unset or empty (the config loader reports it as `TANDEM_ERR_CONFIG_INVALID`).
 */
export function env(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === '')
    throw new Error(
      `environment variable ${name} is not set (it holds a store URL with its password; set it before running tandem)`,
    );
  return v;
}
