import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureControlSchema, recentAudit, startCheckpoint } from '../../src/control/control.js';
import { readPhase, setPhase } from '../../src/control/phase.js';
import { readArchiveRecord, writeArchive } from '../../src/cutover/archive.js';
import { checkGates, gatesOf } from '../../src/cutover/gates.js';
import { saveRehearsal } from '../../src/cutover/rehearsal-record.js';
import type { GateResult, RehearsalRecord } from '../../src/cutover/types.js';
import { evaluateGuard } from '../../src/routing/guard.js';
import { setCanaryPercent } from '../../src/routing/state.js';
import { createReadStats } from '../../src/routing/stats.js';
import { recordLastVerify } from '../../src/runtime/last-verify.js';
import { openMigration, type Migration } from '../../src/runtime/migration.js';
import { openStore } from '../../src/stores/index.js';
import type { Store } from '../../src/stores/types.js';
import { createMysqlDatabase, createPgDatabase, runCli, writeConfig } from '../helpers.js';
import { quiet } from '../runtime/helpers.js';

/**
 * The gates of `tandem phase advance` on embedded stores (SQLite legacy and new, the control plane in new): every
 * gate passes and fails on purpose — backfill incomplete, relay lag, dead letters, a stale / sampled / failing
 * verification, the shadow mismatch rate, too few samples, the guard tripped or without enough reads, no / old /
 * failed rehearsal, an unverified archive — by the real paths that write their figures (tandem backfill, tandem
 * verify, published read windows, the guard's evaluation, tandem archive verify). The CLI prints the table,
 * refuses (exit 2, TANDEM_ERR_GATE_FAILED, nothing written), moves with --force and audits the failing gates.
 */

const ROWS = 40;
const dir = mkdtempSync(join(tmpdir(), 'tandem-gates-'));
const LEGACY = `sqlite:${join(dir, 'legacy.db')}`;
const NEW = `sqlite:${join(dir, 'new.db')}`;
const CONFIG = `export default {
  source: ${JSON.stringify(LEGACY)},
  target: ${JSON.stringify(NEW)},
  entities: {
    items: { table: 'items', key: 'id', version: 'version', targets: [{ table: 'items', columns: { id: 'id', name: 'name', version: 'version' } }] },
  },
  guard: { windowSeconds: 5, minSamples: 20, cooldownSeconds: 5 },
  gates: { minSamples: 50, dwellSeconds: 5, maxLagSeconds: 5 },
};
`;

let cfg: string;
let m: Migration;
let legacy: Store;
let control: Store;

const cli = (...args: string[]) => runCli([...args, '--config', cfg]);
const byName = (gs: GateResult[]) => Object.fromEntries(gs.map((g) => [g.gate, g]));
const gate = async (to: Parameters<typeof checkGates>[1], name: string, now?: number) => {
  const g = byName(await checkGates(m, to, { now }))[name];
  if (!g) throw new Error(`no gate ${name} for ${to}`);
  return g;
};
const stats = () => createReadStats({ metrics: false });
const clearWindows = () => control.execute(`DELETE FROM ${control.controlTable('routing_windows')}`);

async function publishComparisons(matched: number, mismatched: number): Promise<void> {
  const s = stats();
  for (let i = 0; i < matched; i++) s.comparison('items', 'matched');
  for (let i = 0; i < mismatched; i++) s.comparison('items', 'mismatched');
  await s.publish(control);
}

async function publishReads(ok: number, errors: number): Promise<void> {
  const s = stats();
  for (let i = 0; i < ok; i++) s.read({ entity: 'items', origin: 'new', outcome: 'ok', latencyMs: 3, served: true });
  for (let i = 0; i < errors; i++)
    s.read({ entity: 'items', origin: 'new', outcome: 'error', latencyMs: 3, served: true });
  await s.publish(control);
}

const rehearsal = (o: Partial<RehearsalRecord> = {}): RehearsalRecord => ({
  at: new Date().toISOString(),
  passed: true,
  committedWrites: 1200,
  lostWrites: 0,
  cutover: { held: 3, p99Ms: 40, maxMs: 60 },
  rollback: { held: 2, p99Ms: 30, maxMs: 45 },
  rollbackRtoSeconds: 1.2,
  parity: [100, 100, 100],
  ...o,
});

