import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyProgress } from '../../src/cli/verify.js';
import { openContext, type CommandContext } from '../../src/cli/context.js';
import { createLogger } from '../../src/core/logger.js';
import { runVerify } from '../../src/verify/run.js';
import { runCli, writeConfig } from '../helpers.js';

/** A terminal that records what is written to it (the progress line goes to a TTY only). */
function terminal(isTTY = true) {
  const chunks: string[] = [];
  const out = {
    isTTY,
    write: (s: string) => {
      chunks.push(s);
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  return { out, text: () => chunks.join('') };
}

const ROWS = 6_000;

describe('verify progress (the backfill reporter: rows compared / total, %, rows/s, ETA)', () => {
  let cfg: string;
  let ctx: CommandContext;
  const log = createLogger({ level: 'silent' });

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-vprog-'));
    for (const f of ['src.db', 'tgt.db']) {
      const d = new Database(join(dir, f));
      d.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT NOT NULL)`);
      const ins = d.prepare('INSERT INTO items VALUES (?, ?)');
      d.transaction(() => {
        for (let i = 1; i <= ROWS; i++) ins.run(i, `item ${i}`);
      })();
      d.close();
    }
    cfg = writeConfig(`import { defineConfig } from 'tandem';
export default defineConfig({
  source: ${JSON.stringify(`sqlite:${join(dir, 'src.db')}`)},
  target: ${JSON.stringify(`sqlite:${join(dir, 'tgt.db')}`)},
  entities: { items: { table: 'items', key: 'id', targets: [{ table: 'items', columns: { id: 'id', label: 'label' } }] } },
});
`);
    ctx = await openContext(cfg, undefined, log);
  });
  afterAll(async () => {
    await ctx?.close();
  });

  const opts = { pageRows: 500, maxReportedDifferences: 20 };

  it('full and checksum draw a line per entity on a TTY, ending with done and a newline', async () => {
    for (const mode of ['full', 'checksum'] as const) {
      const t = terminal();
      const p = verifyProgress(log, t.out)!;
      const r = await runVerify(ctx.source, ctx.target, ctx.entities, {
        ...opts,
        mode,
        checksum: { initialSegmentRows: 1000, maxSegmentRows: 1000, minSegmentRows: 1000 },
        onProgress: p.update,
      });
      p.close();
      expect(r.exitCode).toBe(0);
      const text = t.text();
      expect(text, mode).toMatch(
        /\r\x1b\[2Kitems: compared [\d,]+\/6,000 \(\d+\.\d%\), [\d,]+ rows\/s, ETA [^,]+, state: running/,
      );
      expect(text).toMatch(/items: compared 6,000\/6,000 \(100\.0%\), [\d,]+ rows\/s, ETA done, state: done\n$/);
    }
  });

  it('a stopped run leaves no open line: the last line is still running and ends with a newline', async () => {
    const t = terminal();
    const p = verifyProgress(log, t.out)!;
    const stop = new AbortController();
    const r = await runVerify(ctx.source, ctx.target, ctx.entities, {
      ...opts,
      mode: 'full',
      signal: stop.signal,
      onProgress: (x) => {
        p.update(x);
        if (x.compared >= 2000) stop.abort();
      },
    });
    p.close();
    expect(r).toMatchObject({ complete: false, exitCode: 4 });
    const lines = t.text().split('\r\x1b[2K');
    expect(lines.pop()).toMatch(/^items: compared [\d,]+\/6,000 \(\d+\.\d%\), .*state: running\n$/);
  });

  it('off a terminal there is no progress output', async () => {
    expect(verifyProgress(log, terminal(false).out)).toBeNull();
    const v = await runCli(['verify', '--config', cfg]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stderr).not.toMatch(/compared|ETA/);
    expect(v.stdout).not.toMatch(/ETA/);
  });
});
