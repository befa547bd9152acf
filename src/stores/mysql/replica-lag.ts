import { TandemError } from '../../core/errors.js';
import type { Executor, ReplicaLag, Row } from '../types.js';

const LAG_COLUMNS = ['Seconds_Behind_Source', 'Seconds_Behind_Master'];

/**
 * {@link Store.replicaLag} on MySQL/MariaDB: the store is the replica. `SHOW REPLICA STATUS` (MariaDB ≥ 10.5.1,
 * MySQL ≥ 8.0.22), else `SHOW SLAVE STATUS`; the largest `Seconds_Behind_Source`/`Seconds_Behind_Master` over
 * the rows (channels). An empty answer (not a replica) or a NULL lag (a replication thread stopped) throws
 * TANDEM_ERR_THROTTLE_CHECK_FAILED: the lag is unknown.
 * @internal
 */
export async function replicaLagMysql(db: Executor, redactedUrl: string): Promise<ReplicaLag> {
  let rows: Row[];
  try {
    rows = await db.query('SHOW REPLICA STATUS');
  } catch {
    rows = await db.query('SHOW SLAVE STATUS');
  }
  if (!rows.length)
    throw new TandemError(
      'THROTTLE_CHECK_FAILED',
      `${redactedUrl} is not a replica (SHOW REPLICA STATUS is empty): replica lag unknown`,
      { check: 'replica-lag' },
    );
  let worst = -1;
  for (const r of rows) {
    const col = LAG_COLUMNS.find((c) => c in r);
    const v = col ? r[col] : undefined;
    if (v === null || v === undefined || v === '')
      throw new TandemError(
        'THROTTLE_CHECK_FAILED',
        `replication on ${redactedUrl} is not running (${col ?? 'Seconds_Behind_Master'} is NULL): replica lag unknown`,
        { check: 'replica-lag' },
      );
    worst = Math.max(worst, Number(v));
  }
  return { seconds: worst, replica: redactedUrl };
}