beforeAll(async () => {
  const l = await openStore(LEGACY);
  await l.execute('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT NULL)');
  for (let i = 1; i <= ROWS; i++) await l.execute('INSERT INTO items VALUES (?, ?, 1)', [i, `item ${i}`]);
  await ensureControlSchema(l);
  await l.close();
  const n = await openStore(NEW);
  await n.execute('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT NULL)');
  await ensureControlSchema(n);
  await n.close();
  cfg = writeConfig(CONFIG);
  m = await openMigration(cfg, { log: quiet });
  control = m.stores.control;
  legacy = await openStore(LEGACY);
  await setPhase(control, 'dual_write');
});
afterAll(async () => {
  await legacy?.close();
  await m?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('gates of each phase', () => {
  it('are cumulative along the road; none for prepare, dual_write or a move back', async () => {
    expect(gatesOf('shadow')).toEqual(['backfill', 'relay_lag', 'dead_letters']);
    expect(gatesOf('canary')).toEqual(['backfill', 'relay_lag', 'dead_letters', 'parity', 'shadow_mismatch']);
    expect(gatesOf('new_primary').slice(-2)).toEqual(['guard', 'rehearsal']);
    expect(gatesOf('legacy_read_only')).toEqual(['phase', 'reverse_lag', 'reverse_dead_letters']);
    expect(gatesOf('decommissioned')).toEqual(['phase', 'archive']);
    expect(await checkGates(m, 'dual_write')).toEqual([]);
    expect(await checkGates(m, 'prepare')).toEqual([]);
    expect((await checkGates(m, 'new_primary')).map((g) => g.gate)).toEqual(gatesOf('new_primary'));
  });

  it('backfill: fails not started and incomplete, passes once tandem backfill finished', async () => {
    let g = await gate('shadow', 'backfill');
    expect(g).toMatchObject({ pass: false, figure: '0 %', threshold: '≥ 100 %' });
    expect(g.reason).toMatch(/items 0 % \(not started\)/);
    await startCheckpoint(m.stores.new, 'items', ROWS, false);
    g = await gate('shadow', 'backfill');
    expect(g.pass).toBe(false);
    expect(g.reason).toMatch(/items 0 % \(0 of 40 rows\)/);
    const r = await cli('backfill');
    expect(r.code, r.stderr).toBe(0);
    g = await gate('shadow', 'backfill');
    expect(g).toMatchObject({ pass: true, figure: '100 %' });
  });

  it('relay lag: fails on an old change waiting in the forward outbox, passes when it is drained', async () => {
    expect(await gate('shadow', 'relay_lag')).toMatchObject({ pass: true, figure: '0 s' });
    const outbox = legacy.controlTable('outbox');
    await legacy.execute(
      `INSERT INTO ${outbox} (entity, entity_key, key_values, created_at) VALUES ('items', '1', '["1"]', ?)`,
      [new Date(Date.now() - 60_000).toISOString()],
    );
    const g = await gate('shadow', 'relay_lag');
    expect(g.pass).toBe(false);
    expect(Number.parseFloat(g.figure)).toBeGreaterThanOrEqual(59);
    expect(g.threshold).toBe('< 5 s');
    expect(g.reason).toMatch(/1 change in the forward \(legacy\) outbox/);
    await legacy.execute(`DELETE FROM ${outbox}`);
    expect((await gate('shadow', 'relay_lag')).pass).toBe(true);
  });

  it('dead letters: fail above maxDeadLetters (0)', async () => {
    expect(await gate('shadow', 'dead_letters')).toMatchObject({ pass: true, figure: '0', threshold: '≤ 0' });
    const dl = control.controlTable('dead_letters');
    await control.execute(
      `INSERT INTO ${dl} (origin, change_id, entity, entity_key, key_values, attempts, reason, first_seen_at) VALUES ('outbox', '7', 'items', '3', '["3"]', 5, 'boom', ?)`,
      [new Date().toISOString()],
    );
    const g = await gate('shadow', 'dead_letters');
    expect(g).toMatchObject({ pass: false, figure: '1' });
    expect(g.reason).not.toMatch(/boom|item 3/);
    await control.execute(`DELETE FROM ${dl}`);
  });

  it('parity: fails never verified, sampled, failing and stale; passes on a fresh full verification', async () => {
    let g = await gate('canary', 'parity');
    expect(g).toMatchObject({ pass: false });
    expect(g.reason).toMatch(/items: never verified/);

    let r = await cli('verify', '--mode', 'sample', '--sample', '10');
    expect(r.code, r.stderr).not.toBe(2);
    g = await gate('canary', 'parity');
    expect(g.pass).toBe(false);
    expect(g.reason).toMatch(/a sample verification is not proof/);

    r = await cli('verify', '--mode', 'full');
    expect(r.code, r.stderr).toBe(0);
    g = await gate('canary', 'parity');
    expect(g).toMatchObject({ pass: true, figure: '100 %' });

    // the same verification, 25 hours later: stale
    g = await gate('canary', 'parity', Date.now() + 25 * 3_600_000);
    expect(g.pass).toBe(false);
    expect(g.reason).toMatch(/the full verification is 25(\.\d)? h old/);

    // a row changed on new: the full verification finds it; parity 97.5 % < 99.99 %
    const n = await openStore(NEW);
    await n.execute(`UPDATE items SET name = 'changed' WHERE id = 5`);
    r = await cli('verify', '--mode', 'full');
    expect(r.code).toBe(1);
    g = await gate('canary', 'parity');
    expect(g).toMatchObject({ pass: false, figure: '97.5 %' });
    expect(g.reason).toMatch(/items: parity 97\.5 % \(1 difference\)/);
    expect(g.reason).not.toMatch(/changed/);
    await n.execute(`UPDATE items SET name = 'item 5' WHERE id = 5`);
    await n.close();
    // a checksum verification is proof too
    await recordLastVerify(
      control,
      new Map([['items', { mode: 'checksum', at: new Date().toISOString(), parity: 100, differences: 0 }]]),
    );
    expect((await gate('canary', 'parity')).pass).toBe(true);
  });

  it('shadow mismatch: fails with too few samples and above the rate, passes under it', async () => {
    await clearWindows();
    await publishComparisons(10, 0);
    let g = await gate('canary', 'shadow_mismatch');
    expect(g).toMatchObject({ pass: false, figure: '0 % of 10', threshold: '< 0.1 % over ≥ 50' });
    expect(g.reason).toMatch(/too few samples: 10 shadow comparisons/);
    await publishComparisons(2000, 0);
    g = await gate('canary', 'shadow_mismatch');
    expect(g).toMatchObject({ pass: true, figure: '0 % of 2010' });
    await publishComparisons(0, 10);
    g = await gate('canary', 'shadow_mismatch');
    expect(g).toMatchObject({ pass: false, figure: '0.495 % of 2020' });
    expect(g.reason).toMatch(/10 mismatched of 2020 compared/);
  });

  it('guard: fails below 100 %, before the dwell, without enough reads and tripped; passes green after the dwell', async () => {
    await clearWindows();
    let g = await gate('new_primary', 'guard');
    expect(g).toMatchObject({ pass: false, figure: 'canary 0 %' });
    await setCanaryPercent(control, 100);
    g = await gate('new_primary', 'guard');
    expect(g.pass).toBe(false);
    expect(g.reason).toMatch(/at 100 % for \d+(\.\d)? s, less than the dwell of 5 s/);
    const later = Date.now() + 6000;
    g = await gate('new_primary', 'guard', later);
    expect(g).toMatchObject({ pass: false, figure: 'insufficient' });
    await publishReads(30, 0);
    g = await gate('new_primary', 'guard', Date.now() + 6000);
    expect(g).toMatchObject({ pass: true, figure: 'green' });
    expect(g.reason).toMatch(/green over 30 reads of new in the last 5 s/);
    // errors: the guard trips (canary to 0); the gate fails on the verdict
    await publishReads(0, 30);
    const ev = await evaluateGuard(control, m.config.guard);
    expect(ev.tripped).toBe(true);
    g = await gate('new_primary', 'guard', Date.now() + 6000);
    expect(g).toMatchObject({ pass: false, figure: 'tripped' });
    expect(g.reason).toMatch(/error rate/);
    // cleared after the cooldown (an explicit canary 100), on fresh windows
    await clearWindows();
    await setCanaryPercent(control, 100, { now: () => Date.now() + 10_000 });
    await publishReads(25, 0);
    expect((await gate('new_primary', 'guard', Date.now() + 6000)).pass).toBe(true);
  });

  it('rehearsal: fails none, failed and old; passes a recent passing one', async () => {
    let g = await gate('new_primary', 'rehearsal');
    expect(g).toMatchObject({ pass: false, figure: 'none' });
    expect(g.reason).toMatch(/tandem rehearse/);
    await saveRehearsal(control, rehearsal({ passed: false, lostWrites: 2, reason: '2 lost writes' }));
    g = await gate('new_primary', 'rehearsal');
    expect(g.pass).toBe(false);
    expect(g.reason).toMatch(/the last rehearsal failed: 2 lost writes/);
    await saveRehearsal(control, rehearsal({ at: new Date(Date.now() - 8 * 86_400_000).toISOString() }));
    g = await gate('new_primary', 'rehearsal');
    expect(g).toMatchObject({ pass: false, figure: 'passed, 8 d old', threshold: 'passed, < 7 d old' });
    await saveRehearsal(control, rehearsal());
    g = await gate('new_primary', 'rehearsal');
    expect(g).toMatchObject({ pass: true, figure: 'passed, 0 d old' });
    expect(g.reason).toMatch(/0 lost of 1200 writes/);
  });
});

describe('tandem phase advance', () => {
  const audits = async () => (await recentAudit(control, 50)).filter((a) => a.command === 'phase advance');

  it('prints the table and refuses a failing gate: exit 2, TANDEM_ERR_GATE_FAILED, nothing written', async () => {
    await setPhase(control, 'dual_write', { force: true });
    const dl = control.controlTable('dead_letters');
    await control.execute(
      `INSERT INTO ${dl} (origin, change_id, entity, entity_key, key_values, attempts, reason, first_seen_at) VALUES ('outbox', '8', 'items', '4', '["4"]', 5, 'boom', ?)`,
      [new Date().toISOString()],
    );
    const before = (await audits()).length;
    const r = await cli('phase', 'advance');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^TANDEM_ERR_GATE_FAILED: dual_write → shadow refused: 1 gate\(s\) failed \(dead_letters\)/,
    );
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('gates of dual_write → shadow:');
    expect(lines[1]).toMatch(/^ {2}gate +figure +threshold +result +reason$/);
    expect(r.stdout).toMatch(/\n {2}backfill +100 % +≥ 100 % +pass /);
    expect(r.stdout).toMatch(/\n {2}dead_letters +1 +≤ 0 +FAIL +1 dead letter not delivered/);
    expect(await readPhase(control)).toBe('dual_write');
    expect((await audits()).length).toBe(before);
  });

  it('--force moves anyway and the audit entry lists the failing gates; --json prints the report', async () => {
    const r = await cli('phase', 'advance', '--force', '--json');
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ from: 'dual_write', to: 'shadow', moved: true, forced: true, failing: ['dead_letters'] });
    expect(j.gates.map((g: GateResult) => [g.gate, g.pass])).toEqual([
      ['backfill', true],
      ['relay_lag', true],
      ['dead_letters', false],
    ]);
    expect(Object.keys(j.gates[0]).sort()).toEqual(['figure', 'gate', 'pass', 'reason', 'threshold']);
    expect(await readPhase(control)).toBe('shadow');
    const a = (await audits())[0]!;
    expect(a.outcome).toBe('ok');
    expect(a.detail).toMatch(/^dual_write → shadow forced past 1 failing gate\(s\): dead_letters 1 \(threshold ≤ 0\)/);
    await control.execute(`DELETE FROM ${control.controlTable('dead_letters')}`);
  });

  it('refuses write cutover and moves back with TANDEM_ERR_USAGE naming the command', async () => {
    let r = await cli('phase', 'advance', '--to', 'new_primary');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^TANDEM_ERR_USAGE: .*use tandem cutover/);
    r = await cli('phase', 'advance', '--to', 'dual_write');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^TANDEM_ERR_USAGE: .*tandem rollback/);
    r = await cli('phase', 'advance', '--to', 'nowhere');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^TANDEM_ERR_PHASE_INVALID/);
    r = await cli('phase', 'set', 'canary');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is gated: use tandem phase advance --to canary/);
    expect(await readPhase(control)).toBe('shadow');
  });

  it('moves when every gate passes (shadow → canary)', async () => {
    await clearWindows();
    await publishComparisons(100, 0);
    const r = await cli('phase', 'advance');
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/\n {2}parity +100 % .* pass /);
    expect(r.stdout).toMatch(/phase: shadow → canary\n$/);
    expect(await readPhase(control)).toBe('canary');
    expect((await audits())[0]!.detail).toBe('shadow → canary; 5 gate(s) passed');
  });

  it('legacy_read_only: only from new_primary, with the reverse outbox drained; makes legacy refuse writes', async () => {
    const g = byName(await checkGates(m, 'legacy_read_only'));
    expect(g.phase).toMatchObject({ pass: false, figure: 'canary', threshold: '= new_primary' });
    await setPhase(control, 'new_primary', { force: true });
    const outbox = m.stores.new.controlTable('outbox');
    await m.stores.new.execute(
      `INSERT INTO ${outbox} (entity, entity_key, key_values, created_at) VALUES ('items', '2', '["2"]', ?)`,
      [new Date(Date.now() - 30_000).toISOString()],
    );
    let r = await cli('phase', 'advance');
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/\n {2}reverse_lag +\d+(\.\d)? s +< 5 s +FAIL /);
    await m.stores.new.execute(`DELETE FROM ${outbox}`);
    r = await cli('phase', 'advance');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/phase: new_primary → legacy_read_only; legacy tables read-only: items/);
    await expect(legacy.execute(`UPDATE items SET name = 'x' WHERE id = 1`)).rejects.toThrow(/tandem read-only/);
  });

  it('decommissioned: needs a verified archive (tandem archive verify records it; a tampered one clears it)', async () => {
    let r = await cli('phase', 'advance');
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/\n {2}archive +none .* FAIL +TANDEM_ERR_ARCHIVE_UNVERIFIED: no verified archive/);
    const out = join(dir, 'archive');
    await writeArchive(m, out, { tandemVersion: 'test' });
    r = await cli('archive', 'verify', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/recorded: this archive is what the decommissioned gate reads/);
    const rec = await readArchiveRecord(control);
    expect(rec).toMatchObject({ dir: out, tables: ['items'], rows: ROWS, live: true });
    expect(rec!.manifestChecksum).toMatch(/^[0-9a-f]{64}$/);
    expect((await gate('decommissioned', 'archive')).pass).toBe(true);

    // a tampered manifest row count: verify fails, the record of that folder goes, the gate fails again
    const mf = join(out, 'manifest.json');
    const text = readFileSync(mf, 'utf8');
    writeFileSync(mf, text.replace(`"rows": ${ROWS}`, `"rows": ${ROWS + 1}`));
    r = await cli('archive', 'verify', out);
    expect(r.code).toBe(1);
    expect(await readArchiveRecord(control)).toBeNull();
    expect((await gate('decommissioned', 'archive')).pass).toBe(false);
    // verified without the live tables: recorded, but not enough for decommission
    writeFileSync(mf, text);
    r = await cli('archive', 'verify', out, '--no-live');
    expect(r.code, r.stderr).toBe(0);
    const g = await gate('decommissioned', 'archive');
    expect(g.pass).toBe(false);
    expect(g.reason).toMatch(/without the live tables/);
    r = await cli('archive', 'verify', out);
    expect(r.code).toBe(0);
    r = await cli('phase', 'advance');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/phase: legacy_read_only → decommissioned/);
  });
});

