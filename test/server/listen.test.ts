import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { isTandemError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/logger.js';
import type { Migration } from '../../src/runtime/migration.js';
import { parseListen, startServer } from '../../src/server/app.js';
import { httpAddress, isLoopback } from '../../src/server/run-http.js';
import { runCli } from '../helpers.js';

/**
 * Where `tandem run --http` listens: the address syntax, loopback by default, a non-loopback address refused
 * without tokens, a taken port refused with TANDEM_ERR_SERVER_LISTEN, and a server that really stops on close.
 */
const config = (listen: string, tokens: number) =>
  ({
    config: {
      server: {
        listen,
        bodyLimitBytes: 1024,
        tokens: Array.from({ length: tokens }, (_, i) => ({
          name: `t${i}`,
          token: `token-${i}-0123456789abcdef`,
          role: 'viewer',
        })),
      },
    },
  }) as unknown as Migration;

const code = (f: () => unknown) => {
  try {
    f();
    return null;
  } catch (e) {
    return isTandemError(e) ? e.code : String(e);
  }
};

describe('tandem run --http: the address', () => {
  it('parses host:port, [v6]:port and :port (loopback), and refuses anything else', () => {
    expect(parseListen('127.0.0.1:7070')).toEqual({ host: '127.0.0.1', port: 7070 });
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseListen(':8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    for (const bad of ['7070', 'localhost', '127.0.0.1:70000', 'http://127.0.0.1:7070', '127.0.0.1:', '::1:7070'])
      expect(
        code(() => parseListen(bad)),
        bad,
      ).toBe('TANDEM_ERR_SERVER_LISTEN');
  });

  it('defaults to the config, and refuses a non-loopback address when the config has no token', () => {
    expect(['localhost', '127.0.0.1', '127.9.8.7', '::1'].every(isLoopback)).toBe(true);
    expect(['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'example.com'].some(isLoopback)).toBe(false);
    expect(httpAddress(true, config('127.0.0.1:7070', 0))).toBe('127.0.0.1:7070');
    expect(httpAddress('127.0.0.1:0', config('0.0.0.0:7070', 0))).toBe('127.0.0.1:0');
    expect(code(() => httpAddress('0.0.0.0:7070', config('127.0.0.1:7070', 0)))).toBe('TANDEM_ERR_SERVER_LISTEN');
    expect(code(() => httpAddress(true, config('0.0.0.0:7070', 0)))).toBe('TANDEM_ERR_SERVER_LISTEN');
    expect(httpAddress('0.0.0.0:7070', config('127.0.0.1:7070', 1))).toBe('0.0.0.0:7070');
  });

  it('listens on a free port, refuses a taken one with TANDEM_ERR_SERVER_LISTEN, and stops on close', async () => {
    const ctx = {
      m: {} as Migration,
      supervisor: null,
      tokens: [],
      bodyLimitBytes: 1024,
      log: createLogger({ level: 'silent' }),
    };
    const s = await startServer(ctx, '127.0.0.1:0');
    expect(s.url).toBe(`http://127.0.0.1:${s.port}`);
    expect(await (await fetch(`${s.url}/healthz`)).json()).toEqual({ ok: true });
    // no token configured: every /api request is 401
    expect((await fetch(`${s.url}/api/status`, { headers: { authorization: 'Bearer x' } })).status).toBe(401);
    const taken = await startServer(ctx, `127.0.0.1:${s.port}`).then(
      () => null,
      (e) => (isTandemError(e) ? e.code : String(e)),
    );
    expect(taken).toBe('TANDEM_ERR_SERVER_LISTEN');
    await s.close();
    // the port is free again: a plain listener can take it
    const probe = createServer();
    await new Promise<void>((res, rej) => probe.once('error', rej).listen(s.port, '127.0.0.1', () => res()));
    await new Promise((res) => probe.close(res));
  });

  it('refuses a bad --http value before anything is opened (TANDEM_ERR_USAGE, exit 2)', async () => {
    const r = await runCli(['run', '--http', 'everywhere', '--config', '/nonexistent/tandem.config.ts']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^TANDEM_ERR_USAGE: --http must be host:port .*"everywhere"/m);
  });
});
