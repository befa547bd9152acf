/**
 * Step timing for the relay benchmark: wraps a Store so that every statement run on it (and on the
 * transactions it opens) is timed under a step name, and so that the connect + BEGIN and COMMIT + release of
 * its transactions are timed too. Measurement only: the wrapped store forwards everything unchanged.
 */
import { performance } from 'node:perf_hooks';
import type { Executor, Row, Store } from '../src/stores/types.js';

export interface StepStat {
  ms: number;
  count: number;
  rows: number;
}

export class StepProfile {
  readonly steps = new Map<string, StepStat>();

  add(step: string, ms: number, rows = 0): void {
    const s = this.steps.get(step) ?? { ms: 0, count: 0, rows: 0 };
    s.ms += ms;
    s.count++;
    s.rows += rows;
    this.steps.set(step, s);
  }

  total(): number {
    let t = 0;
    for (const s of this.steps.values()) t += s.ms;
    return t;
  }
}

/** Names the step of a statement. */
export type Classifier = (sql: string) => string;

function timedExecutor(ex: Executor, classify: Classifier, prof: StepProfile): Executor {
  return {
    async query<T extends Row = Row>(sql: string, params?: unknown[]): Promise<T[]> {
      const s = performance.now();
      let n = 0;
      try {
        const rows = await ex.query<T>(sql, params);
        n = rows.length;
        return rows;
      } finally {
        prof.add(classify(sql), performance.now() - s, n);
      }
    },
    async execute(sql: string, params?: unknown[]): Promise<number> {
      const s = performance.now();
      let n = 0;
      try {
        n = await ex.execute(sql, params);
        return n;
      } finally {
        prof.add(classify(sql), performance.now() - s, n);
      }
    },
  };
}

/**
 * A Store that times its statements (autocommit and in transactions) under `classify(sql)`, and its
 * transactions' `<prefix> connect + BEGIN` and `<prefix> COMMIT + release`.
 */
export function timedStore(store: Store, prefix: string, classify: Classifier, prof: StepProfile): Store {
  return {
    ...store,
    ...timedExecutor(store, classify, prof),
    async transaction<T>(fn: (tx: Executor) => Promise<T>): Promise<T> {
      const start = performance.now();
      let fnEnd = 0;
      try {
        return await store.transaction(async (tx) => {
          prof.add(`${prefix} connect + BEGIN`, performance.now() - start);
          try {
            return await fn(timedExecutor(tx, classify, prof));
          } finally {
            fnEnd = performance.now();
          }
        });
      } finally {
        if (fnEnd) prof.add(`${prefix} COMMIT/ROLLBACK + release`, performance.now() - fnEnd);
      }
    },
  };
}

/** Steps of the relay on the primary (MariaDB). */
export const classifyPrimary: Classifier = (sql) => {
  if (/FOR UPDATE SKIP LOCKED/i.test(sql)) return 'primary: claim (SELECT … FOR UPDATE SKIP LOCKED)';
  if (/^DELETE FROM `tandem_outbox`/i.test(sql)) return 'primary: outbox delete (acknowledge)';
  if (/^UPDATE `tandem_outbox`/i.test(sql)) return 'primary: outbox retry bookkeeping';
  if (/count\(\*\).*tandem_outbox/i.test(sql)) return 'primary: outbox lag (count, untilEmpty)';
  if (/^SELECT .* FROM `users`/is.test(sql)) return 'primary: re-read of primary rows';
  return `primary: other (${sql.slice(0, 40)})`;
};

/** Steps of the relay on the secondary (PostgreSQL). */
export const classifySecondary: Classifier = (sql) => {
  if (/version_ledger/i.test(sql)) return 'secondary: ledger advance';
  if (/SAVEPOINT/i.test(sql)) return 'secondary: SAVEPOINT / RELEASE';
  if (/^INSERT INTO "public"\."users"/i.test(sql)) return 'secondary: upsert users';
  if (/^INSERT INTO "public"\."user_profiles"/i.test(sql)) return 'secondary: upsert user_profiles';
  if (/^DELETE FROM/i.test(sql)) return 'secondary: deletes';
  return `secondary: other (${sql.slice(0, 40)})`;
};
