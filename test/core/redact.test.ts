import { describe, expect, it } from 'vitest';
import { redactUrl as redactFromErrors } from '../../src/core/errors.js';
import { redactDeep, redactText, redactUrl, safeDriverError, scrubMessage } from '../../src/core/redact.js';
import { parseStoreUrl } from '../../src/stores/url.js';

/** Every run of 3+ characters of `secret` (so "8 of 10 characters" is caught, not only the whole secret). */
function expectNoPart(text: string, secret: string, min = 3): void {
  for (let i = 0; i + min <= secret.length; i++)
    expect(text, `"${text}" holds "${secret.slice(i, i + min)}" of the secret`).not.toContain(secret.slice(i, i + min));
}

describe('redactUrl', () => {
  it('is the function errors.ts exports', () => {
    expect(redactFromErrors).toBe(redactUrl);
  });

  it('hides a password holding "@" (the whole of it, not up to the first "@")', () => {
    const out = redactUrl('mysql://u:p@ssWRONG@host/db');
    expect(out).toBe('mysql://u:***@host/db');
    expectNoPart(out, 'p@ssWRONG');
  });

  it('hides passwords holding ":", "/", "?", "#" and percent-encoding', () => {
    expect(redactUrl('postgres://u:a:b:c@h:5432/db')).toBe('postgres://u:***@h:5432/db');
    expect(redactUrl('postgres://u:p%40ss%3Aw%2Fd@h:5432/db')).toBe('postgres://u:***@h:5432/db');
    expect(redactUrl('postgres://u:12/34@h/db')).toBe('postgres://u:***@h/db');
    expect(redactUrl('postgres://u:pa?ss@h/db')).toBe('postgres://u:***@h/db');
    expect(redactUrl('postgres://u:pa#ss@h/db')).toBe('postgres://u:***@h/db');
    expect(redactUrl('mariadb://us%40er:pw@[::1]:3306/db')).toBe('mariadb://us%40er:***@[::1]:3306/db');
    expect(redactUrl('redis://:s3cretXY@h:6379')).toBe('redis://:***@h:6379');
  });

  it('keeps a userinfo without password (the user name), except a token in the user position', () => {
    expect(redactUrl('mysql://root@h/db')).toBe('mysql://root@h/db');
    expect(redactUrl('postgres://h/db')).toBe('postgres://h/db');
    expect(redactUrl('nats://s3cr3tTOKEN@h:4222')).toBe('nats://***@h:4222');
    expect(redactUrl('postgres://h/db?user=a@b')).toBe('postgres://h/db?user=a@b');
  });

  it('hides secret query parameters and keeps the others', () => {
    const out = redactUrl(
      'postgres://u@h/db?schema=app&password=hunter22&sslmode=require&sslpassword=kq9z77&sslkey=/k/cl1ent.pem&token=t0q123&api_key=ak456&access_token=at789&apiKey=ak000',
    );
    expect(out).toBe(
      'postgres://u@h/db?schema=app&password=***&sslmode=require&sslpassword=***&sslkey=***&token=***&api_key=***&access_token=***&apiKey=***',
    );
    for (const s of ['hunter22', 'kq9z77', 'cl1ent.pem', 't0q123', 'ak456', 'at789', 'ak000']) expectNoPart(out, s);
    expect(redactUrl('mysql://u:pw@h/db?ssl={"key":"PRIVATE","passphrase":"pp"}&connectTimeout=5')).toBe(
      'mysql://u:***@h/db?ssl=***&connectTimeout=5',
    );
    expect(redactUrl('mysql://h/db?ssl=true')).toBe('mysql://h/db?ssl=true');
    expect(redactUrl('sqlite:file:a.db?key=sqlcipherkey&mode=ro')).toBe('sqlite:file:a.db?key=***&mode=ro');
    expect(redactUrl('postgres://h/db?Pass%77ord=x1y2z3')).not.toContain('x1y2z3');
  });

  it('is what parseStoreUrl puts in every message', () => {
    const e = (() => {
      try {
        parseStoreUrl('oracle://u:p@ssWRONG@h/db?password=qq1234');
      } catch (x) {
        return x as Error;
      }
    })();
    expect(e?.message).toContain('oracle://u:***@h/db?password=***');
    expectNoPart(e!.message, 'p@ssWRONG');
    expectNoPart(e!.message, 'qq1234');
    expect(parseStoreUrl('postgres://u:p@ssWRONG@h/db').redacted).toBe('postgres://u:***@h/db');
  });
});

describe('redactText', () => {
  it('redacts every URL inside a text and password= pairs', () => {
    const t = redactText(
      "connect to mysql://u:p@ssWRONG@h/db failed; fallback postgres://a:b%40c@h2/x?token=zz9 (password=hunter22 sslpassword='q w')",
    );
    expect(t).toBe(
      'connect to mysql://u:***@h/db failed; fallback postgres://a:***@h2/x?token=*** (password=*** sslpassword=***)',
    );
  });

  it('walks objects (audit args, log fields)', () => {
    expect(redactDeep({ source: 'mysql://u:pw@h/db', n: 1, list: ['redis://:pw@h'] })).toEqual({
      source: 'mysql://u:***@h/db',
      n: 1,
      list: ['redis://:***@h'],
    });
  });
});

describe('scrubMessage and safeDriverError', () => {
  const quotes = [{ quote: '"' as const, nameBefore: /\b(column|relation|constraint)\s+$/i }];
  it('keeps quoted names, removes quoted values, applies dialect rules first', () => {
    const rules = [{ re: /(Key \()([\s\S]*?)(\)=\()[\s\S]*(\) already exists)/, replace: '$1$2$3…$4' }];
    expect(scrubMessage('invalid input syntax for type uuid: "*40C3A1B2"', rules, quotes)).toBe(
      'invalid input syntax for type uuid: "…"',
    );
    expect(scrubMessage('null value in column "email" of relation "users"', rules, quotes)).toBe(
      'null value in column "email" of relation "users"',
    );
    expect(scrubMessage('Key (email)=(a"b@c) already exists.', rules, quotes)).toBe('Key (email)=(…) already exists.');
    expect(scrubMessage('value "a"b"c" is bad', [], quotes)).toBe('value "…" is bad');
    expect(scrubMessage('value "a"b" in column "c"', [], quotes)).toBe('value "…" in column "c"');
    expect(scrubMessage('unterminated "abc', [], quotes)).toBe('unterminated "…');
  });

  it('copies a driver error without its statement, parameters or values', () => {
    const e = Object.assign(new Error('invalid input syntax for type uuid: "HASHVALUE"'), {
      code: '22P02',
      detail: 'Token "HASHVALUE" is invalid.',
      where: 'JSON data',
      query: 'INSERT … HASHVALUE',
      params: ['HASHVALUE'],
      sql: 'x',
    });
    const c = safeDriverError(e, (t) => scrubMessage(t, [], quotes)) as Record<string, unknown>;
    expect(
      JSON.stringify({ ...c, message: (c as unknown as Error).message, stack: (c as unknown as Error).stack }),
    ).not.toContain('HASHVALUE');
    expect(c.code).toBe('22P02');
    expect(c.query).toBeUndefined();
    expect(c.params).toBeUndefined();
  });
});
