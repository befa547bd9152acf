/**
 * What the HTTP server (src/server/app.ts) works on: the migration runtime of the process it runs in, the
 * supervisor of `tandem run` (null when the server runs without one, e.g. in tests of the read routes), the
 * tokens, and the body limit. One object, built once by `tandem run --http`.
 */
import type { Logger } from 'pino';
import type { ServerToken } from '../config/schema.js';
import type { Migration } from '../runtime/migration.js';
import type { Supervisor } from '../runtime/services/supervisor.js';

/** The two roles of a token: `viewer` reads; `operator` reads and acts. */
export type Role = ServerToken['role'];

/** Who a request is, once its bearer token matched: the token's name and role (never the token). */
export interface Principal {
  name: string;
  role: Role;
}

/** The server's context. */
export interface ServerContext {
  m: Migration;
  /** The running supervisor of `tandem run`, or null. */
  supervisor: Supervisor | null;
  /** The accepted tokens (default: the config's `server.tokens`). */
  tokens: readonly ServerToken[];
  /** Largest request body, bytes (default: the config's `server.bodyLimitBytes`). */
  bodyLimitBytes: number;
  log: Logger;
}

/** The hono environment of Tandem's routes: `c.get('principal')` after {@link authenticate}. */
export interface ServerEnv {
  Variables: { principal: Principal };
}

/** The audit-log actor of a request: `token:<name>`. */
export function actorOf(p: Principal): string {
  return `token:${p.name}`;
}
