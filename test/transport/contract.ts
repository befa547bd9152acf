/**
 * The behaviour every broker transport must show, run against the real server by rabbitmq/nats/redis.test.ts.
 */
import { afterEach, expect, it } from 'vitest';
import { openTransport } from '../../src/capture/transport/types.js';
import type { OpenTransportOptions, Transport } from '../../src/capture/transport/types.js';
import { makeChanges, record, uniqueName, waitFor } from './helpers.js';

export interface ContractTarget {
  kind: 'rabbitmq' | 'nats' | 'redis';
  url: string;
  /** Puts a raw (non-change) message on the transport's queue/stream, as a broken producer would. */
  rawPublish(name: string, body: string): Promise<void>;
  /** Removes everything the transport created under `name`. */
  cleanup(name: string): Promise<void>;
}

/** Options that make redelivery fast enough for tests. */
export const FAST: Omit<OpenTransportOptions, 'name'> = {
  stuckAfterMs: 1000,
  retryDelayMs: 50,
  maxRetryDelayMs: 200,
  blockMs: 200,
};

export function transportContract(target: ContractTarget): void {
  const opened: Transport[] = [];
  const names: string[] = [];

  async function open(
    name?: string,
    extra: Partial<OpenTransportOptions> = {},
  ): Promise<{ t: Transport; name: string }> {
    const n = name ?? uniqueName(target.kind);
    if (!names.includes(n)) names.push(n);
    const t = await openTransport(target.url, { name: n, ...FAST, ...extra });
    opened.push(t);
    return { t, name: n };
  }

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((t) => t.close()));
    for (const n of names.splice(0)) await target.cleanup(n);
  });

  it('publishes durably and consumes every change at least once, in batches ≤ batchSize', async () => {
    const { t } = await open();
    expect(t.kind).toBe(target.kind);
    const changes = makeChanges(300, 'all');
    await t.publish(changes.slice(0, 100));
    await t.publish(changes.slice(100));
    expect(await t.pending()).toBe(300);
    const r = record(t, { batchSize: 50 });
    await waitFor(() => r.ids().size === 300, 15_000, 'all 300 ids');
    await waitFor(async () => (await t.pending()) === 0, 10_000, 'pending() = 0');
    await r.stop();
    expect(r.deliveries.length).toBeGreaterThanOrEqual(300);
    for (const c of changes) expect(r.ids().has(c.id)).toBe(true);
    expect(Math.max(...r.batches)).toBeLessThanOrEqual(50);
    expect(r.deliveries.every((d) => d.attempt === 1)).toBe(true);
    expect(r.deliveries.find((d) => d.change.id === 'all-7')!.change).toEqual(changes[7]);
    expect(await t.deadLetters()).toEqual([]);
  });

  it('acks only after the handler resolves: a batch whose handler throws comes back (attempt 2)', async () => {
    const { t } = await open();
    await t.publish(makeChanges(20, 'ack'));
    const r = record(t, {
      batchSize: 10,
      behave: (_b, call) => {
        if (call === 1) throw new Error('target down');
      },
    });
    const firstBatch = (): string[] => r.deliveries.slice(0, r.batches[0] ?? 0).map((d) => d.change.id);
    await waitFor(
      () => r.ids().size === 20 && firstBatch().length > 0 && firstBatch().every((id) => r.attemptsOf(id).includes(2)),
      10_000,
      'all 20 ids, the first batch twice',
    );
    await waitFor(async () => (await t.pending()) === 0, 10_000, 'pending() = 0');
    await r.stop();
    for (const id of firstBatch()) expect(r.attemptsOf(id)).toEqual([1, 2]);
    expect(r.dead).toEqual([]);
  });

  it('dead-letters a poison change after maxAttempts, keeps its batch-mates, and lists it newest first', async () => {
    const { t } = await open();
    const good = makeChanges(9, 'good');
    const poisonA = { ...makeChanges(1, 'poisonA', 'poison')[0]! };
    await t.publish([...good.slice(0, 4), poisonA, ...good.slice(4)]);
    const r = record(t, {
      batchSize: 10,
      maxAttempts: 3,
      behave: (batch) => {
        if (batch.some((d) => d.change.entity === 'poison')) throw new Error('poison boom');
      },
    });
    await waitFor(() => r.dead.length === 1, 10_000, 'first dead letter');
    expect(r.dead[0]!.d.change.id).toBe('poisonA-0');
    expect(r.dead[0]!.d.attempt).toBe(3);
    expect(r.dead[0]!.reason).toMatch(/poison boom/);
    expect(new Set(r.attemptsOf('poisonA-0'))).toEqual(new Set([1, 2, 3]));
    // A second poison change, later: deadLetters() must list it first.
    await new Promise((res) => setTimeout(res, 20));
    await t.publish(makeChanges(1, 'poisonB', 'poison'));
    await waitFor(() => r.dead.length === 2, 10_000, 'second dead letter');
    await waitFor(async () => (await t.pending()) === 0, 10_000, 'pending() = 0');
    await r.stop();
    for (const g of good) expect(r.ids().has(g.id)).toBe(true);
    expect(r.dead.map((x) => x.d.change.id)).toEqual(['poisonA-0', 'poisonB-0']);
    const dl = await t.deadLetters();
    expect(dl.map((x) => x.change.id)).toEqual(['poisonB-0', 'poisonA-0']);
    expect(dl[1]!.change).toEqual(poisonA);
    expect(dl[0]!.reason).toMatch(/poison boom/);
    expect(dl[0]!.at).toBeGreaterThanOrEqual(dl[1]!.at);
    expect((await t.deadLetters(1)).map((x) => x.change.id)).toEqual(['poisonB-0']);
    // Still there on a second look (listing does not consume them).
    expect((await t.deadLetters()).length).toBe(2);
  });

  it('dead-letters a malformed message without calling the handler', async () => {
    const { t, name } = await open();
    await target.rawPublish(name, 'this is not a change');
    await t.publish(makeChanges(3, 'ok'));
    const r = record(t);
    await waitFor(() => r.dead.length === 1 && r.ids().size === 3, 10_000, 'malformed dead letter and 3 good ids');
    await r.stop();
    expect(r.dead[0]!.reason).toMatch(/malformed message: not JSON/);
    expect(r.deliveries.every((d) => d.change.id.startsWith('ok-'))).toBe(true);
    const dl = await t.deadLetters();
    expect(dl).toHaveLength(1);
    expect(dl[0]!.reason).toMatch(/malformed/);
  });

  it('a consumer that dies holding unacked changes: another consumer gets them again', async () => {
    const { t: a, name } = await open();
    await a.publish(makeChanges(5, 'crash'));
    const ra = record(a, { behave: () => new Promise<void>(() => undefined) }); // never settles
    await waitFor(() => ra.ids().size > 0, 10_000, 'consumer A to hold a batch');
    await new Promise((res) => setTimeout(res, 100)); // let A fetch the rest too
    await a.close(); // the "crash": connection gone, nothing acked
    await ra.done; // consume() resolves when its transport is closed
    const { t: b } = await open(name);
    const started = Date.now();
    const rb = record(b);
    await waitFor(() => rb.ids().size === 5, 15_000, 'consumer B to get all 5 again');
    const tookMs = Date.now() - started;
    await waitFor(async () => (await b.pending()) === 0, 10_000, 'pending() = 0');
    await rb.stop();
    // What A had in its handler comes back as a redelivery.
    for (const id of ra.ids()) expect(Math.min(...rb.attemptsOf(id))).toBeGreaterThanOrEqual(2);
    console.log(`[${target.kind}] redelivered to a new consumer after ${tookMs} ms`);
  });

  it('abort lets the in-flight handler finish and acks its batch', async () => {
    const { t } = await open();
    await t.publish(makeChanges(4, 'abort'));
    let finished = false;
    const r = record(t, {
      behave: async () => {
        await new Promise((res) => setTimeout(res, 300));
        finished = true;
      },
    });
    await waitFor(() => r.ids().size > 0, 10_000, 'a batch');
    await r.stop();
    expect(finished).toBe(true);
    const seen = r.ids().size;
    await waitFor(async () => (await t.pending()) === 4 - seen, 5_000, `pending() = ${4 - seen}`);
  });

  it('refuses a malformed change before talking to the broker', async () => {
    const { t } = await open();
    const bad = { entity: 'users', key: '["1"]', keyValues: [1], at: Date.now() } as never;
    await expect(t.publish([bad])).rejects.toMatchObject({
      code: 'TANDEM_ERR_INTERNAL',
      message: expect.stringMatching(/id must be a non-empty string/),
    });
    const big = { entity: 'users', key: '["1"]', keyValues: [1n], id: 'x', at: 1 } as never;
    await expect(t.publish([big])).rejects.toMatchObject({ code: 'TANDEM_ERR_INTERNAL' });
    expect(await t.pending()).toBe(0);
  });
}
