import wkx from 'wkx';
import { ZERO_DATE, ZERO_TIMESTAMP, canonicalDate, canonicalTimestamp } from './canonical.js';

/**
 * Canonical encoders and conversions of the types issue 13 adds beyond the common ones: bit strings, network
 * addresses (inet/cidr), MAC addresses, intervals and spatial values. docs/canonical-encoding.md has the rules;
 * each function throws `TypeError` (never naming the value in full) when a value cannot be read as its type.
 */

// ---------------------------------------------------------------------------------------------------- bit(n)

/**
 * A bit string as its binary digits, most significant first: `'0101'`. From PostgreSQL `bit(n)`/`varbit` text
 * (`'0101'`, kept as is), a MySQL/MariaDB `BIT(n)` Buffer (big-endian bytes; `bits` digits, left-padded with
 * zeros — the bits above n must be zero), a number/bigint (MySQL `b'…'+0`), or a boolean (`true` → `1`). Without `bits`, a Buffer gives
 * 8 digits per byte. Throws `TypeError` for anything else.
 */
export function canonicalBit(v: unknown, bits?: number): string {
  let digits: string;
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) {
    const b = Buffer.from(v);
    digits = [...b].map((x) => x.toString(2).padStart(8, '0')).join('');
    if (bits === undefined) return digits;
  } else if (typeof v === 'boolean') {
    digits = v ? '1' : '0';
  } else if (typeof v === 'number' || typeof v === 'bigint') {
    if (typeof v === 'number' && (!Number.isInteger(v) || v < 0)) throw new TypeError('not a bit string');
    if (typeof v === 'bigint' && v < 0n) throw new TypeError('not a bit string');
    digits = v.toString(2);
  } else {
    const s = String(v).trim();
    if (!/^[01]*$/.test(s)) throw new TypeError('not a bit string');
    return s;
  }
  if (bits === undefined) return digits;
  if (digits.length > bits) {
    if (/1/.test(digits.slice(0, digits.length - bits))) throw new TypeError(`bit string longer than ${bits} bits`);
    return digits.slice(digits.length - bits);
  }
  return digits.padStart(bits, '0');
}

/**
 * The bytes MySQL/MariaDB `BIT(n)` stores for a bit string (`'0101'` → `<05>`): big-endian, ⌈n/8⌉ bytes (at
 * least one). Buffers are returned unchanged. Throws `TypeError` for text other than binary digits.
 */
export function bitBytes(v: unknown, bits?: number): unknown {
  if (v === null || v === undefined || Buffer.isBuffer(v)) return v;
  const s = canonicalBit(v, bits);
  const n = Math.max(1, Math.ceil(s.length / 8));
  const padded = s.padStart(n * 8, '0');
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = Number.parseInt(padded.slice(i * 8, i * 8 + 8), 2);
  return out;
}

// ---------------------------------------------------------------------------------------------- inet / cidr

function parseIpv4(s: string): number[] | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
    out.push(Number(p));
  }
  return out;
}

/** The eight 16-bit words of an IPv6 address text (`::` and a trailing dotted IPv4 allowed), or null. */
function parseIpv6(s: string): number[] | null {
  let text = s.toLowerCase();
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    const v4 = parseIpv4(text.slice(lastColon + 1));
    if (!v4) return null;
    tail = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!];
    text = text.slice(0, lastColon + 1);
    if (!text.endsWith('::')) text = text.slice(0, -1);
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const words = (h: string) => (h === '' ? [] : h.split(':'));
  const head = words(halves[0]!);
  const rest = halves.length === 2 ? words(halves[1]!) : [];
  const all = [...head, ...rest];
  if (!all.every((w) => /^[0-9a-f]{1,4}$/.test(w))) return null;
  const given = all.length + tail.length;
  if (halves.length === 1 ? given !== 8 : given > 7) return null;
  const zeros = halves.length === 2 ? 8 - given : 0;
  return [
    ...head.map((w) => Number.parseInt(w, 16)),
    ...Array(zeros).fill(0),
    ...rest.map((w) => Number.parseInt(w, 16)),
    ...tail,
  ];
}

