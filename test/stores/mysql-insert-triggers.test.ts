import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/stores/index.js';
import type { Store } from '../../src/stores/types.js';
import { createMysqlDatabase } from '../helpers.js';

/**
 * Issue 13 item 6, met in Sakila's round trip: MariaDB's Sakila has BEFORE INSERT triggers that stamp a column
 * (`SET NEW.payment_date = NOW()`). An `INSERT … ON DUPLICATE KEY UPDATE` fires them even when the row exists,
 * and `VALUES(c)` then carries what they set, so every row the reverse relay updated got a new date. The row
 * write by key updates existing rows with a plain UPDATE: only UPDATE triggers fire, the values land as written.
 */
describe('MariaDB row write by key and BEFORE INSERT triggers', () => {
  let db: Awaited<ReturnType<typeof createMysqlDatabase>>;
  let store: Store;

  beforeAll(async () => {
    db = await createMysqlDatabase('tandem_insert_trg');
    store = await openStore(db.url);
    await store.execute(
      'CREATE TABLE payment (id int PRIMARY KEY, amount decimal(5,2) NOT NULL, paid datetime NOT NULL)',
    );
    await store.execute("INSERT INTO payment VALUES (1, 2.99, '2005-05-25 11:30:37')");
    await store.execute(
      "CREATE TRIGGER payment_date BEFORE INSERT ON payment FOR EACH ROW SET NEW.paid = '1999-01-01'",
    );
  });
  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });

  const rows = async () =>
    await store.query<{ id: number; amount: string; paid: string }>(
      `SELECT id, amount, DATE_FORMAT(paid, '%Y-%m-%d %T') AS paid FROM payment ORDER BY id`,
    );

  it('updates an existing row without the INSERT trigger rewriting it; a new row still meets the trigger', async () => {
    const schema = await store.introspect();
    const t = schema.tables.get('payment')!;
    const columns = ['id', 'amount', 'paid'];
    const columnInfo = columns.map((c) => t.columns.find((x) => x.name === c)!);
    await store.transaction((tx) =>
      store.upsert!(tx, {
        table: 'payment',
        columns,
        key: ['id'],
        rows: [
          [1, '7.77', '2005-05-25 11:30:37'],
          [2, '3.99', '2006-02-20 10:05:00'],
        ],
        columnInfo,
      }),
    );
    expect(await rows()).toEqual([
      { id: 1, amount: '7.77', paid: '2005-05-25 11:30:37' },
      // MariaDB cannot turn user triggers off per session: an inserted row gets the trigger's value
      { id: 2, amount: '3.99', paid: '1999-01-01 00:00:00' },
    ]);
  });
});
