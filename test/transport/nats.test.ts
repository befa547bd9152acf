import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { openTransport } from '../../src/capture/transport/types.js';
import { FAST, transportContract } from './contract.js';
import { URLS, makeChanges, record, tcpProxy, uniqueName, waitFor } from './helpers.js';

async function withNats<T>(f: (nc: Awaited<ReturnType<typeof connect>>) => Promise<T>): Promise<T> {
  const nc = await connect({ servers: '127.0.0.1:4222' });
  try {
    return await f(nc);
  } finally {
    await nc.close();
  }
}

async function cleanup(name: string): Promise<void> {
  await withNats(async (nc) => {
    const jsm = await jetstreamManager(nc);
    for (const s of [name, `${name}_dlq`]) await jsm.streams.delete(s).catch(() => undefined);
  });
}

describe('NATS JetStream transport (contract)', () => {
  transportContract({
    kind: 'nats',
    url: URLS.nats,
    rawPublish: (name, body) =>
      withNats(async (nc) => {
        await jetstream(nc).publish(`${name}.change`, body);
      }),
    cleanup,
  });
});

describe('NATS JetStream transport (broker specifics)', () => {
  it('drops a re-published change id within the duplicate window (Nats-Msg-Id)', async () => {
    const name = uniqueName('natsdup');
    const t = await openTransport(URLS.nats, { name, ...FAST });
    try {
      const [c] = makeChanges(1, 'dup');
      await t.publish([c!]);
      await t.publish([c!, c!]);
      expect(await t.pending()).toBe(1);
      const r = record(t);
      await waitFor(async () => r.deliveries.length === 1 && (await t.pending()) === 0, 10_000, 'one delivery');
      // a later change as a marker: the stream delivers in order, so once it is here no copy of c can follow
      await t.publish(makeChanges(1, 'marker'));
      await waitFor(() => r.ids().has('marker-0'), 10_000, 'the marker');
      await r.stop();
      expect(r.deliveries.map((d) => d.change.id)).toEqual([c!.id, 'marker-0']);
    } finally {
      await t.close();
      await cleanup(name);
    }
  });

  it("keeps a slow handler's deliveries (working()) instead of handing them to another consumer", async () => {
    const name = uniqueName('natsslow');
    const a = await openTransport(URLS.nats, { name, ...FAST });
    const b = await openTransport(URLS.nats, { name, ...FAST });
    try {
      await a.publish(makeChanges(3, 'slow'));
      // A takes 2.5 × ack_wait; B, idle, must not get A's changes meanwhile.
      const ra = record(a, { behave: () => new Promise((res) => setTimeout(res, 2500)) });
      await waitFor(() => ra.deliveries.length > 0, 5_000, 'A to get a batch');
      const rb = record(b);
      await waitFor(async () => (await a.pending()) === 0, 15_000, 'pending() = 0');
      await ra.stop();
      await rb.stop();
      const aIds = ra.ids();
      expect(rb.deliveries.filter((d) => aIds.has(d.change.id))).toEqual([]);
    } finally {
      await a.close();
      await b.close();
      await cleanup(name);
    }
  });

  it('rides out a lost connection (TCP proxy cut): publish fails after publishTimeoutMs, then client and consumer come back', async () => {
    const name = uniqueName('natsout');
    const proxy = await tcpProxy(4222);
    const t = await openTransport(`nats://127.0.0.1:${proxy.port}`, { name, ...FAST, publishTimeoutMs: 1000 });
    try {
      const r = record(t);
      await t.publish(makeChanges(3, 'pre'));
      await waitFor(() => r.ids().size === 3, 10_000, 'pre-outage changes');

      await proxy.down();
      const t0 = Date.now();
      const err = await t.publish(makeChanges(1, 'down')).catch((e: unknown) => e);
      const failMs = Date.now() - t0;
      expect(err).toMatchObject({ code: 'TANDEM_ERR_STORE_UNREACHABLE' });
      expect(failMs).toBeGreaterThanOrEqual(900);
      expect(failMs).toBeLessThan(2500);

      await proxy.up();
      const t1 = Date.now();
      for (;;) {
        try {
          await t.publish(makeChanges(3, 'post'));
          break;
        } catch (e) {
          expect(e).toMatchObject({ code: 'TANDEM_ERR_STORE_UNREACHABLE' });
          if (Date.now() - t1 > 15_000) throw e;
        }
      }
      const publishBackMs = Date.now() - t1;
      await waitFor(() => ['post-0', 'post-1', 'post-2'].every((id) => r.ids().has(id)), 15_000, 'post-outage changes');
      const consumeBackMs = Date.now() - t1;
      await waitFor(async () => (await t.pending()) === 0, 10_000, 'pending() = 0');
      await r.stop();
      console.log(
        `[nats] outage: publish failed after ${failMs} ms; publish back ${publishBackMs} ms and consumer back ${consumeBackMs} ms after the link returned`,
      );
    } finally {
      await t.close();
      await proxy.close();
      await cleanup(name);
    }
  });
});
