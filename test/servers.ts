/**
 * Private broker servers for fault tests: a `redis-server` or a RabbitMQ node of the test's own, on free
 * loopback ports, with its data in a temp folder. A test stops and restarts only such a server (or cuts a TCP
 * proxy it controls, test/proxy.ts) — never the machine's shared Redis 6379, RabbitMQ 5672 or NATS 4222, which
 * every other test and program on the machine uses.
 *
 * Each server runs in its own process group (spawned detached), so `stop()` signals exactly the processes it
 * started, and an exit hook kills whatever is left if the test process ends without `close()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A free TCP port on 127.0.0.1 (the kernel's pick; free when this returns). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** True when something accepts connections on 127.0.0.1:`port`. */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A server this test process started and alone stops. */
export interface PrivateServer {
  /** What it is, for messages: `redis-server on 127.0.0.1:41234`. */
  readonly label: string;
  /** Its client port on 127.0.0.1. */
  readonly port: number;
  /** Its URL for `openTransport` (`redis://127.0.0.1:N`, `amqp://guest:guest@127.0.0.1:N`). */
  readonly url: string;
  /** Its temp folder (data and log). */
  readonly dir: string;
  /** Stops it (SIGTERM to its process group, SIGKILL after `graceMs`) and waits until it has exited. */
  stop(graceMs?: number): Promise<void>;
  /** Starts it again on the same port with the same data folder; resolves once the port accepts connections. */
  start(): Promise<void>;
  /** Stops it and removes its temp folder. */
  close(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHook = false;
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // already gone
  }
}

/**
 * A server process (re)started by `spawnArgs()`, ready when `port` accepts connections. Throws, with the tail of
 * its log, when it exits before that or is not ready within `readyMs`.
 */
async function privateServer(o: {
  label: string;
  port: number;
  url: string;
  dir: string;
  readyMs: number;
  spawnArgs: () => { cmd: string; args: string[]; env?: NodeJS.ProcessEnv };
}): Promise<PrivateServer> {
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const c of live) killGroup(c, 'SIGKILL');
    });
  }
  const logFile = join(o.dir, 'server.log');
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  const tail = () =>
    existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n') : '(no log)';

  const start = async (): Promise<void> => {
    if (child) throw new Error(`${o.label} is already running`);
    if (await portOpen(o.port)) throw new Error(`${o.label}: port ${o.port} is taken by another process`);
    const { cmd, args, env } = o.spawnArgs();
    const fd = openSync(logFile, 'a');
    const c = spawn(cmd, args, { cwd: o.dir, env: env ?? process.env, detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    child = c;
    live.add(c);
    let gone = false;
    let spawnError: Error | null = null;
    exited = new Promise<void>((r) => {
      c.once('error', (e) => {
        spawnError = e;
        gone = true;
        r();
      });
      c.once('exit', () => {
        gone = true;
        r();
      });
    }).then(() => {
      live.delete(c);
      if (child === c) child = null;
    });
    const end = Date.now() + o.readyMs;
    for (;;) {
      if (gone)
        throw new Error(
          `${o.label} did not start${spawnError ? `: ${(spawnError as Error).message}` : ''}:\n${tail()}`,
        );
      if (await portOpen(o.port)) return;
      if (Date.now() > end) {
        await stop(0);
        throw new Error(`${o.label} was not listening after ${o.readyMs} ms:\n${tail()}`);
      }
      await sleep(100);
    }
  };

  const stop = async (graceMs = 10_000): Promise<void> => {
    const c = child;
    if (!c) return;
    killGroup(c, 'SIGTERM');
    const killed = await Promise.race([exited.then(() => false), sleep(graceMs).then(() => true)]);
    if (killed) killGroup(c, 'SIGKILL');
    await exited;
    // the group may hold helpers that outlive the leader for a moment (RabbitMQ's erl_child_setup)
    for (let i = 0; i < 50; i++) {
      try {
        process.kill(-c.pid!, 0);
      } catch {
        break;
      }
      await sleep(100);
      if (i === 30) killGroup(c, 'SIGKILL');
    }
  };

  await start();
  return {
    label: o.label,
    port: o.port,
    url: o.url,
    dir: o.dir,
    stop,
    start,
    close: async () => {
      await stop();
      rmSync(o.dir, { recursive: true, force: true });
    },
  };
}

/**
 * A private `redis-server` on a free port that keeps nothing on disk (`--save "" --appendonly no`): after a
 * restart its streams and groups are gone, as after a crash of a Redis without persistence.
 */
export async function startPrivateRedis(): Promise<PrivateServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tandem-redis-'));
  return privateServer({
    label: `private redis-server on 127.0.0.1:${port}`,
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    readyMs: 10_000,
    spawnArgs: () => ({
      cmd: 'redis-server',
      args: [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--daemonize',
        'no',
        '--logfile',
        '',
      ],
    }),
  });
}

/** The RabbitMQ start script that runs the node as the calling user (Debian's /usr/sbin one switches to `rabbitmq`). */
function rabbitmqServerScript(): string {
  const explicit = process.env.TANDEM_TEST_RABBITMQ_SERVER;
  if (explicit) return explicit;
  for (const p of ['/usr/lib/rabbitmq/bin/rabbitmq-server', '/usr/local/lib/rabbitmq/bin/rabbitmq-server'])
    if (existsSync(p)) return p;
  return 'rabbitmq-server';
}

/**
 * A private RabbitMQ node (`tandemtest_<random>@localhost`, no plugins) on a free AMQP port and a free
 * distribution port, with its own mnesia folder, log folder, config and Erlang cookie (HOME) in a temp folder;
 * it ignores /etc/rabbitmq. Durable queues survive `stop()` + `start()`. Starting takes about 5 s.
 */
export async function startPrivateRabbitMQ(): Promise<PrivateServer> {
  const port = await freePort();
  let distPort = await freePort();
  while (distPort === port) distPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tandem-rabbitmq-'));
  const node = `tandemtest_${randomBytes(4).toString('hex')}@localhost`;
  writeFileSync(join(dir, 'rabbitmq.conf'), `listeners.tcp.local = 127.0.0.1:${port}\nloopback_users.guest = true\n`);
  writeFileSync(join(dir, 'rabbitmq-env.conf'), '');
  writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: dir,
    RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'),
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_PLUGINS_EXPAND_DIR: join(dir, 'plugins'),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    ERL_FLAGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  };
  return privateServer({
    label: `private RabbitMQ node ${node} on 127.0.0.1:${port}`,
    port,
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    dir,
    readyMs: 60_000,
    spawnArgs: () => ({ cmd: rabbitmqServerScript(), args: [], env }),
  });
}
