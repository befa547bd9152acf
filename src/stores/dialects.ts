import { mysqlCapabilities, mysqlSql } from './mysql/sql.js';
import { postgresCapabilities, postgresSql } from './postgres/sql.js';
import { sqliteCapabilities, sqliteSql } from './sqlite/sql.js';
import type { Dialect, SqlDialect, StoreCapabilities } from './types.js';

/**
 * Per-dialect facts for code that holds a dialect name but no open store: the application's own connection
 * (capture adapters), a URL not yet opened (config checks). Loads no driver.
 */

/** The SQL builders of `dialect` (PostgreSQL: tables of schema `public`). The same builders a store of it has. */
export function sqlFor(dialect: Dialect): SqlDialect {
  switch (dialect) {
    case 'postgres':
    case 'pglite':
      return dialect === 'pglite' ? { ...postgresSql('public'), asyncCommit: null } : postgresSql('public');
    case 'mysql':
      return mysqlSql();
    case 'sqlite':
      return sqliteSql;
  }
}

/** What a store of `dialect` can do (the `capabilities` of the store `openStore` gives for it). */
export function capabilitiesFor(dialect: Dialect): StoreCapabilities {
  return dialect === 'mysql' ? mysqlCapabilities : dialect === 'sqlite' ? sqliteCapabilities : postgresCapabilities;
}

/** A dialect family: PGlite is PostgreSQL. */
export type Family = 'pg' | 'mysql' | 'sqlite';

/**
 * The dialect family of `dialect` (PGlite is PostgreSQL). Kept for callers of the control-schema migrations.
 * @internal
 */
export function familyOf(dialect: Dialect | Family): Family {
  return dialect === 'mysql' ? 'mysql' : dialect === 'sqlite' ? 'sqlite' : 'pg';
}

/**
 * The SQL builders of a dialect family (see {@link sqlFor}).
 * @internal
 */
export function sqlForFamily(family: Dialect | Family): SqlDialect {
  const f = familyOf(family);
  return sqlFor(f === 'pg' ? 'postgres' : f);
}

/**
 * The name of a control table of a store of `dialect`, quoted: `"tandem"."<name>"` where there are schemas,
 * else `tandem_<name>` (the `controlTable` of such a store).
 * @internal
 */
export function controlTableFor(dialect: Dialect, name: string): string {
  const sql = sqlFor(dialect);
  return capabilitiesFor(dialect).schemas ? `${sql.ident('tandem')}.${sql.ident(name)}` : sql.ident(`tandem_${name}`);
}
