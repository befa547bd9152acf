import pg from 'pg';
import { fromPg } from './src/capture/adapters.js';
import { createDualWriter } from './src/capture/writer.js';
import { createLogger } from './src/core/logger.js';
const cfg = '/tmp/sk1/x2.config.ts';
const app = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/tmp_sakila_pg_x2' });
await app.connect();
const dual = await createDualWriter({ config: cfg, budgetMs: 0, log: createLogger({ level: 'silent' }) });
await dual.write(fromPg(app), async (tx) => {
  await app.query(`UPDATE film SET rating = 'NC-17', special_features = 'Trailers,Commentaries', release_year = 2007, title = 'ACADEMY DINOSAUR II' WHERE film_id = 1`);
  await app.query(`UPDATE film SET special_features = '', rating = NULL WHERE film_id = 2`);
  tx.changed('film', 1); tx.changed('film', 2);
});
let lang = 0;
await dual.write(fromPg(app), async (tx) => {
  await app.query(`UPDATE language SET name = 'Klingon' WHERE language_id = 2`);
  const r = await app.query(`INSERT INTO language (name) VALUES ('Esperanto') RETURNING language_id`);
  lang = r.rows[0].language_id;
  tx.changed('language', 2); tx.changed('language', lang);
});
await dual.write(fromPg(app), async (tx) => {
  await app.query(`UPDATE staff SET picture = $1, active = false WHERE staff_id = 2`, [Buffer.from([0, 255, 16, 0])]);
  await app.query(`UPDATE actor SET first_name = 'PENÉLOPE ☃' WHERE actor_id = 1`);
  await app.query(`UPDATE customer SET active = false, email = NULL WHERE customer_id = 1`);
  tx.changed('staff', 2); tx.changed('actor', 1); tx.changed('customer', 1);
});
await dual.write(fromPg(app), async (tx) => {
  const r = await app.query(`UPDATE payment SET amount = 7.77 WHERE payment_id = 1 RETURNING payment_date`);
  tx.changed('payment', [r.rows[0].payment_date, 1]);
});
console.log('lang', lang);
await dual.close(); await app.end();
