import net from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 that the tests control, to cut a store off and bring it back: `cut()` closes the
 * listener and destroys every open connection (the client sees resets and refusals), `restore()` listens again
 * on the same port.
 */
export class TcpProxy {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  /** When set, new connections are accepted and then left unanswered (a hung server). */
  private hanging = false;
  port = 0;

  constructor(
    private readonly targetPort: number,
    private readonly targetHost = '127.0.0.1',
  ) {}

  async start(port = 0): Promise<number> {
    const server = net.createServer((client) => {
      if (this.hanging) {
        this.sockets.add(client);
        client.on('error', () => {}).on('close', () => this.sockets.delete(client));
        return;
      }
      const upstream = net.connect(this.targetPort, this.targetHost);
      this.sockets.add(client);
      this.sockets.add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((res, rej) => server.once('error', rej).listen(port, '127.0.0.1', () => res()));
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
    return this.port;
  }

  /** Refuses new connections and kills the open ones. */
  async cut(): Promise<void> {
    const s = this.server;
    this.server = null;
    for (const sock of this.sockets) sock.destroy();
    this.sockets.clear();
    if (s) await new Promise<void>((res) => s.close(() => res()));
  }

  /** Listens again on the same port, forwarding. */
  async restore(): Promise<void> {
    if (this.server) await this.cut();
    this.hanging = false;
    await this.start(this.port);
  }

  /** Kills the open connections and then accepts new ones without ever answering: a server that hangs. */
  async hang(): Promise<void> {
    await this.cut();
    this.hanging = true;
    await this.start(this.port);
  }

  async close(): Promise<void> {
    this.hanging = false;
    await this.cut();
  }
}
