/**
 * Bearer-token authentication and roles (docs/api.md "Tokens"). A request names its token in
 * `Authorization: Bearer <token>`; the token is compared with every configured one in constant time (SHA-256
 * digests compared with `crypto.timingSafeEqual`, so neither the length nor the content leaks through timing).
 * No cookie carries authority: the dashboard keeps the token in the browser's session storage and sends it in
 * the header, so a cross-site form cannot act (no CSRF).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { ServerToken } from '../config/schema.js';
import { TandemError } from '../core/errors.js';
import type { Principal, Role, ServerEnv } from './context.js';
import { sendError } from './errors.js';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * The principal whose token is `presented`, or null. Every configured token is compared (no early exit), each in
 * constant time.
 */
export function matchToken(tokens: readonly ServerToken[], presented: string): Principal | null {
  const d = digest(presented);
  let found: Principal | null = null;
  for (const t of tokens) if (timingSafeEqual(digest(t.token), d) && !found) found = { name: t.name, role: t.role };
  return found;
}

/** The token of an `Authorization: Bearer …` header, or null. */
export function bearerOf(header: string | undefined): string | null {
  const m = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(header ?? '');
  return m ? m[1]! : null;
}

/**
 * Middleware: sets `principal`, or answers 401 TANDEM_ERR_AUTH_REQUIRED (no header, a malformed one, or an
 * unknown token; the answer never says which).
 */
export function authenticate(tokens: readonly ServerToken[]): MiddlewareHandler<ServerEnv> {
  return async (c, next) => {
    const presented = bearerOf(c.req.header('authorization'));
    const p = presented === null ? null : matchToken(tokens, presented);
    if (!p) {
      c.header('WWW-Authenticate', 'Bearer realm="tandem"');
      return sendError(
        c,
        new TandemError('AUTH_REQUIRED', 'a valid bearer token is required (Authorization: Bearer <token>)'),
      );
    }
    c.set('principal', p);
    await next();
  };
}

const RANK: Record<Role, number> = { viewer: 0, operator: 1 };

/** Middleware after {@link authenticate}: answers 403 TANDEM_ERR_AUTH_FORBIDDEN unless the role is at least `role`. */
export function requireRole(role: Role): MiddlewareHandler<ServerEnv> {
  return async (c, next) => {
    const p = c.get('principal');
    if (!p || RANK[p.role] < RANK[role])
      return sendError(
        c,
        new TandemError(
          'AUTH_FORBIDDEN',
          `this needs an ${role} token; token ${p?.name ?? '?'} is a ${p?.role ?? '?'}`,
          {
            need: role,
            role: p?.role ?? null,
          },
        ),
      );
    await next();
  };
}
