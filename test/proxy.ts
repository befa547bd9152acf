import net from 'node:net';

/** What the proxy does with a connection: forward it, reset it at once (a server that is down), or hold it silent. */
type Mode = 'forward' | 'refuse' | 'hang';

/**
 * A TCP proxy on 127.0.0.1 that the tests control, to cut a store off and bring it back: `cut()` destroys every
 * open connection and resets every new one (the client sees resets, as from a server that is down), `restore()`
 * forwards again, `hang()` accepts and never answers.
 *
 * The listener stays open from `start()` to `close()`: closing it during an outage would free the port, and another
 * process's ephemeral port could take it before `restore()` listens again (EADDRINUSE).
 */
export class TcpProxy {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private mode: Mode = 'forward';
  port = 0;

  constructor(
    private readonly targetPort: number,
    private readonly targetHost = '127.0.0.1',
  ) {}

  async start(port = 0): Promise<number> {
    if (this.server) {
      this.mode = 'forward';
      return this.port;
    }
    const server = net.createServer((client) => {
      client.on('error', () => {});
      if (this.mode === 'refuse') {
        client.resetAndDestroy();
        return;
      }
      this.sockets.add(client);
      if (this.mode === 'hang') {
        client.on('close', () => this.sockets.delete(client));
        return;
      }
      const upstream = net.connect(this.targetPort, this.targetHost);
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

  private dropAll(): void {
    for (const sock of this.sockets) sock.destroy();
    this.sockets.clear();
  }

  /** Resets new connections and kills the open ones. */
  async cut(): Promise<void> {
    this.mode = 'refuse';
    this.dropAll();
  }

  /** Forwards again, on the same port. */
  async restore(): Promise<void> {
    this.dropAll();
    this.mode = 'forward';
  }

  /** Kills the open connections and then accepts new ones without ever answering: a server that hangs. */
  async hang(): Promise<void> {
    this.dropAll();
    this.mode = 'hang';
  }

  /** Closes the listener and every connection. */
  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    this.mode = 'refuse';
    this.dropAll();
    if (s) await new Promise<void>((res) => s.close(() => res()));
  }
}