/**
 * IPv6 words as text, compressed the way PostgreSQL prints them (RFC 5952: lower case, leading zeros dropped,
 * the longest run of two or more zero words — the first of equal runs — written `::`), with the last 32 bits
 * in dotted form for IPv4-mapped (`::ffff:1.2.3.4`) and IPv4-compatible (`::1.2.3.4`, not `::1`) addresses.
 */
function formatIpv6(w: number[]): string {
  let best = { base: -1, len: 0 };
  let cur = { base: -1, len: 0 };
  for (let i = 0; i < 8; i++) {
    if (w[i] === 0) {
      cur = cur.base === -1 ? { base: i, len: 1 } : { base: cur.base, len: cur.len + 1 };
      if (cur.len > best.len) best = { ...cur };
    } else cur = { base: -1, len: 0 };
  }
  if (best.len < 2) best = { base: -1, len: 0 };
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (best.base !== -1 && i >= best.base && i < best.base + best.len) {
      if (i === best.base) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    if (
      i === 6 &&
      best.base === 0 &&
      (best.len === 6 || (best.len === 5 && w[5] === 0xffff) || (best.len === 7 && w[7] !== 1))
    ) {
      out += `${w[6]! >> 8}.${w[6]! & 255}.${w[7]! >> 8}.${w[7]! & 255}`;
      break;
    }
    out += w[i]!.toString(16);
  }
  if (best.base !== -1 && best.base + best.len === 8) out += ':';
  return out;
}

/**
 * An IP address or network in canonical text: IPv4 dotted decimal (`10.0.0.1`), IPv6 compressed lower case
 * (RFC 5952, as PostgreSQL prints it), and `/prefix` only when the prefix is shorter than the address
 * (`10.0.0.0/8`; a host `/32` or `/128` is dropped, so an `inet` host, a `cidr` host and a MariaDB INET6 or
 * varchar holding the address all compare equal). Accepts `Buffer`s of 4 or 16 bytes (binary columns).
 * Throws `TypeError` for anything else.
 */
export function canonicalInet(v: unknown): string {
  if (Buffer.isBuffer(v) && (v.length === 4 || v.length === 16)) {
    if (v.length === 4) return [...v].join('.');
    return formatIpv6(Array.from({ length: 8 }, (_, i) => v.readUInt16BE(i * 2)));
  }
  const s = String(v).trim();
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(s);
  if (!m) throw new TypeError('not an IP address');
  const v4 = parseIpv4(m[1]!);
  const v6 = v4 ? null : parseIpv6(m[1]!);
  if (!v4 && !v6) throw new TypeError('not an IP address');
  const max = v4 ? 32 : 128;
  const prefix = m[2] === undefined ? max : Number(m[2]);
  if (prefix > max) throw new TypeError('prefix length out of range');
  const addr = v4 ? v4.join('.') : formatIpv6(v6!);
  return prefix === max ? addr : `${addr}/${prefix}`;
}

// ------------------------------------------------------------------------------------------------- macaddr

/**
 * A MAC address as lower-case hex pairs joined by colons (`08:00:2b:01:02:03`), from any spelling PostgreSQL
 * accepts (`:`, `-` or `.` separators, or none; 6 or 8 bytes). With `eui64` (a `macaddr8` column) a 6-byte
 * address is widened as PostgreSQL does (`ff:fe` in the middle). Throws `TypeError` for anything else.
 */
export function canonicalMacaddr(v: unknown, eui64 = false): string {
  const s = Buffer.isBuffer(v) ? v.toString('hex') : String(v).trim().toLowerCase();
  if (!/^[0-9a-f]{2}(?:[:.-]?[0-9a-f]{2})*$/.test(s)) throw new TypeError('not a MAC address');
  let hex = s.replace(/[:.-]/g, '');
  if (hex.length !== 12 && hex.length !== 16) throw new TypeError('not a MAC address');
  if (eui64 && hex.length === 12) hex = `${hex.slice(0, 6)}fffe${hex.slice(6)}`;
  return hex.match(/../g)!.join(':');
}