describe.each([
  ['PostgreSQL', createPgDatabase, (url: string) => url],
  ['MariaDB', createMysqlDatabase, (url: string) => url],
])('guard dwell with the control plane on %s (its clock and timestamp type)', (_name, create, urlOf) => {
  let db: Awaited<ReturnType<typeof createPgDatabase>>;
  let mm: Migration;

  beforeAll(async () => {
    db = await create('tandem_gates');
    const s = await openStore(urlOf(db.url));
    await s.execute(
      'CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL, version INTEGER NOT NULL)',
    );
    await ensureControlSchema(s);
    await s.close();
    mm = await openMigration(
      {
        source: LEGACY,
        target: urlOf(db.url),
        entities: {
          items: {
            table: 'items',
            key: 'id',
            version: 'version',
            targets: [{ table: 'items', columns: { id: 'id', name: 'name', version: 'version' } }],
          },
        },
        guard: { windowSeconds: 5, minSamples: 20, cooldownSeconds: 5 },
        gates: { dwellSeconds: 5 },
      },
      { log: quiet },
    );
    await setPhase(mm.stores.control, 'canary', { force: true });
  });
  afterAll(async () => {
    await mm?.close();
    await db?.drop().catch(() => {});
  });

  it('measures how long the canary has been at 100 % from the state row, and judges the dwell', async () => {
    const c = mm.stores.control;
    await setCanaryPercent(c, 100);
    const g = async (now?: number) => byName(await checkGates(mm, 'new_primary', { now })).guard!;
    // just set: held about 0 s (a clock or time zone error would show as hours, or a negative age)
    const fresh = await g();
    expect(fresh.pass).toBe(false);
    expect(fresh.reason).toMatch(/at 100 % for [01](\.\d)? s, less than the dwell of 5 s/);
    expect((await g(Date.now() + 6000)).figure).toBe('insufficient');
    const s = stats();
    for (let i = 0; i < 25; i++) s.read({ entity: 'items', origin: 'new', outcome: 'ok', latencyMs: 2, served: true });
    await s.publish(c);
    expect(await g(Date.now() + 6000)).toMatchObject({ pass: true, figure: 'green' });
  });
});
