import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTandemError } from '../../src/core/errors.js';
import { type ArchiveManifest, MANIFEST_FILE, verifyArchive, writeArchive } from '../../src/cutover/archive.js';
import { openMigration, type Migration } from '../../src/runtime/migration.js';
import { openStore } from '../../src/stores/index.js';
import { createLegacyMysql, createNewPostgres, fixtureConfig } from '../fixtures.js';
import { createMysqlDatabase, createPgDatabase, runCli, writeConfig } from '../helpers.js';
import { quiet } from '../runtime/helpers.js';

/**
 * `tandem archive` and `tandem archive verify` on real stores: the archive of the MariaDB fixture (20 orgs, 300
 * users, 100 memberships) and of an SQLite table verifies against its manifest and the live tables; a file with
 * one byte changed, a row changed inside a well-formed gzip (with and without the manifest's sha256 fixed up to
 * match), a missing file and a live table changed since are each detected with the table named; archive writes
 * nothing to legacy and refuses a folder that is not empty without --force.
 */

const readManifest = (dir: string) => JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')) as ArchiveManifest;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const copy = (dir: string, base: string, name: string) => {
  const to = join(base, name);
  cpSync(dir, to, { recursive: true });
  return to;
};

describe('archive of a MariaDB legacy store', () => {
  let src: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let tgt: Awaited<ReturnType<typeof createPgDatabase>>;
  let cfg: string;
  let app: mysql.Connection;
  const base = mkdtempSync(join(tmpdir(), 'tandem-archive-'));
  const out = join(base, 'archive');

  /** The legacy database's tables and their contents' checksums: archive must leave them as they are. */
  async function legacySnapshot(): Promise<unknown> {
    const [tables] = await app.query<mysql.RowDataPacket[]>(
      `SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1`,
    );
    const [sums] = await app.query<mysql.RowDataPacket[]>('CHECKSUM TABLE orgs, users, memberships EXTENDED');
    const [triggers] = await app.query<mysql.RowDataPacket[]>(
      `SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()`,
    );
    return { tables, sums, triggers };
  }

  beforeAll(async () => {
    src = await createMysqlDatabase('tandem_arch_src');
    await createLegacyMysql(src.url, 300);
    tgt = await createPgDatabase('tandem_arch_tgt');
    await createNewPostgres(tgt.url);
    cfg = writeConfig(fixtureConfig(src.url, tgt.url));
    app = await mysql.createConnection({ uri: src.url });
  });
  afterAll(async () => {
    await app?.end();
    await src?.drop().catch(() => {});
    await tgt?.drop().catch(() => {});
    rmSync(base, { recursive: true, force: true });
  });

  it("writes one gzip'd NDJSON file per table and a manifest, writing nothing to legacy", async () => {
    const before = await legacySnapshot();
    const r = await runCli(['archive', '--out', out, '--page-rows', '64', '--config', cfg]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/archive written: .* \(3 table\(s\), 420 rows\)/);
    // the tables are not read-only: the operator is told rows may be missed
    expect(r.stderr).toMatch(/^note: legacy table\(s\) orgs, users, memberships are not read-only/);
    expect(await legacySnapshot()).toEqual(before);

    const manifest = readManifest(out);
    expect(manifest).toMatchObject({ format: 'tandem-archive/1', checksumAlgorithm: expect.stringMatching(/md5/) });
    expect(manifest.source).toMatch(/^mysql:\/\/root@127\.0\.0\.1:3306\//);
    expect(manifest.tandemVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(manifest.tables.map((t) => [t.table, t.file, t.rows, t.entities])).toEqual([
      ['orgs', '01-orgs.ndjson.gz', 20, ['orgs']],
      ['users', '02-users.ndjson.gz', 300, ['users']],
      ['memberships', '03-memberships.ndjson.gz', 100, ['memberships']],
    ]);
    expect(readdirSync(out).sort()).toEqual([
      '01-orgs.ndjson.gz',
      '02-users.ndjson.gz',
      '03-memberships.ndjson.gz',
      MANIFEST_FILE,
    ]);
    for (const t of manifest.tables) {
      const bytes = readFileSync(join(out, t.file));
      expect(t.bytes).toBe(bytes.length);
      expect(t.sha256).toBe(sha256(bytes));
      expect(t.checksum).toMatch(/^[0-9a-f]{16}$/);
    }
    // the rows are the table's, every column, in key order, in canonical text
    const lines = gunzipSync(readFileSync(join(out, '02-users.ndjson.gz')))
      .toString('utf8')
      .trimEnd()
      .split('\n');
    const header = JSON.parse(lines[0]!);
    expect(header.columns.map((c: { name: string }) => c.name)).toEqual([
      'id',
      'org_id',
      'email',
      'first_name',
      'last_name',
      'bio',
      'status',
      'balance',
      'password_hash',
      'created_at',
      'updated_at',
      'version',
    ]);
    expect(lines.length).toBe(301);
    const [rows] = await app.query<mysql.RowDataPacket[]>(
      `SELECT id, email, balance, DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%s.%fZ') AS created FROM users ORDER BY id LIMIT 2`,
    );
    for (const [i, row] of rows.entries()) {
      const values = JSON.parse(lines[i + 1]!);
      expect([values[0], values[2], values[7], values[9]]).toEqual([
        String(row.id),
        row.email,
        row.balance,
        row.created,
      ]);
    }
  });

  it('verifies against the manifest and the live tables; refuses a folder that is not empty without --force', async () => {
    const r = await runCli(['archive', 'verify', out, '--config', cfg]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /ok\s+users\s+02-users\.ndjson\.gz\s+300 rows\s+checksum [0-9a-f]{16}\s+\(file ✓, live table ✓\)/,
    );
    expect(r.stdout).toMatch(/archive verified: 3 table\(s\) match the manifest and the live tables/);

    const listing = readdirSync(out).sort();
    const figures = readManifest(out).tables.map((t) => [t.table, t.rows, t.checksum, t.sha256]);
    const refused = await runCli(['archive', '--out', out, '--config', cfg]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^TANDEM_ERR_ARCHIVE_DIR_NOT_EMPTY: archive folder .* is not empty/m);
    expect(readdirSync(out).sort()).toEqual(listing);
    const forced = await runCli(['archive', '--out', out, '--force', '--config', cfg]);
    expect(forced.code).toBe(0);
    // written again over the same files: the same rows, checksums and bytes (gzip output is deterministic)
    expect(readManifest(out).tables.map((t) => [t.table, t.rows, t.checksum, t.sha256])).toEqual(figures);

    const none = await runCli(['archive', 'verify', join(base, 'no-such-archive'), '--config', cfg]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^TANDEM_ERR_ARCHIVE_INVALID: .* holds no manifest\.json/);
  });

  it('detects a file with one byte changed, naming the table (exit 1)', async () => {
    const dir = copy(out, base, 'byte');
    const file = join(dir, '02-users.ndjson.gz');
    const b = readFileSync(file);
    const at = Math.floor(b.length / 2);
    b[at] = b[at]! ^ 0x01;
    writeFileSync(file, b);
    const r = await runCli(['archive', 'verify', dir, '--config', cfg]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/DIFF\s+users\s+sha256 of 02-users\.ndjson\.gz is [0-9a-f]{64}, the manifest says/);
    // gzip's own CRC catches the flipped bit as well
    expect(r.stdout).toMatch(/DIFF\s+users\s+02-users\.ndjson\.gz cannot be read \(incorrect data check\)/);
    expect(r.stdout).toMatch(/ok\s+orgs/);
    expect(r.stdout).toMatch(/ok\s+memberships/);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('archive differs: users');
  });

  it("detects one row changed inside a well-formed gzip, even with the manifest's sha256 and size fixed up", async () => {
    const dir = copy(out, base, 'row');
    const file = join(dir, '02-users.ndjson.gz');
    const lines = gunzipSync(readFileSync(file)).toString('utf8').split('\n');
    const row = JSON.parse(lines[5]!);
    row[2] = `x${row[2]}`; // the email of one user
    lines[5] = JSON.stringify(row);
    const tampered = gzipSync(Buffer.from(lines.join('\n')));
    writeFileSync(file, tampered);
    const first = await verifyArchive(dir);
    const users = first.tables.find((t) => t.table === 'users')!;
    expect(first.ok).toBe(false);
    expect(users.problems.some((p) => p.startsWith('sha256 of 02-users.ndjson.gz'))).toBe(true);
    expect(users.problems.some((p) => p.startsWith('checksum of the rows of 02-users.ndjson.gz'))).toBe(true);
    expect(users.file_rows).toBe(300);

    const manifest = readManifest(dir);
    const entry = manifest.tables.find((t) => t.table === 'users')!;
    entry.sha256 = sha256(tampered);
    entry.bytes = tampered.length;
    writeFileSync(join(dir, MANIFEST_FILE), JSON.stringify(manifest));
    const second = await verifyArchive(dir);
    expect(second.ok).toBe(false);
    expect(second.tables.find((t) => t.table === 'users')!.problems).toEqual([
      expect.stringMatching(
        /^checksum of the rows of 02-users\.ndjson\.gz is [0-9a-f]{16}, the manifest says [0-9a-f]{16}$/,
      ),
    ]);
    expect(second.tables.filter((t) => t.problems.length).map((t) => t.table)).toEqual(['users']);
  });

  it('detects a missing file and a live table changed since the archive', async () => {
    const dir = copy(out, base, 'missing');
    unlinkSync(join(dir, '01-orgs.ndjson.gz'));
    const missing = await verifyArchive(dir);
    expect(missing.tables.find((t) => t.table === 'orgs')!.problems).toEqual(['file 01-orgs.ndjson.gz is missing']);
    expect(missing.ok).toBe(false);

    await app.query(`UPDATE memberships SET role = 'owner' WHERE org_id = 1 LIMIT 1`);
    const r = await runCli(['archive', 'verify', out, '--config', cfg]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /DIFF\s+memberships\s+the live table's checksum is [0-9a-f]{16}, the archive's [0-9a-f]{16}/,
    );
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('archive differs: memberships');
    // the files alone still match their manifest
    const filesOnly = await runCli(['archive', 'verify', out, '--no-live', '--config', cfg]);
    expect(filesOnly.code).toBe(0);
    expect(filesOnly.stdout).toMatch(/live tables not compared: --no-live/);
  });
});

describe('archive of an SQLite legacy store', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-archive-sqlite-'));
  let m: Migration;

  beforeAll(async () => {
    const legacy = await openStore(`sqlite:${join(dir, 'legacy.db')}`);
    await legacy.execute(
      `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price NUMERIC, weight REAL, photo BLOB, note TEXT)`,
    );
    for (let i = 1; i <= 250; i++) {
      await legacy.execute(`INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)`, [
        i,
        `item ${i} | ~ ☃`,
        `${i}.50`,
        i / 3,
        Buffer.from([i % 256, 0, 255]),
        i % 7 ? null : '',
      ]);
    }
    await legacy.close();
    const next = await openStore(`sqlite:${join(dir, 'new.db')}`);
    await next.execute(`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)`);
    await next.close();
    m = await openMigration(
      {
        source: `sqlite:${join(dir, 'legacy.db')}`,
        target: `sqlite:${join(dir, 'new.db')}`,
        entities: {
          items: { table: 'items', key: 'id', targets: [{ table: 'items', columns: { id: 'id', name: 'name' } }] },
        },
      },
      { log: quiet },
    );
  });
  afterAll(async () => {
    await m?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('archives every column losslessly and verifies; a changed byte is detected', async () => {
    const out = join(dir, 'archive');
    const manifest = await writeArchive(m, out, { pageRows: 40, tandemVersion: 'test' });
    expect(manifest.tables.map((t) => [t.table, t.rows])).toEqual([['items', 250]]);
    const lines = gunzipSync(readFileSync(join(out, manifest.tables[0]!.file)))
      .toString('utf8')
      .trimEnd()
      .split('\n');
    // NUMERIC affinity stored '7.50' as the number 7.5: the archive holds what SQLite holds
    expect(JSON.parse(lines[7]!)).toEqual(['7', 'item 7 | ~ ☃', '7.5', String(7 / 3), '0700ff', '']);
    expect(JSON.parse(lines[1]!)).toEqual(['1', 'item 1 | ~ ☃', '1.5', String(1 / 3), '0100ff', null]);
    const ok = await verifyArchive(out, { live: m.stores.legacy, pageRows: 33 });
    expect(ok).toMatchObject({ ok: true, live: true });
    expect(ok.tables[0]).toMatchObject({
      problems: [],
      file_rows: 250,
      live: { rows: 250, checksum: manifest.tables[0]!.checksum },
    });

    await expect(writeArchive(m, out)).rejects.toSatisfy((e) => isTandemError(e, 'ARCHIVE_DIR_NOT_EMPTY'));
    const file = join(out, manifest.tables[0]!.file);
    const b = readFileSync(file);
    b[b.length - 12] = b[b.length - 12]! ^ 0x10;
    writeFileSync(file, b);
    const bad = await verifyArchive(out, { live: m.stores.legacy });
    expect(bad.ok).toBe(false);
    expect(bad.tables[0]!.problems[0]).toMatch(/^sha256 of 01-items\.ndjson\.gz is [0-9a-f]{64}, the manifest says/);
  });
});