// ------------------------------------------------------------------------------------------------ interval

/** An interval as PostgreSQL stores it: months, days and microseconds, each signed, never folded together. */
export interface IntervalParts {
  months: number;
  days: number;
  micros: bigint;
}

const UNIT: Record<string, ['months' | 'days' | 'micros', number]> = {
  millennium: ['months', 12000],
  century: ['months', 1200],
  decade: ['months', 120],
  year: ['months', 12],
  mon: ['months', 1],
  month: ['months', 1],
  week: ['days', 7],
  day: ['days', 1],
  hour: ['micros', 3_600_000_000],
  min: ['micros', 60_000_000],
  minute: ['micros', 60_000_000],
  sec: ['micros', 1_000_000],
  second: ['micros', 1_000_000],
  msec: ['micros', 1000],
  millisecond: ['micros', 1000],
  usec: ['micros', 1],
  microsecond: ['micros', 1],
};

/** Seconds text (`-6.5`, `0.000001`) → microseconds, exactly; more than 6 fractional digits are rounded. */
function secondsMicros(t: string): bigint {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(t);
  if (!m || (m[2] === '' && !m[3])) throw new TypeError('not an interval');
  const frac = (m[3] ?? '').padEnd(7, '0');
  let us = BigInt(m[2] || '0') * 1_000_000n + BigInt(frac.slice(0, 6));
  if (frac.charCodeAt(6) >= 53) us += 1n;
  return m[1] === '-' ? -us : us;
}

/**
 * Reads an interval: PostgreSQL's ISO 8601 output (`P1Y2M3DT4H5M6.5S`, `P-1DT-1S`, `PT0S`), its `postgres` style
 * (`1 year 2 mons 3 days 04:05:06.5`, `-1 days -00:00:01`, unit words such as `5 hours`), a time
 * (`[-]HHH:MM:SS[.ffffff]`, MariaDB TIME), or the object `pg`'s own parser gives (`{ years, months, days, hours,
 * minutes, seconds, milliseconds }`). Throws `TypeError` for anything else.
 */
export function parseInterval(v: unknown): IntervalParts {
  const out: IntervalParts = { months: 0, days: 0, micros: 0n };
  if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v)) {
    const o = v as Record<string, unknown>;
    const n = (k: string) => {
      const x = o[k] ?? 0;
      if (typeof x !== 'number' || !Number.isFinite(x)) throw new TypeError('not an interval');
      return x;
    };
    out.months = n('years') * 12 + n('months');
    out.days = n('days');
    out.micros =
      BigInt(n('hours')) * 3_600_000_000n +
      BigInt(n('minutes')) * 60_000_000n +
      BigInt(n('seconds')) * 1_000_000n +
      BigInt(Math.round(n('milliseconds') * 1000));
    return out;
  }
  const s = String(v).trim();
  const iso =
    /^P(?:([+-]?\d+)Y)?(?:([+-]?\d+)M)?(?:([+-]?\d+)W)?(?:([+-]?\d+)D)?(?:T(?:([+-]?\d+)H)?(?:([+-]?\d+)M)?(?:([+-]?(?:\d+\.?\d*|\.\d+))S)?)?$/i.exec(
      s,
    );
  if (iso && s.length > 1 && !/T$/i.test(s)) {
    const [, y, mo, w, d, h, mi, se] = iso;
    out.months = Number(y ?? 0) * 12 + Number(mo ?? 0);
    out.days = Number(w ?? 0) * 7 + Number(d ?? 0);
    out.micros = BigInt(h ?? 0) * 3_600_000_000n + BigInt(mi ?? 0) * 60_000_000n + (se ? secondsMicros(se) : 0n);
    return out;
  }
  const tokens = s.replace(/^@\s*/, '').split(/\s+/);
  if (!tokens.length || tokens[0] === '') throw new TypeError('not an interval');
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const time = /^([+-]?)(\d+):(\d{1,2})(?::(\d{1,2}(?:\.\d*)?))?$/.exec(t);
    if (time) {
      const us = BigInt(time[2]!) * 3_600_000_000n + BigInt(time[3]!) * 60_000_000n + secondsMicros(time[4] ?? '0');
      out.micros += time[1] === '-' ? -us : us;
      continue;
    }
    const unit = tokens[i + 1]?.toLowerCase().replace(/s$/, '');
    if (!/^[+-]?\d+(?:\.\d*)?$/.test(t) || !unit || !(unit in UNIT)) throw new TypeError('not an interval');
    const [field, factor] = UNIT[unit]!;
    if (field === 'micros') out.micros += (secondsMicros(t) * BigInt(factor)) / 1_000_000n;
    else if (/\./.test(t)) throw new TypeError('fractional months or days are not read');
    else out[field] += Number(t) * factor;
    i++;
  }
  return out;
}

