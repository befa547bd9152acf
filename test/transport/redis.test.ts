import { createClient } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import { openTransport } from '../../src/capture/transport/types.js';
import type { Transport } from '../../src/capture/transport/types.js';
import { FAST, transportContract } from './contract.js';
import { startPrivateRedis } from '../servers.js';
import { URLS, makeChanges, record, uniqueName, waitFor } from './helpers.js';

const newClient = () => createClient({ url: URLS.redis });

async function withRedis<T>(f: (c: ReturnType<typeof newClient>) => Promise<T>): Promise<T> {
  const c = newClient();
  c.on('error', () => undefined);
  await c.connect();
  try {
    return await f(c);
  } finally {
    await c.close();
  }
}

async function cleanup(name: string): Promise<void> {
  await withRedis(async (c) => {
    await c.del([name, `${name}:dlq`]);
  });
}

describe('Redis Streams transport (contract)', () => {
  transportContract({
    kind: 'redis',
    url: URLS.redis,
    rawPublish: (name, body) =>
      withRedis(async (c) => {
        await c.sendCommand(['XADD', name, '*', 'change', body]);
      }),
    cleanup,
  });
});

describe('Redis Streams transport (broker specifics)', () => {
  const names: string[] = [];
  afterAll(async () => {
    for (const n of names) await cleanup(n).catch(() => undefined);
  });

  it('refuses wrong credentials with STORE_AUTH, never echoing the password', async () => {
    const err = await openTransport('redis://someone:s3cr3t-wrong@127.0.0.1:6379', {
      name: uniqueName('rdsauth'),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TANDEM_ERR_STORE_AUTH' });
    expect((err as Error).message).toContain('someone:***@127.0.0.1:6379');
    expect(JSON.stringify({ m: (err as Error).message, d: (err as { detail: unknown }).detail })).not.toContain(
      's3cr3t',
    );
  });

  it('XAUTOCLAIMs entries a dead consumer read but never acked', async () => {
    const name = uniqueName('rdsclaim');
    names.push(name);
    const t = await openTransport(URLS.redis, { name, ...FAST });
    try {
      await t.publish(makeChanges(4, 'ghost'));
      // A consumer of the group reads them and "dies": no XACK, ever.
      const read = await withRedis((c) =>
        c.sendCommand(['XREADGROUP', 'GROUP', `${name}-relay`, 'ghost', 'COUNT', '10', 'STREAMS', name, '>']),
      );
      // reply (RESP3): { [stream]: [[entry id, [field, value, …]], …] }; field `id` is the change id, `change` its JSON
      const entries = (read as unknown as Record<string, [string, string[]][]>)[name]!;
      const field = (fields: string[], f: string) => fields[fields.indexOf(f) + 1]!;
      expect(entries.map(([, fields]) => field(fields, 'id'))).toEqual(['ghost-0', 'ghost-1', 'ghost-2', 'ghost-3']);
      expect(entries.map(([, fields]) => JSON.parse(field(fields, 'change')).id)).toEqual([
        'ghost-0',
        'ghost-1',
        'ghost-2',
        'ghost-3',
      ]);
      const started = Date.now();
      const r = record(t);
      await waitFor(() => r.ids().size === 4, 10_000, 'the 4 stuck entries');
      const tookMs = Date.now() - started;
      expect(tookMs).toBeGreaterThanOrEqual(900); // not before stuckAfterMs (1000)
      await waitFor(async () => (await t.pending()) === 0, 5_000, 'pending() = 0');
      await r.stop();
      expect(r.deliveries.every((d) => d.attempt === 2)).toBe(true);
      const pel = await withRedis((c) => c.sendCommand(['XPENDING', name, `${name}-relay`]));
      expect((pel as unknown as unknown[])[0]).toBe(0);
      console.log(`[redis] stuck entries reclaimed after ${tookMs} ms (stuckAfterMs 1000)`);
    } finally {
      await t.close();
    }
  });

  it('survives a Redis restart: publish fails clearly while it is down, then client and consumer group come back', async () => {
    // A redis-server of this test's own: the shared one on 6379 is never stopped.
    const server = await startPrivateRedis();
    const name = uniqueName('rdsrestart');
    let t: Transport | undefined;
    try {
      t = await openTransport(server.url, { name, ...FAST, connectTimeoutMs: 1000, publishTimeoutMs: 2000 });
      const r = record(t);
      await t.publish(makeChanges(5, 'pre'));
      await waitFor(() => r.ids().size === 5, 10_000, 'pre-restart changes');

      await server.stop();
      const t0 = Date.now();
      const err = await t.publish(makeChanges(1, 'down')).catch((e: unknown) => e);
      const failMs = Date.now() - t0;
      expect(err).toMatchObject({ code: 'TANDEM_ERR_STORE_UNREACHABLE' });
      expect(failMs).toBeLessThan(2500);

      await server.start(); // same port; it keeps nothing on disk: the stream and the group are gone
      const t1 = Date.now();
      let published = false;
      while (!published) {
        try {
          await t.publish(makeChanges(5, 'post'));
          published = true;
        } catch (e) {
          expect(e).toMatchObject({ code: 'TANDEM_ERR_STORE_UNREACHABLE' });
          if (Date.now() - t1 > 15_000) throw e;
          await new Promise((res) => setTimeout(res, 100));
        }
      }
      const publishBackMs = Date.now() - t1;
      await waitFor(
        () => ['post-0', 'post-1', 'post-2', 'post-3', 'post-4'].every((id) => r.ids().has(id)),
        15_000,
        'post-restart changes',
      );
      const consumeBackMs = Date.now() - t1;
      await waitFor(async () => (await t!.pending()) === 0, 5_000, 'pending() = 0');
      await r.stop();
      console.log(
        `[redis] restart of ${server.label}: publish failed after ${failMs} ms while down; publish back ${publishBackMs} ms and consumer back ${consumeBackMs} ms after restart`,
      );
    } finally {
      await t?.close();
      await server.close();
    }
  });
});
