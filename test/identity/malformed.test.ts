/**
 * Damaged and hostile stored hashes: each must be rejected with the right TANDEM_ERR_* code (never a crash, never a
 * silent `ok: false`), and no error may quote the password or the hash. Work factors above the caps must be
 * rejected before anything is computed — asserted through the code (and, for the hash whose honest computation would
 * take minutes or gigabytes, by the test simply finishing).
 *
 * Several malformed samples are passlib's own `known_malformed_hashes` (passlib tests/test_handlers*.py).
 */
import { describe, expect, it } from 'vitest';
import { TandemError } from '../../src/core/errors.js';
import { identifyHash, verifyPassword, type VerifyOptions } from '../../src/identity/index.js';

const PASSWORD = 'correct horse battery staple';

type Code = 'TANDEM_ERR_HASH_MALFORMED' | 'TANDEM_ERR_HASH_UNSUPPORTED' | 'TANDEM_ERR_HASH_WORK_FACTOR';

async function expectCode(hash: string, code: Code, options?: VerifyOptions): Promise<TandemError> {
  let caught: unknown;
  try {
    await verifyPassword(PASSWORD, hash, options);
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected ${code} for ${JSON.stringify(hash)}`).toBeInstanceOf(TandemError);
  const err = caught as TandemError;
  expect(err.code, `${JSON.stringify(hash)}: ${err.message}`).toBe(code);
  // Nothing sensitive in the message or the detail.
  const text = `${err.message} ${JSON.stringify(err.detail)}`;
  expect(text).not.toContain(PASSWORD);
  if (hash.length >= 8) expect(text).not.toContain(hash);
  const tail = hash.slice(-12);
  if (tail.length === 12 && /[A-Za-z0-9]{6}/.test(tail)) expect(text).not.toContain(tail);
  return err;
}

const FIREBASE: VerifyOptions = {
  firebase: {
    signerKey: 'jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==',
    saltSeparator: 'Bw==',
    rounds: 8,
    memCost: 14,
  },
};

const MALFORMED: readonly (readonly [string, string, VerifyOptions?])[] = [
  // bcrypt (passlib known_malformed_hashes + truncations)
  ['bcrypt bad char', '$2a$12$EXRkfkdmXn!gzds2SSitu.MW9.gAVqa9eLS1//RYtYCmB1eLHg.9q'],
  ['bcrypt unpadded cost', '$2a$6$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s.'],
  ['bcrypt truncated', '$2b$10$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s'],
  ['bcrypt too long', '$2b$10$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s..'],
  ['bcrypt cost below 4', '$2b$03$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s.'],
  ['bcrypt prefix only', '$2y$'],
  ['bcrypt 2x truncated', '$2x$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19Ruk'],
  ['wordpress truncated', '$wp$2y$10$qeleDSuDaeZO5fBsEqFReeWdlqaDnBDBzB16hFgsF'],
  ['wordpress not bcrypt', '$wp$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0'],
  // crypt family (passlib samples)
  ['md5-crypt bad char', '$1$dOHYPKoP$tnxS1T8Q6VVn3kpV8cN6o!'],
  ['md5-crypt too many fields', '$1$dOHYPKoP$tnxS1T8Q6VVn3kpV8cN6o.$'],
  ['md5-crypt truncated', '$1$dOHYPKoP$tnxS1T8Q6VVn3kp'],
  ['md5-crypt no checksum', '$1$dOHYPKoP'],
  ['apr1 bad char', '$apr1$r31.....$HqJZimcKQFAMYayBlzkrA!'],
  ['sha256-crypt bad char in salt', '$5$rounds=10428$uy/:jIAhCetNCTtb0$YWvUOXbkqlqhyoPMpN8BMeZGsGx2aBvxTvDFI613c3'],
  ['sha256-crypt zero-padded rounds', '$5$rounds=010428$uy/jIAhCetNCTtb0$YWvUOXbkqlqhyoPMpN8BMe.ZGsGx2aBvxTvDFI613c3'],
  ['sha256-crypt extra $', '$5$rounds=10428$uy/jIAhCetNCTtb0$YWvUOXbkqlqhyoPMpN8BMe.ZGsGx2aBvxTvDFI613c3$'],
  [
    'sha512-crypt bad char',
    '$6$rounds=11021$KsvQipYPWpr9:wWP$v7xjI4X6vyVptJjB1Y02vZC5SaSijBkGmq1uJhPr3cvqvvkd42Xvo48yLVPFt8dvhCsnlUgpX.//Cxn91H4qy1',
  ],
  ['sha512-crypt truncated', '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJu'],
  [
    'sha512-crypt rounds not a number',
    '$6$rounds=abc$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1',
  ],
  ['phpass bad char', '$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r!L0'],
  ['phpass truncated', '$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r'],
  ['phpass count out of range', '$P$.IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0'],
  // passlib / PHC
  ['passlib pbkdf2 zero-padded rounds', '$pbkdf2$01212$THDqatpidANpadlLeTeOEg$HV3oi1k5C5LQCgG1BMOL.BX4YZc'],
  ['passlib pbkdf2 empty rounds', '$pbkdf2$$THDqatpidANpadlLeTeOEg$HV3oi1k5C5LQCgG1BMOL.BX4YZc'],
  ['passlib pbkdf2 too many fields', '$pbkdf2$1212$THDqatpidANpadlLeTeOEg$HV3oi1k5C5LQCgG1BMOL.BX4YZc$'],
  ['passlib pbkdf2-sha256 truncated checksum', '$pbkdf2-sha256$1212$4vjV83LKPjQzk31VI4E0Vw$hsYF68OiOUPdDZ1Fg.fJPeq1h'],
  ['passlib pbkdf2 zero rounds', '$pbkdf2-sha256$0$4vjV83LKPjQzk31VI4E0Vw$hsYF68OiOUPdDZ1Fg.fJPeq1h/gXXY7acBp9/6c.tmQ'],
  ['scrypt missing p', '$scrypt$ln=10,r=1$wvif8/4fg1Cq9V7L2dv73w$bJcLia1lyfQ1X2x0xflehwVXPzWIUQWWdnlGwfVzBeQ'],
  ['scrypt ln=0', '$scrypt$ln=0,r=1,p=1$wvif8/4fg1Cq9V7L2dv73w$bJcLia1lyfQ1X2x0xflehwVXPzWIUQWWdnlGwfVzBeQ'],
  ['scrypt bad block size', '$scrypt$ln=10,r=A,p=1$wvif8/4fg1Cq9V7L2dv73w$bJcLia1lyfQ1X2x0xflehwVXPzWIUQWWdnlGwfVzBeQ'],
  [
    'scrypt r·p too large',
    '$scrypt$ln=10,r=134217728,p=8$wvif8/4fg1Cq9V7L2dv73w$bJcLia1lyfQ1X2x0xflehwVXPzWIUQWWdnlGwfVzBeQ',
  ],
  ['scrypt bad base64', '$scrypt$ln=8,r=8,p=1$wlhLyXmP8b53bm1NKYVQqg$mTpvG8lzuuDk+DWz8HZIB6Vum6erDuUm0As5yU+VxW*'],
  ['argon2 missing m', '$argon2i$v=19$t=2,p=4$c29tZXNhbHQAAAAAAAAAAA$QWLzI4TY9HkL2ZTLc8g6SinwdhZewYrzz9zxCo0bkGY'],
  [
    'argon2 t > uint32',
    '$argon2i$v=19$m=65536,t=8589934592,p=4$c29tZXNhbHQAAAAAAAAAAA$QWLzI4TY9HkL2ZTLc8g6SinwdhZewYrzz9zxCo0bkGY',
  ],
  [
    'argon2 unexpected param',
    '$argon2i$v=19$m=65536,t=2,p=4,q=5$c29tZXNhbHQAAAAAAAAAAA$QWLzI4TY9HkL2ZTLc8g6SinwdhZewYrzz9zxCo0bkGY',
  ],
  [
    'argon2 wrong order',
    '$argon2i$v=19$t=2,m=65536,p=4$c29tZXNhbHQAAAAAAAAAAA$QWLzI4TY9HkL2ZTLc8g6SinwdhZewYrzz9zxCo0bkGY',
  ],
  ['argon2 m < 8p', '$argon2i$v=19$m=127,t=2,p=16$c29tZXNhbHQ$IMit9qkFULCMA/ViizL57cnTLOa5DiVM9eMwpAvPwr4'],
  ['argon2 unknown version', '$argon2id$v=18$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4'],
  ['argon2 truncated', '$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ'],
  ['argon2 short salt', '$argon2id$v=19$m=256,t=2,p=1$c2FsdA$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4'],
  ['argon2 padded base64', '$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ=$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4'],
  ['argon2 bad char', '$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/!'],
  // Django
  ['django pbkdf2 missing field', 'pbkdf2_sha256$390000$8xBlGd3jVgvJ+92hWPxi5ww0uuAuAnKgC45eudxro7c='],
  ['django pbkdf2 bad base64', 'pbkdf2_sha256$390000$seasalt$8xBlGd3jVgvJ+92hWPxi5ww0uuAuAnKgC45eudxro7c!'],
  ['django pbkdf2 truncated', 'pbkdf2_sha256$390000$seasalt$8xBlGd3jVgvJ+92hWPxi5ww0'],
  ['django pbkdf2 non-numeric iterations', 'pbkdf2_sha1$1e5$seasalt2$aDapRanzW8aHTz97v2TcfHzWD+I='],
  ['django sha1 checksum too short', 'sha1$c2e86$0f75'],
  ['django md5 checksum too short', 'md5$aa$bb'],
  ['django md5 bad hex', 'md5$seasalt$3f86d0d3d465b7b458c231bf3555c0eZ'],
  ['django bcrypt broken', 'bcrypt$$2b$12$short'],
  [
    'django bcrypt_sha256 data in salt field',
    'bcrypt_sha256$xyz$2a$06$/3OeRpbOf8/l6nPPRdZPp.nRiyYqPobEZGdNRBWihQhiFDh1ws1tu',
  ],
  ['django argon2 broken', 'argon2$argon2id$v=19$m=102400'],
  ['django scrypt wrong length', 'scrypt$16384$seasalt$8$1$Qj3+9PPyRjSJIebHnG81TA=='],
  // Werkzeug
  [
    'werkzeug pbkdf2 bad hex',
    'pbkdf2:sha256:1000$sAlT1234abcdEFGH$bacf7322ae13d5dd46cbd72a7c4848514e89060f389a0080677bc1f0b2566fzz',
  ],
  ['werkzeug pbkdf2 truncated', 'pbkdf2:sha256:1000$sAlT1234abcdEFGH$bacf7322ae13'],
  [
    'werkzeug pbkdf2 no salt field',
    'pbkdf2:sha256:1000$bacf7322ae13d5dd46cbd72a7c4848514e89060f389a0080677bc1f0b2566fe5',
  ],
  ['werkzeug scrypt two params', 'scrypt:1024:8$sAlT1234abcdEFGH$aac482836463ec4c'],
  ['werkzeug scrypt N not a power of two', 'scrypt:1000:8:1$sAlT1234abcdEFGH$' + 'aa'.repeat(64)],
  // LDAP (passlib samples)
  ['ldap ssha salt too small', '{SSHA}ZQK3Yvtvl6wtIRoISgMGPkcWU7Nfq5U='],
  ['ldap ssha missing padding', '{SSHA}P90+qijSp8MJ1tN25j5o1PflUvlqjXHOGeOck'],
  ['ldap ssha bad padding', '{SSHA}P90+qijSp8MJ1tN25j5o1PflUvlqjXHOGeOckw='],
  ['ldap ssha = inside', '{SSHA}P90+qijSp8MJ1tN25j5o1Pf=UvlqjXHOGeOckw=='],
  ['ldap ssha too much padding', '{SSHA}P90+qijSp8MJ1tN25j5o1PflUvlqjXHOGeOck==='],
  ['ldap smd5 salt too small', '{SMD5}IGVhwK+anvspmfDt2t0vgGjt/Q=='],
  ['ldap smd5 bad base64', '{SMD5}LnuZPJhiaY95/4lmVFpg548xBsD4P4c'],
  ['ldap ssha256 bad char', '{SSHA256}TFv2RpwyO0U9mA0Hk8FsXRa1I+4dNUtv27Qa8dzGVLinlDI@'],
  [
    'ldap ssha512 truncated',
    '{SSHA512}Tgx/uhHnlM9/GgQvI31dN7cheDXg7WypZwaaIkyRsgV/BKIzBG3G/wUd9o1dpi06p3SYzMedg0lvTc3b6CtdO0Xo/f9/L+U',
  ],
  ['ldap sha wrong length', '{SHA}at+xg6SiyUovktq1redipHiJ'],
  ['ldap md5 bad base64', '{MD5}/F4DjTilcDIIVEHn/nAQsA=!'],
  ['ldap crypt broken md5-crypt', '{CRYPT}$1$dOHYPKoP$tnxS1T8Q6VVn3kpV8cN6o!'],
  // Atlassian (passlib samples)
  ['atlassian bad char', '{PKCS5S2}c4xaeTQM0lUieMS3V5voiexyX9XhqC2dBd5ecVy!0IPksHChwoTAVYFrhsgoq8/p'],
  ['atlassian missing padding/short', '{PKCS5S2}c4xaeTQM0lUieMS3V5voiexyX9XhqC2dBd5ecVy60IPksHChwoTAVYFrhsgoq8/'],
  ['atlassian wrong size', '{PKCS5S2}c4xaeTQM0lUieMS3V5voiexyX9XhqC2dBd5ecVy60IPksHChwoTAVYFrhsgoq8/='],
  // ASP.NET Identity
  ['aspnet v3 header only', 'AQAAAAEAACcQAAAAEA=='],
  ['aspnet v3 unknown prf', 'AQAAAAkAACcQAAAAEAABAgMEBQYHCAkKCwwNDg+yWU7rLgUwPZb1Itsmra7cbxw2EFpwpVFIEtP+JIuUEw=='],
  [
    'aspnet v3 salt longer than blob',
    'AQAAAAEAACcQAAAA/wABAgMEBQYHCAkKCwwNDg+yWU7rLgUwPZb1Itsmra7cbxw2EFpwpVFIEtP+JIuUEw==',
  ],
  ['aspnet v2 truncated', 'AAABAgMEBQYHCAkKCwwNDg+ukCEMDf0yyQ29NYubggHIVY0sdEUfdyeM'],
  // MySQL
  ['mysql41 bad char', '*6Z8989366EAF75BB670AD8EA7A7FC1176A95CEF4'],
  ['mysql41 truncated', '*6C8989366EAF75BB670AD8EA7A7FC1176A95CE'],
  ['mysql41 star only', '*'],
  // Firebase
  ['firebase missing hash', 'firebase-scrypt$42xEC+ixf3L2lw==', FIREBASE],
  [
    'firebase bad base64',
    'firebase-scrypt$42xEC+ixf3L2lw==$lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ*=',
    FIREBASE,
  ],
  [
    'firebase truncated',
    'firebase-scrypt$42xEC+ixf3L2lw==$lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqA',
    FIREBASE,
  ],
  // bare digests (declared)
  ['hex-sha1 truncated', '5baa61e4c9b93f3f0682250b6cf8331b7ee68f', { rawHex: { algorithm: 'sha1' } }],
  [
    'hex-sha256 odd length',
    '5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d',
    { rawHex: { algorithm: 'sha256' } },
  ],
];

describe('malformed hashes are TANDEM_ERR_HASH_MALFORMED', () => {
  for (const [name, hash, options] of MALFORMED) {
    it(name, async () => {
      expect(identifyHash(hash, options)).not.toBeNull();
      await expectCode(hash, 'TANDEM_ERR_HASH_MALFORMED', options);
    });
  }
});

const UNSUPPORTED: readonly (readonly [string, string, VerifyOptions?])[] = [
  ['plain text', 'hunter2'],
  ['unknown $id$', '$9$abc$def'],
  ['yescrypt (not supported)', '$y$j9T$F5Jx5fExrKuPp53xLKQ..1$6foLM1JhGupouWKMU70wxK61Kw9ZnecbACjJwRadqM2'],
  ['DES crypt', 'SDbsugeBiC58A'],
  ['LDAP {CRYPT} DES', '{CRYPT}nFia0rj2TT59A'],
  ['unknown LDAP scheme', '{FOO}bar'],
  [
    'passlib unknown argon2 type',
    '$argon2qq$v=19$t=2,p=4$c29tZXNhbHQAAAAAAAAAAA$QWLzI4TY9HkL2ZTLc8g6SinwdhZewYrzz9zxCo0bkGY',
  ],
  ['argon2 keyid', '$argon2i$v=19$m=65536,t=2,p=4,keyid=ABCD$c29tZXNhbHQ$IMit9qkFULCMA/ViizL57cnTLOa5DiVM9eMwpAvPwr4'],
  ['argon2 data', '$argon2i$v=19$m=512,t=2,p=2,data=c29tZWRhdGE$c29tZXNhbHQ$KgHyCesFyyjkVkihZ5VNFw'],
  ['bare sha1 hex, undeclared', '5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8'],
  [
    'firebase without parameters',
    'firebase-scrypt$42xEC+ixf3L2lw==$lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==',
  ],
  [
    'werkzeug pbkdf2 without iterations',
    'pbkdf2:sha256$sAlT1234abcdEFGH$bacf7322ae13d5dd46cbd72a7c4848514e89060f389a0080677bc1f0b2566fe5',
  ],
  ['werkzeug unknown digest', 'pbkdf2:whirlpool:1000$salt$' + 'ab'.repeat(64)],
  ['empty string', ''],
  ['whitespace', '   '],
  ['Django unusable password', '!9wa845vn7098ythaehasldkfj'],
  ['bcrypt unknown minor', '$2f$12$EXRkfkdmXnagzds2SSitu.MW9.gAVqa9eLS1//RYtYCmB1eLHg.9q'],
];

describe('unknown formats are TANDEM_ERR_HASH_UNSUPPORTED', () => {
  for (const [name, hash, options] of UNSUPPORTED) {
    it(name, async () => {
      await expectCode(hash, 'TANDEM_ERR_HASH_UNSUPPORTED', options);
    });
  }

  it('identifyHash returns null for unknown formats and for non-strings', () => {
    expect(identifyHash('hunter2')).toBeNull();
    expect(identifyHash('')).toBeNull();
    expect(identifyHash(null as unknown as string)).toBeNull();
    expect(identifyHash(42 as unknown as string)).toBeNull();
    expect(identifyHash('5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8')).toBeNull();
  });

  it('non-string stored values are unsupported, not a crash', async () => {
    await expect(verifyPassword('x', null as unknown as string)).rejects.toMatchObject({
      code: 'TANDEM_ERR_HASH_UNSUPPORTED',
    });
    await expect(verifyPassword('x', undefined as unknown as string)).rejects.toMatchObject({
      code: 'TANDEM_ERR_HASH_UNSUPPORTED',
    });
  });

  it('a huge stored value is malformed without being parsed', async () => {
    await expectCode('$2b$10$' + 'a'.repeat(100_000), 'TANDEM_ERR_HASH_MALFORMED');
  });
});

// Work factors far beyond the caps. Computing any of these honestly would take from seconds to hours, or GiBs.
const ABSURD: readonly (readonly [string, string, string, VerifyOptions?])[] = [
  ['bcrypt cost 31', '$2b$31$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s.', 'cost'],
  [
    'bcrypt cost 15 (just above the default cap 14)',
    '$2a$15$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s.',
    'cost',
  ],
  ['bcrypt $2x$ cost 20', '$2x$20$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e', 'cost'],
  ['wordpress cost 31', '$wp$2y$31$qeleDSuDaeZO5fBsEqFReeWdlqaDnBDBzB16hFgsFnhN9qFBIihvm', 'cost'],
  ['django bcrypt cost 25', 'bcrypt$$2b$25$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s.', 'cost'],
  [
    'django pbkdf2 10^9 iterations',
    'pbkdf2_sha256$1000000000$seasalt$8xBlGd3jVgvJ+92hWPxi5ww0uuAuAnKgC45eudxro7c=',
    'iterations',
  ],
  [
    'passlib pbkdf2 10^9 rounds',
    '$pbkdf2-sha512$1000000000$RHY0Fr3IDMSVO/RSZyb5ow$eNLfBK.eVozomMr.1gYa17k9B7KIK25NOEshvhrSX.esqY3s.FvWZViXz4KoLlQI.BzY/YTNJOiKc5gBYFYGww',
    'iterations',
  ],
  [
    'werkzeug pbkdf2 10^9 iterations',
    'pbkdf2:sha256:1000000000$sAlT1234abcdEFGH$bacf7322ae13d5dd46cbd72a7c4848514e89060f389a0080677bc1f0b2566fe5',
    'iterations',
  ],
  [
    'aspnet v3 2^32-1 iterations',
    'AQAAAAH/////AAAAEAABAgMEBQYHCAkKCwwNDg+yWU7rLgUwPZb1Itsmra7cbxw2EFpwpVFIEtP+JIuUEw==',
    'iterations',
  ],
  ['scrypt ln=30', '$scrypt$ln=30,r=8,p=1$wlhLyXmP8b53bm1NKYVQqg$mTpvG8lzuuDk+DWz8HZIB6Vum6erDuUm0As5yU+VxWA', 'N'],
  ['scrypt ln=200', '$scrypt$ln=200,r=8,p=1$wlhLyXmP8b53bm1NKYVQqg$mTpvG8lzuuDk+DWz8HZIB6Vum6erDuUm0As5yU+VxWA', 'ln'],
  [
    'scrypt memory via r·p',
    '$scrypt$ln=16,r=64,p=64$wlhLyXmP8b53bm1NKYVQqg$mTpvG8lzuuDk+DWz8HZIB6Vum6erDuUm0As5yU+VxWA',
    '128·N·r·p (bytes)',
  ],
  [
    'django scrypt N=2^30',
    'scrypt$1073741824$seasalt$8$1$Qj3+9PPyRjSJIebHnG81TMjsqtaIGxNQG/aEB/NYafTJ7tibgfYz71m0ldQESkXFRkdVCBhhY8mx7rQwite/Pw==',
    'N',
  ],
  ['werkzeug scrypt N=2^24', 'scrypt:16777216:8:1$sAlT1234abcdEFGH$' + 'aa'.repeat(64), 'N'],
  [
    'argon2id m=4194304 (4 GiB)',
    '$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4',
    'memoryCost (m, KiB)',
  ],
  [
    'argon2i m=1048576 (the PHC reference vector, 1 GiB)',
    '$argon2i$v=19$m=1048576,t=2,p=1$c29tZXNhbHQ$0Vh6ygkiw7XWqD7asxvuPE667zQu1hJ6VdGbI1GtH0E',
    'memoryCost (m, KiB)',
  ],
  [
    'argon2d t=1000',
    '$argon2d$v=19$m=8,t=1000,p=1$c29tZXNhbHQ$ba2qC75j0+JAunZZ/L0hZdQgCv+tOieBuKKXSrQiWm7nlkRcK+YqWr0i0m0WABJKelU8qHJp0SZzH0b1Z+ITvQ',
    'timeCost (t)',
  ],
  [
    'argon2id p=64',
    '$argon2id$v=19$m=4096,t=1,p=64$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4',
    'parallelism (p)',
  ],
  [
    'django argon2 m=4194304',
    'argon2$argon2id$v=19$m=4194304,t=2,p=8$Y041dExhNkljRUUy$TMa6A8fPJhCAUXRhJXCXdw',
    'memoryCost (m, KiB)',
  ],
  [
    'sha512-crypt rounds=999999999',
    '$6$rounds=999999999$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1',
    'rounds',
  ],
  ['sha256-crypt rounds=2000000', '$5$rounds=2000000$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5', 'rounds'],
  ['phpass 2^30 iterations', '$P$SIQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0', 'log2(iterations)'],
  ['ldap {CRYPT} bcrypt cost 31', '{CRYPT}$2b$31$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s.', 'cost'],
  [
    'firebase memCost beyond the scrypt cap',
    'firebase-scrypt$42xEC+ixf3L2lw==$lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==',
    'N',
    { firebase: { ...FIREBASE.firebase!, memCost: 24 } },
  ],
];

describe('work factors above the caps are TANDEM_ERR_HASH_WORK_FACTOR', () => {
  for (const [name, hash, parameter, options] of ABSURD) {
    it(name, async () => {
      const err = await expectCode(hash, 'TANDEM_ERR_HASH_WORK_FACTOR', options);
      expect(err.detail.parameter).toBe(parameter);
    });
  }

  it('caps are configurable in both directions', async () => {
    // A valid reference vector above a lowered cap is refused …
    await expectCode('$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW', 'TANDEM_ERR_HASH_WORK_FACTOR', {
      caps: { bcryptCost: 4 },
    });
    await expectCode('$pbkdf2$1212$OB.dtnSEXZK8U5cgxU/GYQ$y5LKPOplRmok7CZp/aqVDVg8zGI', 'TANDEM_ERR_HASH_WORK_FACTOR', {
      caps: { pbkdf2Iterations: 1000 },
    });
    await expectCode(
      '$argon2i$v=19$m=512,t=2,p=2$1sV0O4PWLtc12Ypv1f7oGw$z+yqzlKtrq3SaNfXDfIDnQ',
      'TANDEM_ERR_HASH_WORK_FACTOR',
      { caps: { argon2MemoryKiB: 256 } },
    );
    await expectCode(
      '$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA',
      'TANDEM_ERR_HASH_WORK_FACTOR',
      { caps: { shaCryptRounds: 5000 } },
    );
    await expectCode('$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0', 'TANDEM_ERR_HASH_WORK_FACTOR', { caps: { phpassLog2: 10 } });
    await expectCode(
      '$scrypt$ln=10,r=8,p=16$TmFDbA$/bq+HJ00cgB4VucZDQHp/nxq18vII3gw53N2Y0s3MWI',
      'TANDEM_ERR_HASH_WORK_FACTOR',
      { caps: { scryptMaxmem: 8 * 1024 * 1024 } },
    );
    // … and a raised cap lets a strong hash through (Django 6.0 defaults to 1,200,000 PBKDF2 iterations).
    const r = await verifyPassword('x', 'pbkdf2_sha256$1200000$seasalt$8xBlGd3jVgvJ+92hWPxi5ww0uuAuAnKgC45eudxro7c=', {
      caps: { pbkdf2Iterations: 1_200_000 },
    }).catch((e: unknown) => e);
    expect(r).toMatchObject({ ok: false, scheme: 'django-pbkdf2-sha256' });
  });
});

describe('password length', () => {
  it('passwords above maxPasswordBytes are refused without computing (sha-crypt cost grows with length × rounds)', async () => {
    const hash = '$5$rounds=999999$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5';
    const t0 = performance.now();
    expect(await verifyPassword('x'.repeat(5000), hash)).toEqual({
      ok: false,
      scheme: 'sha256-crypt',
      needsRehash: true,
    });
    expect(performance.now() - t0).toBeLessThan(5000); // an honest computation would take minutes
    // the limit is configurable
    expect(
      (await verifyPassword('\u20ac'.repeat(10), '$1$saltsalt$5Jhcit4zN9UlGiA0txPkO0', { maxPasswordBytes: 16 })).ok,
    ).toBe(false);
    expect((await verifyPassword('', '$1$saltsalt$5Jhcit4zN9UlGiA0txPkO0', { maxPasswordBytes: 16 })).ok).toBe(true);
  });
});
