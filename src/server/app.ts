/**
 * The HTTP server of `tandem run --http` (DESIGN.md: hono + @hono/node-server): the API under `/api`
 * (src/server/api.ts), the dashboard (src/server/dashboard/), `/metrics` (Prometheus text, no token) and
 * `/healthz` (no token, no data). Every other route needs a bearer token (src/server/auth.ts); bodies are
 * size-limited (`server.bodyLimitBytes`); every error is a coded JSON answer (src/server/errors.ts).
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { TandemError } from '../core/errors.js';
import { registry } from '../core/metrics.js';
import { migrationMetricsText } from '../runtime/metrics.js';
import { apiRoutes } from './api.js';
import { authenticate } from './auth.js';
import type { ServerContext, ServerEnv } from './context.js';
import { dashboardRoutes } from './dashboard/index.js';
import { sendError } from './errors.js';
import { parseListen } from './listen.js';

export { parseListen } from './listen.js';

/** The hono app of the server (no socket: `app.request(…)` in tests, {@link startServer} to listen). */
export function createApp(ctx: ServerContext): Hono<ServerEnv> {
  const app = new Hono<ServerEnv>();
  app.onError((e, c) => {
    if (!(e instanceof TandemError)) ctx.log.error({ event: 'server.error', err: String(e) }, 'server: internal error');
    return sendError(c, e);
  });
  app.notFound((c) =>
    sendError(c, new TandemError('ROUTE_NOT_FOUND', `no route ${c.req.method} ${new URL(c.req.url).pathname}`)),
  );
  app.get('/healthz', (c) => c.json({ ok: true }));
  app.get('/metrics', async (c) => {
    c.header('content-type', registry.contentType);
    return c.body(await migrationMetricsText(ctx.m));
  });
  const limit = bodyLimit({
    maxSize: ctx.bodyLimitBytes,
    onError: (c) =>
      sendError(
        c,
        new TandemError('REQUEST_TOO_LARGE', `the request body is larger than ${ctx.bodyLimitBytes} bytes`, {
          limit: ctx.bodyLimitBytes,
        }),
      ),
  });
  for (const p of ['/api/*', '/ui/*']) app.use(p, limit, authenticate(ctx.tokens));
  app.route('/api', apiRoutes(ctx));
  app.route('/', dashboardRoutes(ctx));
  return app;
}

/** A listening server. */
export interface RunningServer {
  host: string;
  port: number;
  /** `http://host:port`. */
  url: string;
  close(): Promise<void>;
}

/**
 * Listens on `listen` (`host:port`; default the config's `server.listen`) until `close()`. Throws
 * TANDEM_ERR_SERVER_LISTEN when the address cannot be listened on (taken, not local).
 */
export async function startServer(ctx: ServerContext, listen: string): Promise<RunningServer> {
  const { host, port } = parseListen(listen);
  const app = createApp(ctx);
  const server = serve({ fetch: app.fetch, hostname: host, port });
  await new Promise<void>((res, rej) => {
    server.once('listening', () => res());
    server.once('error', (e) =>
      rej(
        new TandemError('SERVER_LISTEN', `cannot listen on ${host}:${port}: ${(e as Error).message}`, {}, { cause: e }),
      ),
    );
  });
  const bound = (server.address() as { port: number }).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    host,
    port: bound,
    url: `http://${shown}:${bound}`,
    close: () =>
      new Promise<void>((res) => {
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => res());
      }),
  };
}
