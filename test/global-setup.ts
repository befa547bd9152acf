import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { resolve } from 'node:path';

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
  execFileSync(process.execPath, [resolve(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  });
  process.env.TANDEM_TEST_CLI = resolve(root, 'dist/cli/run.js');
}
