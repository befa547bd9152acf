/**
 * The chaos harness's own record of what the application did, kept apart from anything Tandem stores: per entity
 * and key, every committed write (the version it wrote, a digest of the values it wrote, commit time), every
 * committed delete, every write that failed (rolled back), and writes whose commit outcome is unknown (the
 * connection died during COMMIT: either outcome is right). The judge derives the expected final state from it.
 */

/** One write as the application made it. `at`: ms since the writers started (negative for seeded rows). */
export interface WriteRecord {
  version: bigint;
  digest: string;
  at: number;
}

/** What the history knows about one key. */
export interface KeyHistory {
  committed: WriteRecord[];
  /** Commit time of the delete (keys are never reused after one). */
  deletedAt?: number;
  failed: WriteRecord[];
  /** Writes whose COMMIT may or may not have happened; a delete is `digest: 'deleted'`. */
  uncertain: WriteRecord[];
}

/** The expected state of a key: present with (version, digest), or deleted. `alternatives`: uncertain outcomes. */
export type Expected =
  | { present: true; version: bigint; digest: string; alternatives: WriteRecord[] }
  | { present: false; alternatives: WriteRecord[] };

export class History {
  private readonly keys = new Map<string, Map<string, KeyHistory>>();
  /** Counts, for the report. */
  readonly counts = { committed: 0, deleted: 0, failed: 0, uncertain: 0 };

  private of(entity: string, key: string): KeyHistory {
    let m = this.keys.get(entity);
    if (!m) this.keys.set(entity, (m = new Map()));
    let h = m.get(key);
    if (!h) m.set(key, (h = { committed: [], failed: [], uncertain: [] }));
    return h;
  }

  /** A committed write (insert or update) of `key`. */
  commit(entity: string, key: string, w: WriteRecord): void {
    this.of(entity, key).committed.push(w);
    this.counts.committed++;
  }

  /** A committed delete of `key`. */
  delete(entity: string, key: string, at: number): void {
    this.of(entity, key).deletedAt = at;
    this.counts.deleted++;
  }

  /** A write that rolled back. */
  fail(entity: string, key: string, w: WriteRecord): void {
    this.of(entity, key).failed.push(w);
    this.counts.failed++;
  }

  /** A write (or, with `digest: 'deleted'`, a delete) whose commit outcome is unknown. */
  uncertain(entity: string, key: string, w: WriteRecord): void {
    this.of(entity, key).uncertain.push(w);
    this.counts.uncertain++;
  }

  /** True when `key` was ever written or seeded (so it may not be reused by an insert). */
  has(entity: string, key: string): boolean {
    return this.keys.get(entity)?.has(key) ?? false;
  }

  /** True when a delete of `key` committed at or before `at`. */
  deletedBy(entity: string, key: string, at: number): boolean {
    const d = this.keys.get(entity)?.get(key)?.deletedAt;
    return d !== undefined && d <= at;
  }

  /** The entities and keys known. */
  entities(): string[] {
    return [...this.keys.keys()];
  }

  get(entity: string, key: string): KeyHistory | undefined {
    return this.keys.get(entity)?.get(key);
  }

  /** Every key of `entity` with its history. */
  keysOf(entity: string): Map<string, KeyHistory> {
    return this.keys.get(entity) ?? new Map();
  }

  /**
   * The expected final state of `key`, from the history alone: deleted if a delete committed; else the committed
   * write with the highest version (writes of a key are serialized by its row lock, so versions grow with commits).
   */
  expected(entity: string, key: string): Expected {
    const h = this.get(entity, key);
    const alternatives = h?.uncertain ?? [];
    if (!h || h.deletedAt !== undefined || !h.committed.length) return { present: false, alternatives };
    let last = h.committed[0]!;
    for (const w of h.committed) if (w.version > last.version) last = w;
    return { present: true, version: last.version, digest: last.digest, alternatives };
  }

  /** A short text of a key's history, for the report of a lost key (versions, digests' first 8 hex, times). */
  describe(entity: string, key: string): string {
    const h = this.get(entity, key);
    if (!h) return 'no history';
    const w = (x: WriteRecord) => `v${x.version}@${Math.round(x.at)}ms:${x.digest.slice(0, 8)}`;
    return [
      `committed=[${h.committed.slice(-6).map(w).join(' ')}]${h.committed.length > 6 ? ` (+${h.committed.length - 6} earlier)` : ''}`,
      h.deletedAt !== undefined ? `deleted@${Math.round(h.deletedAt)}ms` : '',
      h.failed.length ? `failed=[${h.failed.slice(-3).map(w).join(' ')}]` : '',
      h.uncertain.length ? `uncertain=[${h.uncertain.map(w).join(' ')}]` : '',
    ]
      .filter(Boolean)
      .join(' ');
  }
}
