import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTransport, parseBrokerUrl } from '../../src/capture/transport/index.js';
import { isTandemError } from '../../src/core/errors.js';

async function codeOf(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  if (!isTandemError(e)) throw new Error(`expected a TandemError, got ${String(e)}`);
  return e.code;
}

describe('broker transports: bad input', () => {
  // A server that accepts connections and never says a word.
  let silent: net.Server;
  let silentPort = 0;
  const sockets = new Set<net.Socket>();
  beforeAll(async () => {
    silent = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    silentPort = (silent.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
  });

  it('rejects an unknown scheme with URL_SCHEME, redacting the password', async () => {
    const e = await openTransport('kafka://user:hunter2@127.0.0.1:9092', { name: 'x' }).catch((err: unknown) => err);
    expect(e).toMatchObject({ code: 'TANDEM_ERR_URL_SCHEME' });
    expect((e as Error).message).toContain('kafka://user:***@127.0.0.1:9092');
    expect((e as Error).message).not.toContain('hunter2');
    expect(() => parseBrokerUrl('postgres://h/db')).toThrow(/unknown scheme "postgres:"/);
  });

  it('rejects an unparseable URL with URL_INVALID', async () => {
    expect(await codeOf(openTransport('amqp://[oops', { name: 'x' }))).toBe('TANDEM_ERR_URL_INVALID');
    expect(await codeOf(openTransport('', { name: 'x' }))).toBe('TANDEM_ERR_URL_INVALID');
    expect(await codeOf(openTransport('localhost:5672', { name: 'x' }))).toBe('TANDEM_ERR_URL_SCHEME');
  });

  it('rejects a bad name or option with CONFIG_INVALID', async () => {
    expect(await codeOf(openTransport('redis://127.0.0.1:6379', { name: 'has space' }))).toBe(
      'TANDEM_ERR_CONFIG_INVALID',
    );
    expect(await codeOf(openTransport('nats://127.0.0.1:4222', { name: 'a.b' }))).toBe('TANDEM_ERR_CONFIG_INVALID');
    expect(await codeOf(openTransport('nats://127.0.0.1:4222', { name: 'ok', maxAttempts: 0 }))).toBe(
      'TANDEM_ERR_CONFIG_INVALID',
    );
  });

  it.each([['amqp://guest:guest@127.0.0.1:1'], ['nats://127.0.0.1:1'], ['redis://127.0.0.1:1']])(
    '%s (nothing listening) → STORE_UNREACHABLE at once',
    async (url) => {
      const t0 = Date.now();
      const e = await openTransport(url, { name: 'unreach' }).catch((err: unknown) => err);
      expect(e).toMatchObject({ code: 'TANDEM_ERR_STORE_UNREACHABLE' });
      expect((e as Error).message).toMatch(/could not be reached/);
      expect(Date.now() - t0).toBeLessThan(2000);
    },
  );

  it.each([['amqp://guest:pw@127.0.0.1:PORT'], ['nats://127.0.0.1:PORT'], ['redis://:pw@127.0.0.1:PORT']])(
    '%s (accepts, never answers) → STORE_UNREACHABLE after connectTimeoutMs',
    async (tpl) => {
      const url = tpl.replace('PORT', String(silentPort));
      const t0 = Date.now();
      const e = await openTransport(url, { name: 'silent', connectTimeoutMs: 500 }).catch((err: unknown) => err);
      const ms = Date.now() - t0;
      expect(e).toMatchObject({ code: 'TANDEM_ERR_STORE_UNREACHABLE' });
      expect((e as Error).message).not.toContain(':pw@');
      expect(ms).toBeGreaterThanOrEqual(400);
      expect(ms).toBeLessThan(2500);
    },
  );
});
