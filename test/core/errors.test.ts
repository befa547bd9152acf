import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, TandemError, redactUrl } from '../../src/core/errors.js';
import { parseStoreUrl } from '../../src/stores/url.js';

describe('error catalogue', () => {
  it('is documented in docs/errors.md, code by code', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    for (const k of Object.keys(ErrorCodes)) expect(doc).toContain(`TANDEM_ERR_${k}`);
  });

  it('prints one line with the code', () => {
    expect(new TandemError('TABLE_NOT_FOUND', 'x').toLine()).toBe('TANDEM_ERR_TABLE_NOT_FOUND: x');
  });

  it('keeps passwords out of URLs in messages', () => {
    expect(redactUrl('postgres://u:p%40ss@h:5432/db')).toBe('postgres://u:***@h:5432/db');
    expect(redactUrl('mysql://root@h/db')).toBe('mysql://root@h/db');
    const e = (() => {
      try {
        parseStoreUrl('oracle://u:hunter2@h/db');
      } catch (x) {
        return x as TandemError;
      }
    })();
    expect(e?.code).toBe('TANDEM_ERR_URL_SCHEME');
    expect(e?.message).not.toContain('hunter2');
  });

  it('parses every store URL form and rejects broken ones', () => {
    expect(parseStoreUrl('postgresql://h/db').dialect).toBe('postgres');
    expect(parseStoreUrl('mariadb://h/db').dialect).toBe('mysql');
    expect(parseStoreUrl('sqlite:./a.db')).toMatchObject({ dialect: 'sqlite', path: './a.db' });
    expect(parseStoreUrl('pglite:memory')).toMatchObject({ dialect: 'pglite', path: 'memory' });
    for (const bad of ['', 'postgres://h', 'sqlite:', 'nourl'])
      expect(() => parseStoreUrl(bad)).toThrow(/TANDEM_ERR_URL_INVALID|store URL/);
  });
});
