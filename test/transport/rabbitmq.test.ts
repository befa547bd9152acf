import amqp from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { openTransport } from '../../src/capture/transport/types.js';
import type { Transport } from '../../src/capture/transport/types.js';
import { FAST, transportContract } from './contract.js';
import { startPrivateRabbitMQ } from '../servers.js';
import { URLS, makeChanges, record, uniqueName, waitFor } from './helpers.js';

async function withChannel<T>(f: (ch: amqp.ConfirmChannel) => Promise<T>): Promise<T> {
  const c = await amqp.connect(URLS.rabbitmq);
  c.on('error', () => undefined);
  try {
    const ch = await c.createConfirmChannel();
    ch.on('error', () => undefined);
    return await f(ch);
  } finally {
    await c.close().catch(() => undefined);
  }
}

async function cleanup(name: string): Promise<void> {
  await withChannel(async (ch) => {
    await ch.deleteQueue(name);
    await ch.deleteQueue(`${name}.dlq`);
    await ch.deleteExchange(`${name}.dlx`);
  });
}

describe('RabbitMQ transport (contract)', () => {
  transportContract({
    kind: 'rabbitmq',
    url: URLS.rabbitmq,
    rawPublish: (name, body) =>
      withChannel(async (ch) => {
        ch.sendToQueue(name, Buffer.from(body), { persistent: true });
        await ch.waitForConfirms();
      }),
    cleanup,
  });
});

describe('RabbitMQ transport (broker specifics)', () => {
  const names: string[] = [];
  afterAll(async () => {
    for (const n of names) await cleanup(n).catch(() => undefined);
  });

  it('refuses wrong credentials with STORE_AUTH, never echoing the password', async () => {
    const err = await openTransport('amqp://guest:s3cr3t-wrong@127.0.0.1:5672', { name: uniqueName('rmqauth') }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'TANDEM_ERR_STORE_AUTH' });
    expect((err as Error).message).toContain('guest:***@127.0.0.1:5672');
    expect(JSON.stringify({ m: (err as Error).message, d: (err as { detail: unknown }).detail })).not.toContain(
      's3cr3t',
    );
  });

  it('names a virtual host it may not open with STORE_DATABASE_NOT_FOUND', async () => {
    const err = await openTransport('amqp://guest:guest@127.0.0.1:5672/no_such_vhost', {
      name: uniqueName('rmqvhost'),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'TANDEM_ERR_STORE_DATABASE_NOT_FOUND',
      message: expect.stringContaining('"no_such_vhost"'),
    });
  });

  it('the quorum queue dead-letters by itself (x-delivery-limit) a change whose consumers keep dying', async () => {
    const name = uniqueName('rmqlimit');
    names.push(name);
    // maxAttempts 1 → x-delivery-limit 1: the broker dead-letters on the second return.
    const mk = () => openTransport(URLS.rabbitmq, { name, ...FAST, maxAttempts: 1 });
    const p = await mk();
    await p.publish(makeChanges(1, 'limit'));
    await p.close();
    for (let i = 0; i < 2; i++) {
      const t = await mk();
      // The consumer allows more attempts than the queue: only the broker's limit can stop it.
      const r = record(t, { maxAttempts: 100, behave: () => new Promise<void>(() => undefined) });
      await waitFor(() => r.deliveries.length === 1, 10_000, `delivery ${i + 1}`);
      await t.close();
      await r.done;
    }
    const t = await mk();
    await waitFor(async () => (await t.deadLetters()).length === 1, 10_000, 'the broker to dead-letter it');
    const [dl] = await t.deadLetters();
    expect(dl!.change.id).toBe('limit-0');
    expect(dl!.reason).toMatch(/x-delivery-limit/);
    expect(await t.pending()).toBe(0);
    await t.close();
  });

  it('survives a broker restart: publish fails clearly while it is down, queued changes survive, consumer reconnects', async () => {
    // A RabbitMQ node of this test's own (free ports, temp mnesia): the shared broker on 5672 is never stopped.
    const broker = await startPrivateRabbitMQ();
    const name = uniqueName('rmqrestart');
    const durableName = uniqueName('rmqdurable');
    const opts = { ...FAST, connectTimeoutMs: 1000, publishTimeoutMs: 2000 };
    let t: Transport | undefined;
    let d: Transport | undefined;
    try {
      t = await openTransport(broker.url, { name, ...opts });
      d = await openTransport(broker.url, { name: durableName, ...opts });
      const r = record(t);
      await t.publish(makeChanges(5, 'pre'));
      await d.publish(makeChanges(7, 'kept')); // never consumed: must survive the restart
      await waitFor(() => r.ids().size === 5, 10_000, 'pre-restart changes');

      await broker.stop();
      const t0 = Date.now();
      const err = await t.publish(makeChanges(1, 'down')).catch((e: unknown) => e);
      const failMs = Date.now() - t0;
      expect(err).toMatchObject({ code: 'TANDEM_ERR_STORE_UNREACHABLE' });
      expect(failMs).toBeLessThan(3000);

      await broker.start(); // same ports, same mnesia folder: durable quorum queues come back
      const t1 = Date.now();
      let published = false;
      while (!published) {
        try {
          await t.publish(makeChanges(5, 'post'));
          published = true;
        } catch (e) {
          expect(e).toMatchObject({ code: 'TANDEM_ERR_STORE_UNREACHABLE' });
          if (Date.now() - t1 > 20_000) throw e;
          await new Promise((res) => setTimeout(res, 200));
        }
      }
      const publishBackMs = Date.now() - t1;
      await waitFor(
        () => ['post-0', 'post-1', 'post-2', 'post-3', 'post-4'].every((id) => r.ids().has(id)),
        20_000,
        'post-restart changes',
      );
      const consumeBackMs = Date.now() - t1;
      await r.stop();
      expect(await d.pending()).toBe(7);
      console.log(
        `[rabbitmq] restart of ${broker.label}: publish failed after ${failMs} ms while down; publish back ${publishBackMs} ms and consumer back ${consumeBackMs} ms after the node was listening again`,
      );
    } finally {
      await t?.close();
      await d?.close();
      await broker.close();
    }
  });
});
