import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import net from 'node:net';
import { join, resolve } from 'node:path';

/**
 * The servers the tests use, as `name (host:port)` probes; PostgreSQL and MariaDB follow TANDEM_TEST_PG /
 * TANDEM_TEST_MYSQL.
 */
function services(): { name: string; host: string; port: number }[] {
  const at = (url: string, dflt: number) => {
    const u = new URL(url);
    return { host: u.hostname || '127.0.0.1', port: Number(u.port || dflt) };
  };
  return [
    { name: 'PostgreSQL', ...at(process.env.TANDEM_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432', 5432) },
    { name: 'MariaDB', ...at(process.env.TANDEM_TEST_MYSQL ?? 'mysql://root@127.0.0.1:3306', 3306) },
    { name: 'Redis', host: '127.0.0.1', port: 6379 },
    { name: 'RabbitMQ', host: '127.0.0.1', port: 5672 },
    { name: 'NATS', host: '127.0.0.1', port: 4222 },
  ];
}

/** The newest modification time (ms) of the files under `dir`. */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/**
 * True when `dist/` was built (scripts/build.mjs leaves `dist/.built`) after the last change of the sources and
 * of the TypeScript configs: `npm ci` / `npm install` build it already, so the tests need not build it again.
 */
function builtIsCurrent(root: string): boolean {
  const stamp = join(root, 'dist/.built');
  if (!existsSync(stamp) || !existsSync(join(root, 'dist/cli/run.js'))) return false;
  const sources = Math.max(
    newest(join(root, 'src')),
    statSync(join(root, 'tsconfig.json')).mtimeMs,
    statSync(join(root, 'tsconfig.build.json')).mtimeMs,
  );
  return statSync(stamp).mtimeMs > sources;
}

function answers(host: string, port: number, timeoutMs = 3000): Promise<boolean> {
  return new Promise((res) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      res(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true)).once('error', () => done(false));
  });
}

/**
 * Checks that every service the tests talk to accepts connections, and fails the run at once naming each one
 * that does not (the tests never start, stop or restart the machine's services themselves). Then builds the CLI
 * once (`tsc -p tsconfig.build.json` → `dist/`, the same build `npm install` makes), so the many tests that run
 * `tandem` as a real child process start compiled JavaScript instead of transpiling the sources in every
 * process. Tests read TANDEM_TEST_CLI to find it.
 */
export async function setup(): Promise<void> {
  const probes = services();
  const up = await Promise.all(probes.map((s) => answers(s.host, s.port)));
  const down = probes.filter((_, i) => !up[i]).map((s) => `${s.name} (${s.host}:${s.port})`);
  if (down.length) {
    throw new Error(
      `the tests need these services, which do not answer: ${down.join(', ')}. Start them and run again (CI's .ci/run starts them with ../shared/services.sh; the tests never start, stop or restart them).`,
    );
  }
  const root = resolve(import.meta.dirname, '..');
  if (!builtIsCurrent(root)) {
    execFileSync(process.execPath, [resolve(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' });
  }
  process.env.TANDEM_TEST_CLI = resolve(root, 'dist/cli/run.js');
}