/**
 * An interval in canonical text: PostgreSQL's `IntervalStyle = iso_8601` output, which keeps months, days and
 * time apart (`P1Y2M3DT4H5M6.5S`; years and months from the months, hours, minutes and seconds from the
 * microseconds, each with its own sign; zero parts left out; `PT0S` for zero). Throws `TypeError`.
 */
export function canonicalInterval(v: unknown): string {
  const { months, days, micros } = parseInterval(v);
  if (months === 0 && days === 0 && micros === 0n) return 'PT0S';
  const part = (n: number | bigint, unit: string) => (n === 0 || n === 0n ? '' : `${n}${unit}`);
  let out = `P${part(Math.trunc(months / 12), 'Y')}${part(months % 12, 'M')}${part(days, 'D')}`;
  if (micros !== 0n) {
    const hours = micros / 3_600_000_000n;
    const mins = (micros % 3_600_000_000n) / 60_000_000n;
    const rest = micros % 60_000_000n;
    out += `T${part(hours, 'H')}${part(mins, 'M')}`;
    if (rest !== 0n) {
      const abs = rest < 0n ? -rest : rest;
      const frac = (abs % 1_000_000n).toString().padStart(6, '0').replace(/0+$/, '');
      out += `${rest < 0n ? '-' : ''}${abs / 1_000_000n}${frac ? `.${frac}` : ''}S`;
    }
  }
  return out;
}

/**
 * An interval without months or days as a MariaDB/MySQL TIME literal (`[-]HHH:MM:SS.ffffff`), or null when it
 * has months or days, or is not an interval (the value is then left as it is).
 */
export function intervalAsTime(v: unknown): string | null {
  let p: IntervalParts;
  try {
    p = parseInterval(v);
  } catch {
    return null;
  }
  if (p.months !== 0 || p.days !== 0) return null;
  const neg = p.micros < 0n;
  const a = neg ? -p.micros : p.micros;
  const h = a / 3_600_000_000n;
  const m = (a % 3_600_000_000n) / 60_000_000n;
  const s = (a % 60_000_000n) / 1_000_000n;
  const f = a % 1_000_000n;
  const two = (x: bigint) => x.toString().padStart(2, '0');
  return `${neg ? '-' : ''}${two(h)}:${two(m)}:${two(s)}.${f.toString().padStart(6, '0')}`;
}

// ------------------------------------------------------------------------------------------------- geometry

/**
 * Reads a spatial value into a wkx geometry (with `srid` set when the value carries one): (E)WKB bytes in either
 * byte order, their hex text (PostGIS's output, or `\x…`), or (E)WKT text (`SRID=4326;POINT(1 2)`).
 * Throws `TypeError` when the value is none of these.
 */
export function parseGeometry(v: unknown): wkx.Geometry {
  let input: Buffer | string;
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) input = Buffer.from(v);
  else {
    const s = String(v).trim();
    const hex = s.startsWith('\\x') ? s.slice(2) : s;
    input = /^(?:[0-9a-f]{2})+$/i.test(hex) && hex.length >= 10 ? Buffer.from(hex, 'hex') : s;
  }
  try {
    return wkx.Geometry.parse(input);
  } catch {
    throw new TypeError('not a spatial value (WKB, EWKB, WKT or EWKT)');
  }
}

