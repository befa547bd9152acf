/**
 * A TCP proxy for the dual-write benchmark with three modes, to put PostgreSQL "down" in two different ways:
 *
 * - `pass`      — forwards bytes both ways (PostgreSQL up, one local hop more);
 * - `refuse`    — the listener is closed and every open connection destroyed: clients see resets and
 *                 ECONNREFUSED at once (the server is down, the host answers). Same as test/proxy.ts `cut()`;
 * - `blackhole` — connections are accepted but no byte goes anywhere, and the open ones stop forwarding: the
 *                 client waits for its own timeouts (a hung server, a partition that drops packets, a full
 *                 SYN backlog behind a load balancer).
 *
 * `pass()` after `refuse`/`blackhole` destroys every held socket (the partition heals with resets) and listens
 * again on the same port.
 */
import net from 'node:net';

export type ProxyMode = 'pass' | 'refuse' | 'blackhole';

export class SwitchProxy {
  private server: net.Server | null = null;
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket | null }>();
  mode: ProxyMode = 'pass';
  port = 0;
  /** Connections accepted, in total and while in blackhole mode. */
  accepted = 0;
  acceptedInBlackhole = 0;

  constructor(
    private readonly targetPort: number,
    private readonly targetHost = '127.0.0.1',
  ) {}

  async start(port = 0): Promise<number> {
    const server = net.createServer((client) => {
      this.accepted++;
      const pair: { client: net.Socket; upstream: net.Socket | null } = { client, upstream: null };
      this.pairs.add(pair);
      const drop = () => {
        client.destroy();
        pair.upstream?.destroy();
        this.pairs.delete(pair);
      };
      client.on('error', drop).on('close', drop);
      if (this.mode === 'blackhole') {
        this.acceptedInBlackhole++;
        client.pause(); // swallow: read nothing, answer nothing
        return;
      }
      const upstream = net.connect(this.targetPort, this.targetHost);
      pair.upstream = upstream;
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((res, rej) => server.once('error', rej).listen(port, '127.0.0.1', () => res()));
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
    return this.port;
  }

  private destroyAll(): void {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream?.destroy();
    }
    this.pairs.clear();
  }

  /** Refuses new connections and resets the open ones. */
  async refuse(): Promise<void> {
    this.mode = 'refuse';
    const s = this.server;
    this.server = null;
    this.destroyAll();
    if (s) await new Promise<void>((res) => s.close(() => res()));
  }

  /** Accepts connections but forwards nothing, on new and open connections alike. */
  async blackhole(): Promise<void> {
    if (!this.server) await this.start(this.port);
    this.mode = 'blackhole';
    for (const p of this.pairs) {
      if (!p.upstream) continue;
      p.client.unpipe(p.upstream);
      p.upstream.unpipe(p.client);
      p.client.pause();
      p.upstream.pause();
    }
  }

  /** Back to forwarding: held sockets are reset, new connections go through. */
  async pass(): Promise<void> {
    this.destroyAll();
    this.mode = 'pass';
    if (!this.server) await this.start(this.port);
  }

  async close(): Promise<void> {
    this.destroyAll();
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((res) => s.close(() => res()));
  }
}
