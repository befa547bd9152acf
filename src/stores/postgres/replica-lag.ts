import { TandemError } from '../../core/errors.js';
import type { Executor, ReplicaLag } from '../types.js';

const failed = (message: string) => new TandemError('THROTTLE_CHECK_FAILED', message, { check: 'replica-lag' });

/**
 * {@link Store.replicaLag} on PostgreSQL. With `replicaName` the store is the primary: `replay_lag` of the
 * `pg_stat_replication` row whose `application_name` is `replicaName` (null while `streaming`: nothing left to
 * replay, 0; no such row: the standby is not connected, unknown). Without it the store is a standby
 * (`pg_is_in_recovery()`): 0 when all WAL received is replayed, else `now() - pg_last_xact_replay_timestamp()`.
 * Unknown lags throw TANDEM_ERR_THROTTLE_CHECK_FAILED.
 * @internal
 */
export async function replicaLagPg(db: Executor, redactedUrl: string, replicaName?: string): Promise<ReplicaLag> {
  if (replicaName) {
    const r = await db.query<{ lag: unknown; state: unknown }>(
      'SELECT extract(epoch FROM replay_lag)::float8 AS lag, state FROM pg_stat_replication WHERE application_name = $1 ORDER BY replay_lag DESC NULLS LAST LIMIT 1',
      [replicaName],
    );
    const row = r[0];
    if (!row)
      throw failed(`no standby named ${JSON.stringify(replicaName)} in pg_stat_replication of ${redactedUrl}`);
    if (row.lag === null) {
      if (row.state === 'streaming') return { seconds: 0, replica: replicaName };
      throw failed(`standby ${JSON.stringify(replicaName)} is ${String(row.state)}, not streaming: replica lag unknown`);
    }
    return { seconds: Number(row.lag), replica: replicaName };
  }
  const r = await db.query<{ standby: unknown; lag: unknown }>(
    `SELECT pg_is_in_recovery() AS standby,
            CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                 ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END AS lag`,
  );
  const row = r[0];
  if (!row?.standby)
    throw failed(`${redactedUrl} is not a standby (pg_is_in_recovery() is false); set replicaName to watch a standby from its primary`);
  if (row.lag === null) throw failed(`standby ${redactedUrl} has replayed no transaction yet: replica lag unknown`);
  return { seconds: Math.max(0, Number(row.lag)), replica: redactedUrl };
}