/** The SRID of a parsed geometry (0 when it carries none). */
export function sridOf(g: wkx.Geometry): number {
  return g.srid ?? 0;
}

/**
 * A spatial value as EWKB, little-endian: the SRID written (PostGIS's SRID flag) only when it is not 0, so a
 * geometry of SRID 0 is plain OGC WKB. This is the form spatial values cross the Store interface in
 * (MySQL/MariaDB's reads are converted to it) and what `cast: 'ewkb'` writes.
 */
export function toEwkb(v: unknown): Buffer {
  const g = parseGeometry(v);
  return sridOf(g) ? g.toEwkb() : g.toWkb();
}

/** OGC WKB, little-endian, without SRID (what `cast: 'wkb'` writes; the SRID is dropped). */
export function toWkb(v: unknown): Buffer {
  return parseGeometry(v).toWkb();
}

/** OGC WKT (`POINT(1 2)`), coordinates as JavaScript's shortest round-trip numbers; the SRID is dropped. */
export function toWkt(v: unknown): string {
  return parseGeometry(v).toWkt();
}

/** EWKT: `SRID=4326;POINT(1 2)`, or plain WKT for SRID 0 (what `cast: 'ewkt'` writes). */
export function toEwkt(v: unknown): string {
  const g = parseGeometry(v);
  return sridOf(g) ? `SRID=${sridOf(g)};${g.toWkt()}` : g.toWkt();
}

/** Canonical text of a spatial value: the lower-case hex of {@link toEwkb} (PostGIS's output, lower-cased). */
export function canonicalGeometry(v: unknown): string {
  return toEwkb(v).toString('hex');
}

/**
 * MySQL/MariaDB's internal geometry format (4-byte little-endian SRID, then OGC WKB) from any spatial value
 * {@link parseGeometry} reads. Values that are not spatial are returned unchanged (the server then refuses them).
 */
export function mysqlGeometryBytes(v: unknown): unknown {
  if (v === null || v === undefined) return v;
  let g: wkx.Geometry;
  try {
    g = parseGeometry(v);
  } catch {
    return v;
  }
  const srid = Buffer.alloc(4);
  srid.writeUInt32LE(sridOf(g));
  return Buffer.concat([srid, g.toWkb()]);
}

/**
 * MySQL/MariaDB's internal geometry format (4-byte little-endian SRID + WKB) converted to EWKB (see
 * {@link toEwkb}) by moving the SRID into the WKB header, without parsing the body. Shorter input is returned
 * as is.
 */
export function ewkbFromMysql(b: Buffer): Buffer {
  if (b.length < 9) return b;
  const srid = b.readUInt32LE(0);
  const wkb = b.subarray(4);
  if (srid === 0) return Buffer.from(wkb);
  const le = wkb[0] === 1;
  const head = Buffer.alloc(9);
  head[0] = wkb[0]!;
  const type = le ? wkb.readUInt32LE(1) : wkb.readUInt32BE(1);
  if (le) {
    head.writeUInt32LE((type | 0x20000000) >>> 0, 1);
    head.writeUInt32LE(srid, 5);
  } else {
    head.writeUInt32BE((type | 0x20000000) >>> 0, 1);
    head.writeUInt32BE(srid, 5);
  }
  return Buffer.concat([head, wkb.subarray(5)]);
}

// ---------------------------------------------------------------------------------------------- zero dates

/**
 * True when `v` is MySQL/MariaDB's zero date (`0000-00-00`) or zero timestamp (`0000-00-00 00:00:00[.000000]`).
 */
export function isZeroDate(v: unknown): boolean {
  if (v === null || v === undefined || v instanceof Date) return false;
  const s = String(v).trim();
  if (!s.startsWith('0000-00-00')) return false;
  try {
    return s.length <= 10 ? canonicalDate(s) === ZERO_DATE : canonicalTimestamp(s) === ZERO_TIMESTAMP;
  } catch {
    return false;
  }
}
