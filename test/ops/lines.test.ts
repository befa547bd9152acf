import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cliArgv } from '../helpers.js';

/**
 * identity check caps the length of an input line: a 100 MB line is answered with a coded error, memory stays bounded.
 */
describe('identity check line cap', () => {
  it('answers a 100 MB line with TANDEM_ERR_USAGE and the next lines as usual, in bounded memory', async () => {
    const child = spawn(process.execPath, [...cliArgv(), 'identity', 'check', '--raw-hex', 'md5'], {
      env: { ...process.env, TANDEM_LOG_LEVEL: 'warn' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    let maxRssKb = 0;
    const poll = setInterval(() => {
      try {
        const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) maxRssKb = Math.max(maxRssKb, Number(m[1]));
      } catch {
        /* exited */
      }
    }, 20);
    const closed = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    const good = '{"password":"password","hash":"5f4dcc3b5aa765d61d8327deb882cf99"}\n';
    const write = (s: string | Buffer) =>
      new Promise<void>((r) => (child.stdin.write(s) ? r() : child.stdin.once('drain', () => r())));
    await write(good);
    await write('{"password":"');
    const mb = Buffer.alloc(1 << 20, 0x61);
    for (let i = 0; i < 100; i++) await write(mb);
    await write('","hash":"x"}\n');
    await write(good);
    await write(good);
    child.stdin.end();
    const code = await closed;
    clearInterval(poll);
    const out = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(out).toHaveLength(4);
    expect(out[0]).toEqual({ ok: true, scheme: 'hex-md5' });
    expect(out[1]).toMatchObject({ ok: false, error: 'TANDEM_ERR_USAGE' });
    expect(out[2]).toEqual({ ok: true, scheme: 'hex-md5' });
    expect(out[3]).toEqual({ ok: true, scheme: 'hex-md5' });
    expect(code).toBe(1);
    expect(maxRssKb).toBeGreaterThan(0);
    expect(maxRssKb).toBeLessThan(160 * 1024);
  });
});
