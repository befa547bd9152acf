import { parseStoreUrl } from './url.js';
import type { Store } from './types.js';

export type * from './types.js';
export { parseStoreUrl } from './url.js';
export { canonicalHost, sameStore, storeIdentity } from './identity.js';
export type * from './prepare.js';
export { classifyError, isTransientKind } from './errors.js';
export { capabilitiesFor, sqlFor } from './dialects.js';
export { isUniqueViolation } from './common.js';

/**
 * Opens a store from its URL (see {@link parseStoreUrl} for the forms) and checks that it answers.
 * Throws `TANDEM_ERR_URL_*` for a bad URL, `TANDEM_ERR_STORE_UNREACHABLE`, `TANDEM_ERR_STORE_AUTH` or
 * `TANDEM_ERR_STORE_DATABASE_NOT_FOUND` when the server cannot be used. The driver is loaded on demand.
 */
export async function openStore(url: string): Promise<Store> {
  const parsed = parseStoreUrl(url);
  switch (parsed.dialect) {
    case 'postgres':
      return (await import('./postgres/index.js')).openPostgres(parsed);
    case 'mysql':
      return (await import('./mysql/index.js')).openMysql(parsed);
    case 'sqlite':
      return (await import('./sqlite/index.js')).openSqlite(parsed);
    case 'pglite':
      return (await import('./pglite/index.js')).openPglite(parsed);
  }
}
