import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers.js';

describe('version and help', () => {
  it('tandem --version prints the package version', async () => {
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(
      JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version,
    );
  });

  const commands = [
    ['init'],
    ['backfill'],
    ['verify'],
    ['repair'],
    ['relay'],
    ['run'],
    ['phase'],
    ['identity', 'check'],
    ['identity', 'wrap'],
    ['identity', 'report'],
    ['identity', 'sunset'],
    ['status'],
    ['demo'],
    ['prepare'],
    ['shadow'],
    ['canary'],
    ['kill'],
    ['unkill'],
    ['ctl', 'pause'],
    ['ctl', 'tune'],
    ['bucket'],
    ['sequences', 'advance'],
    ['archive'],
    ['archive', 'verify'],
    ['plan'],
    ['cutover'],
    ['rollback'],
    ['rehearse'],
  ];
  it.each(commands)('%s --help shows --config, --log-file and TANDEM_LOG_LEVEL', async (...cmd) => {
    const r = await runCli([...cmd, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--config <file>');
    expect(r.stdout).toContain('--log-file <file>');
    expect(r.stdout).toContain('TANDEM_LOG_LEVEL');
  });
});
