/**
 * Known-answer tests for every hash format of the registry. Every vector comes from the format's reference
 * implementation or specification, or from a reference tool run on the development machine; the source is named
 * next to each group. For every vector: `identifyHash` names the scheme, the password verifies, and the password with
 * an extra leading `x` does not (a leading change, because bcrypt ignores bytes after the 72nd).
 *
 * Tools used to generate vectors here (Debian 12): libxcrypt 4.4.33 through Perl's `crypt()` (md5-crypt, sha-crypt,
 * bcrypt $2a$/$2b$/$2x$/$2y$ — libxcrypt's bcrypt is Openwall crypt_blowfish), OpenSSL 3.0 `openssl passwd` and
 * `openssl enc -aes-256-ctr`, MariaDB 10.11 `PASSWORD()`, CPython 3 `hashlib` / `hmac` (pbkdf2_hmac, scrypt, sha*,
 * md5) following the quoted reference source line by line.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { identifyHash, verifyPassword, type VerifyOptions } from '../../src/identity/index.js';
import { dataset, describeWithDataset } from '../datasets.js';

// passlib's standard unicode test passwords (passlib/tests/test_handlers.py).
const UPASS_WAV = '\u0399\u03c9\u03b1\u03bd\u03bd\u03b7\u03c2';
const UPASS_USD = '\u20ac\u00a5$';
const UPASS_TABLE = 't\u00e1\u0411\u2113\u0259';
// Django's standard test password (tests/auth_tests/test_hashers.py).
const LETMEIN = 'l\u00e8tmein';

interface Group {
  scheme: string;
  source: string;
  options?: VerifyOptions;
  vectors: readonly (readonly [string, string])[];
}

const GROUPS: Group[] = [
  // ------------------------------------------------------------------ bcrypt
  {
    scheme: 'bcrypt',
    source: 'passlib tests/test_handlers_bcrypt.py (JtR 1.7.9, Openwall crypt v1.2, py-bcrypt tests, passlib custom)',
    vectors: [
      ['U*U*U*U*', '$2a$05$c92SVSfjeiCD6F2nAD6y0uBpJDjdRkt0EgeC4/31Rf2LUZbDRDE.O'],
      ['U*U***U', '$2a$05$WY62Xk2TXZ7EvVDQ5fmjNu7b0GEzSzUXUh2cllxJwhtOeMtWV3Ujq'],
      ['', '$2a$05$Otz9agnajgrAe0.kFVF9V.tzaStZ2s1s4ZWi/LY4sw2k/MTVFj/IO'],
      ['U*U', '$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW'],
      ['', '$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy'],
      [
        '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789chars after 72 are ignored',
        '$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui',
      ],
      ['0123456789'.repeat(26).slice(0, 255), '$2a$04$R1lJ2gkNaoPGdafE.H.16.1MKHPvmKwryeulRe225LKProWYwt9Oi'],
      ['a', '$2a$10$k87L/MF28Q673VKh8/cPi.SUl7MU/rWuSiIDDFayrKk/1tBsSQu4u'],
      ['~!@#$%^&*()      ~!@#$%^&*()PNBFRD', '$2a$10$LgfYWkbzEvQ4JakH7rOvHe0y8pHKF9OaFgwUZ2q7W2FFZmZzJYlfS'],
      [UPASS_TABLE, '$2a$05$Z17AXnnlpzddNUvnC6cZNOSwMA/8oNiKnHTHTwLlBijfucQQlHjaG'],
      [UPASS_TABLE, '$2b$05$Z17AXnnlpzddNUvnC6cZNOSwMA/8oNiKnHTHTwLlBijfucQQlHjaG'],
      [UPASS_TABLE, '$2a$04$uM6csdM8R9SXTex/gbTayezuvzFEufYGd2uB6of7qScLjQ4GwcD4G'],
      // salt with padding bits set still verifies (passlib known_incorrect_padding)
      ['test', '$2a$04$oaQbBqq8JnSM1NHRPQGXORY4Vw3bdHKLIXTecPDRAcJ98cz1ilveO'],
      // the original $2$ prefix (passlib full-mode vectors): no NUL terminator, so "abc" repeats cyclically
      ['abc', '$2$05$......................XuQjdH.wPVNUZ/bOfstdW/FqB8QSjte'],
      ['abc'.repeat(23), '$2$05$......................XuQjdH.wPVNUZ/bOfstdW/FqB8QSjte'],
    ],
  },
  {
    scheme: 'bcrypt',
    source: 'libxcrypt 4.4.33 (crypt_blowfish) via Perl crypt(), UTF-8 passwords',
    vectors: [
      ['', '$2b$04$CCCCCCCCCCCCCCCCCCCCC.Cg0ly9t/KVBCBYYDfOmZKwry9JuXClC'],
      [UPASS_TABLE, '$2y$04$abcdefghijklmnopqrstuujoYbt9wkm/DnaMuHm6ZOz0LFF57rGBO'],
      ['\u00e9t\u00e9', '$2a$04$abcdefghijklmnopqrstuuqJbFBQPmEuBpYWIGZrYwVfOkXZdOhCm'],
      ['plain ascii', '$2a$04$abcdefghijklmnopqrstuuOA2t3T19uKNKcb9zBKYhjI17dQCyHca'],
    ],
  },
  {
    scheme: 'bcrypt-2x',
    source:
      'libxcrypt 4.4.33 (crypt_blowfish $2x$ = the pre-CVE-2011-2483 sign-extension bug) via Perl crypt(), UTF-8 passwords',
    vectors: [
      ['\u00e9t\u00e9', '$2x$04$abcdefghijklmnopqrstuuJBkOrAeQ5MyvqBBs7V2uMqYxsK6WLhu'],
      ['\u20acuro', '$2x$05$/OK.fbVrR/bpIqNJ5ianF.pDjG7DZuT9WPdwPnMAGtwGKO0ecaSay'],
      // ASCII: $2x$ equals $2a$
      ['plain ascii', '$2x$04$abcdefghijklmnopqrstuuOA2t3T19uKNKcb9zBKYhjI17dQCyHca'],
    ],
  },
  {
    scheme: 'wordpress-bcrypt',
    source:
      'WordPress 6.8 pluggable.php algorithm; first two: hashes published with PHP password_hash (grimoire spec golden vector, BigBike PasswordServiceWpHashTest); rest: CPython hmac/base64 + libxcrypt $2y$',
    vectors: [
      ['grimoire-test-123', '$wp$2y$12$iWN5xRwDE7i9R5jVJvCyqOxS1CNnwUggQaF8O2W9Bg8TuXQz.ngrS'],
      ['BigBike@2026', '$wp$2y$10$qeleDSuDaeZO5fBsEqFReeWdlqaDnBDBzB16hFgsFnhN9qFBIihvm'],
      ['password', '$wp$2y$04$wordpresssaltwordpreseQx6anG9Zq.a3v.Xdy7JjJAA9kE6qjn2'],
      ['', '$wp$2y$04$wordpresssaltwordprese9uF9SDrWEtWph6uComIqYGFghcV4e4e'],
      ['p\u00e4ssw\u00f6rd \u20ac', '$wp$2y$04$wordpresssaltwordprese8Poh4oV.OSGA3U5S7JyCkertmsq9QaS'],
      // WordPress hashed trim('  padded  ') = 'padded'
      ['  padded  ', '$wp$2y$04$wordpresssaltwordpreseEJUwuKH4BYeN2ErN4HZAO..etjwybse'],
      ['padded', '$wp$2y$04$wordpresssaltwordpreseEJUwuKH4BYeN2ErN4HZAO..etjwybse'],
    ],
  },
  // ------------------------------------------------------------------ md5-crypt, apr1
  {
    scheme: 'md5-crypt',
    source: 'passlib tests/test_handlers.py md5_crypt (JtR 1.7.9 and passlib custom)',
    vectors: [
      ['U*U*U*U*', '$1$dXc3I7Rw$ctlgjDdWJLMT.qwHsWhXR1'],
      ['*U*U*U*U', '$1$eQT9Hwbt$XtuElNJD.eW5MN5UCWyTQ0'],
      ['', '$1$Eu.GHtia$CFkL/nE1BYTlEPiVx1VWX0'],
      [' ', '$1$m/5ee7ol$bZn0kIBFipq39e.KDXX8I0'],
      ['4lpHa N|_|M3r1K W/ Cur5Es: #$%(*)(*%#', '$1$jQS7o98J$V6iTcr71CGgwW2laf17pi1'],
      ['s', '$1$ssssssss$YgmLTApYTv12qgTwBoj8i/'],
      [UPASS_TABLE, '$1$d6/Ky1lU$/xpf8m7ftmWLF.TjHCqel0'],
    ],
  },
  {
    scheme: 'md5-crypt',
    source: 'OpenSSL 3.0 `openssl passwd -1` and libxcrypt via Perl crypt()',
    vectors: [
      ['', '$1$saltsalt$5Jhcit4zN9UlGiA0txPkO0'],
      ['password', '$1$abcdefgh$G//4keteveJp0qb8z2DxG/'],
    ],
  },
  {
    scheme: 'apr1',
    source:
      'Apache docs (misc/password_encryptions.html) via passlib; OpenSSL 3.0 `openssl passwd -apr1`; passlib custom',
    vectors: [
      ['myPassword', '$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/'],
      [UPASS_TABLE, '$apr1$bzYrOHUx$a1FcpXuQDJV3vPY20CS6N1'],
      ['', '$apr1$emptyXY$WepbAQNmfjSvecE5.5tkR0'],
      ['caf\u00e9', '$apr1$unicode$OfEkFKUJwqiw.rdE8EHRu.'],
    ],
  },
  // ------------------------------------------------------------------ sha-crypt
  {
    scheme: 'sha256-crypt',
    source:
      'Drepper SHA-crypt.txt test vectors (as carried by passlib known_correct_configs); JtR 1.7.9 / passlib custom',
    vectors: [
      ['Hello world!', '$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5'],
      ['Hello world!', '$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA'],
      ['This is just a test', '$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5'],
      [
        'a very much longer text to encrypt.  This one even stretches over morethan one line.',
        '$5$rounds=1400$anotherlongsalts$Rx.j8H.h8HjEDGomFU8bDkXm3XIUnzyxf12oP84Bnq1',
      ],
      [
        'we have a short salt string but not a short password',
        '$5$rounds=77777$short$JiO1O3ZpDAxGJeaDIuqCoEFysAe1mZNJRs3pw0KQRd/',
      ],
      ['a short string', '$5$rounds=123456$asaltof16chars..$gP3VQ/6X7UUEW3HkBn2w1/Ptq2jxPyzV/cZKmF/wJvD'],
      [
        'the minimum number is still observed',
        '$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC',
      ],
      ['', '$5$kc7lRD1fpYg0g.IP$d7CMTcEqJyTXyeq8hTdu/jB/I6DGkoo62NXbHIR7S43'],
      ['with unic\u00d6de', '$5$rounds=1000$IbG0EuGQXw5EkMdP$LQ5AfPf13KufFsKtmazqnzSGZ4pxtUNw3woQ.ELRDF4'],
    ],
  },
  {
    scheme: 'sha256-crypt',
    source: 'libxcrypt via Perl crypt()',
    vectors: [
      ['', '$5$rounds=1000$emptypw$R/wgStrZGb87DR54ZFXPAjKAgm.1oPmQZlw4WtZza5B'],
      [UPASS_USD, '$5$rounds=1000$unicodesalt$KprPOy/ii.MAxbRk7mdxE69PNMk7i5.gz2vGIgsx2N0'],
    ],
  },
  {
    scheme: 'sha512-crypt',
    source:
      'Drepper SHA-crypt.txt test vectors (as carried by passlib known_correct_configs); JtR 1.7.9 / passlib custom',
    vectors: [
      [
        'Hello world!',
        '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1',
      ],
      [
        'Hello world!',
        '$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.',
      ],
      [
        'This is just a test',
        '$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0',
      ],
      [
        'a very much longer text to encrypt.  This one even stretches over morethan one line.',
        '$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1',
      ],
      [
        'the minimum number is still observed',
        '$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.',
      ],
      [
        '',
        '$6$ojWH1AiTee9x1peC$QVEnTvRVlPRhcLQCk/HnHaZmlGAAjCfrAN0FtOsOnUk5K5Bn/9eLHHiRzrTzaIKjW9NTLNIBUCtNVOowWS2mN.',
      ],
      [
        UPASS_TABLE,
        '$6$rounds=40000$PEZTJDiyzV28M3.m$GTlnzfzGB44DGd1XqlmC4erAJKCP.rhvLvrYxiT38htrNzVGBnplFOHjejUGVrCfusGWxLQCc3pFO0A/1jYYr0',
      ],
    ],
  },
  {
    scheme: 'sha512-crypt',
    source: 'libxcrypt via Perl crypt()',
    vectors: [
      [
        '',
        '$6$rounds=1000$emptypw$HlIvXUyYuit0YXo7TQsvDbSukfTPXqMfer3T883.YtTaRpAHhGsXXvUpZxRWVIR6LzICKFT6VsLlh3xHWI3zr0',
      ],
      [
        UPASS_USD,
        '$6$rounds=1000$unicodesalt$NF30Dq5.IvvIaNTJHACDpB/sFf9mSKWaafM6GoMFNYALx6ljmZJqH9xLfvbG2.NV9d4V7P9hgCs1fB/vPAhMX.',
      ],
    ],
  },
  // ------------------------------------------------------------------ phpass
  {
    scheme: 'phpass',
    source: 'passlib tests/test_handlers.py phpass (official phpass 0.3 source, JtR 1.7.9, passlib custom)',
    vectors: [
      ['test12345', '$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0'],
      ['test1', '$H$9aaaaaSXBjgypwqm.JsMssPLiS8YQ00'],
      ['123456', '$H$9PE8jEklgZhgLmZl5.HYJAzfGCQtzi1'],
      ['thisisalongertestPW', '$P$912345678LIjjb6PhecupozNBmDndU0'],
      ['JohnRipper', '$P$612345678si5M0DDyPpmRCmcltU/YW/'],
      ['JohnRipper', '$H$712345678WhEyvy1YWzT4647jzeOmo0'],
      ['JohnRipper', '$P$B12345678L6Lpt4BxNotVIMILOa9u81'],
      ['', '$P$7JaFQsPzJSuenezefD/3jHgt5hVfNH0'],
      ['compL3X!', '$P$FiS0N5L672xzQx1rt1vgdJQRYKnQM9/'],
      [UPASS_TABLE, '$P$7SMy8VxnfsIy2Sxm7fJxDSdil.h7TW.'],
    ],
  },
  // ------------------------------------------------------------------ Django
  {
    scheme: 'django-pbkdf2-sha256',
    source:
      'Django tests/auth_tests/test_hashers.py; passlib test_handlers_django.py (Django 1.4); CPython hashlib per hashers.py',
    vectors: [
      [LETMEIN, 'pbkdf2_sha256$390000$seasalt$8xBlGd3jVgvJ+92hWPxi5ww0uuAuAnKgC45eudxro7c='],
      ['not a password', 'pbkdf2_sha256$10000$kjVJaVz6qsnJ$5yPHw3rwJGECpUf70daLGhOrQ5+AMxIJdz1c3bqK1Rs='],
      [UPASS_TABLE, 'pbkdf2_sha256$10000$bEwAfNrH1TlQ$OgYUblFNUX1B8GfMqaCYUK/iHyO0pa7STTDdaEJBuY0='],
      ['', 'pbkdf2_sha256$1000$seasalt$XHfRVmyEZRTCcSbqGP00JKv0fRwYHK0ogjPZdSJxCXk='],
    ],
  },
  {
    scheme: 'django-pbkdf2-sha1',
    source:
      'Django tests/auth_tests/test_hashers.py; passlib test_handlers_django.py (Django 1.4); CPython hashlib per hashers.py',
    vectors: [
      [LETMEIN, 'pbkdf2_sha1$390000$seasalt2$aDapRanzW8aHTz97v2TcfHzWD+I='],
      ['not a password', 'pbkdf2_sha1$10000$wz5B6WkasRoF$atJmJ1o+XfJxKq1+Nu1f1i57Z5I='],
      [UPASS_TABLE, 'pbkdf2_sha1$10000$KZKWwvqb8BfL$rw5pWsxJEU4JrZAQhHTCO+u0f5Y='],
      ['', 'pbkdf2_sha1$1000$seasalt$dbFbGdNSsmpcbEzYDW8WUNxI63I='],
      [UPASS_USD, 'pbkdf2_sha1$1500$c2e86$jNGgg9VLPWoWZ+hMojgxMUxAMuk='],
    ],
  },
  {
    scheme: 'django-bcrypt-sha256',
    source: 'passlib tests/test_handlers_django.py (generated by the Django 1.6 hasher)',
    vectors: [
      ['', 'bcrypt_sha256$$2a$06$/3OeRpbOf8/l6nPPRdZPp.nRiyYqPobEZGdNRBWihQhiFDh1ws1tu'],
      [LETMEIN, 'bcrypt_sha256$$2a$08$NDjSAIcas.EcoxCRiArvT.MkNiPYVhrsrnJsRkLueZOoV1bsQqlmC'],
      [UPASS_TABLE, 'bcrypt_sha256$$2a$06$kCXUnRFQptGg491siDKNTu8RxjBGSjALHRuvhPYNFsa4Ea5d9M48u'],
      ['abc123'.repeat(12), 'bcrypt_sha256$$2a$06$Tg/oYyZTyAf.Nb3qSgN61OySmyXA8FoY4PjGizjE1QSDfuL5MXNni'],
      ['abc123'.repeat(12) + 'qwr', 'bcrypt_sha256$$2a$06$Tg/oYyZTyAf.Nb3qSgN61Ocy0BEz1RK6xslSNi8PlaLX2pe7x/KQG'],
    ],
  },
  {
    scheme: 'django-bcrypt',
    source: 'passlib tests/test_handlers_django.py (bcrypt vectors wrapped the Django way)',
    vectors: [
      ['', 'bcrypt$$2a$06$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s.'],
      ['abcdefghijklmnopqrstuvwxyz', 'bcrypt$$2a$10$fVH8e28OQRj9tqiDXs1e1uxpsjN0c7II7YPKXua2NAKYvM6iQk7dq'],
      [UPASS_TABLE, 'bcrypt$$2a$05$Z17AXnnlpzddNUvnC6cZNOSwMA/8oNiKnHTHTwLlBijfucQQlHjaG'],
    ],
  },
  {
    scheme: 'django-argon2',
    source:
      'Django tests/auth_tests/test_hashers.py (old hashes with and without v=); passlib test_handlers_django.py (Django 1.10.3)',
    vectors: [
      [
        'secret',
        'argon2$argon2i$m=8,t=1,p=1$c29tZXNhbHQ$gwQOXSNhxiOxPOA0+PY10P9QFO4NAYysnqRt1GSQLE55m+2GYDt9FEjPMHhP2Cuf0nOEXXMocVrsJAtNSsKyfg',
      ],
      ['secret', 'argon2$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$YC9+jJCrQhs5R6db7LlN8Q'],
      ['secret', 'argon2$argon2id$v=19$m=102400,t=2,p=8$Y041dExhNkljRUUy$TMa6A8fPJhCAUXRhJXCXdw'],
      ['password', 'argon2$argon2i$v=19$m=256,t=1,p=1$c29tZXNhbHQ$AJFIsNZTMKTAewB4+ETN1A'],
      [LETMEIN, 'argon2$argon2i$v=19$m=512,t=2,p=2$V25jN1l4UUJZWkR1$MxpA1BD2Gh7+D79gaAw6sQ'],
    ],
  },
  {
    scheme: 'django-scrypt',
    source: 'Django tests/auth_tests/test_hashers.py; CPython hashlib.scrypt per hashers.py (ScryptPasswordHasher)',
    vectors: [
      [
        LETMEIN,
        'scrypt$16384$seasalt$8$1$Qj3+9PPyRjSJIebHnG81TMjsqtaIGxNQG/aEB/NYafTJ7tibgfYz71m0ldQESkXFRkdVCBhhY8mx7rQwite/Pw==',
      ],
      [
        '',
        'scrypt$1024$seasalt$8$1$hUpfPYkR4g0FOgN1DeevrGv6KHZXRgS0C331OyzMGtdRyFY4me6XHvZGccibxkoOR5GX6dPxCQ/SNoPsvpiOng==',
      ],
      [
        LETMEIN,
        'scrypt$2048$seasalt2$4$2$UmhmD9smAMj6L1l9KknbUEcQoxE/EBTDbLG3DhYAzYtZrg+fxgJOLC3C9XYRPHqQjo2QDkS0uBbYHRXR4F++SQ==',
      ],
    ],
  },
  {
    scheme: 'django-sha1',
    source: 'Django tests/auth_tests/test_hashers.py; passlib test_handlers_django.py; CPython hashlib per hashers.py',
    vectors: [
      [LETMEIN, 'sha1$seasalt$cff36ea83f5706ce9aa7454e63e431fc726b2dc8'],
      ['password', 'sha1$123abcdef$e4a1877b0e35c47329e7ed7e58014276168a37ba'],
      ['test', 'sha1$bcwHF9Hy8lxS$6b4cfa0651b43161c6f1471ce9523acf1f751ba3'],
      [UPASS_TABLE, 'sha1$6d853$ef13a4d8fb57aed0cb573fe9c82e28dc7fd372d4'],
      ['', 'sha1$seasalt$b2364b737d90ca7aab36cc321d38f5ce7bdba9fa'],
    ],
  },
  {
    scheme: 'django-unsalted-sha1',
    source: 'Django tests/auth_tests/test_hashers.py (UnsaltedSHA1PasswordHasher); CPython hashlib',
    vectors: [
      [LETMEIN, 'sha1$$6d138ca3ae545631b3abd71a4f076ce759c5700b'],
      ['', 'sha1$$da39a3ee5e6b4b0d3255bfef95601890afd80709'],
    ],
  },
  {
    scheme: 'django-md5',
    source: 'Django tests/auth_tests/test_hashers.py; passlib test_handlers_django.py; CPython hashlib per hashers.py',
    vectors: [
      [LETMEIN, 'md5$seasalt$3f86d0d3d465b7b458c231bf3555c0e3'],
      ['password', 'md5$123abcdef$c8272612932975ee80e8a35995708e80'],
      [UPASS_USD, 'md5$c2e86$92105508419a81a6babfaecf876a2fa0'],
      [UPASS_TABLE, 'md5$d9eb8$01495b32852bffb27cf5d4394fe7a54c'],
      ['', 'md5$seasalt$4b144f4ae05cfb6b0fe96d22626591c8'],
    ],
  },
  {
    scheme: 'django-unsalted-md5',
    source:
      'Django tests/auth_tests/test_hashers.py (UnsaltedMD5PasswordHasher, alternate md5$$ syntax); CPython hashlib',
    vectors: [
      [LETMEIN, 'md5$$88a434c88cca4e900f7874cd98123f43'],
      ['', 'md5$$d41d8cd98f00b204e9800998ecf8427e'],
    ],
  },
  // ------------------------------------------------------------------ passlib
  {
    scheme: 'passlib-pbkdf2-sha1',
    source:
      'passlib tests/test_handlers_pbkdf2.py; empty password: CPython hashlib + ab64 per passlib/handlers/pbkdf2.py',
    vectors: [
      ['password', '$pbkdf2$1212$OB.dtnSEXZK8U5cgxU/GYQ$y5LKPOplRmok7CZp/aqVDVg8zGI'],
      [UPASS_WAV, '$pbkdf2$1212$THDqatpidANpadlLeTeOEg$HV3oi1k5C5LQCgG1BMOL.BX4YZc'],
      ['', '$pbkdf2$1000$AAECAwQFBgcICQoLDA0ODw$GNXM9eJ1ZHP3L7FmRhlUZ6FGfiU'],
    ],
  },
  {
    scheme: 'passlib-pbkdf2-sha256',
    source: 'passlib tests/test_handlers_pbkdf2.py; empty password: CPython hashlib + ab64',
    vectors: [
      ['password', '$pbkdf2-sha256$1212$4vjV83LKPjQzk31VI4E0Vw$hsYF68OiOUPdDZ1Fg.fJPeq1h/gXXY7acBp9/6c.tmQ'],
      [UPASS_WAV, '$pbkdf2-sha256$1212$3SABFJGDtyhrQMVt1uABPw$WyaUoqCLgvz97s523nF4iuOqZNbp5Nt8do/cuaa7AiI'],
      ['', '$pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw$xbMBsf1hvO1j8AZCojBOxnRRn7182DxLyD2v4XQ/mFU'],
    ],
  },
  {
    scheme: 'passlib-pbkdf2-sha512',
    source: 'passlib tests/test_handlers_pbkdf2.py; empty password: CPython hashlib + ab64',
    vectors: [
      [
        'password',
        '$pbkdf2-sha512$1212$RHY0Fr3IDMSVO/RSZyb5ow$eNLfBK.eVozomMr.1gYa17k9B7KIK25NOEshvhrSX.esqY3s.FvWZViXz4KoLlQI.BzY/YTNJOiKc5gBYFYGww',
      ],
      [
        UPASS_WAV,
        '$pbkdf2-sha512$1212$KkbvoKGsAIcF8IslDR6skQ$8be/PRmd88Ps8fmPowCJttH9G3vgxpG.Krjt3KT.NP6cKJ0V4Prarqf.HBwz0dCkJ6xgWnSj2ynXSV7MlvMa8Q',
      ],
      [
        '',
        '$pbkdf2-sha512$1000$AAECAwQFBgcICQoLDA0ODw$q6csOYeUCKpcqtwGZZisjQcr4n1FUHaXR6hVf4MMGvkPATpf5BWKap.JNezIX2AvVpmsv414Sj3kWBq4p9iEhA',
      ],
    ],
  },
  {
    scheme: 'ldap-pbkdf2-sha1',
    source: 'passlib tests/test_handlers_pbkdf2.py (ldap_pbkdf2 wrappers) and tests/test_handlers.py RoundupTest',
    vectors: [
      ['password', '{PBKDF2}1212$OB.dtnSEXZK8U5cgxU/GYQ$y5LKPOplRmok7CZp/aqVDVg8zGI'],
      ['sekrit', '{PBKDF2}5000$7BvbBq.EZzz/O0HuwX3iP.nAG3s$g3oPnFFaga2BJaX5PoPRljl4XIE'],
    ],
  },
  {
    scheme: 'ldap-pbkdf2-sha256',
    source: 'passlib tests/test_handlers_pbkdf2.py (ldap_pbkdf2 wrappers)',
    vectors: [
      ['password', '{PBKDF2-SHA256}1212$4vjV83LKPjQzk31VI4E0Vw$hsYF68OiOUPdDZ1Fg.fJPeq1h/gXXY7acBp9/6c.tmQ'],
      // the passlib-format empty-password vector above, under the LDAP prefix
      ['', '{PBKDF2-SHA256}1000$AAECAwQFBgcICQoLDA0ODw$xbMBsf1hvO1j8AZCojBOxnRRn7182DxLyD2v4XQ/mFU'],
    ],
  },
  {
    scheme: 'ldap-pbkdf2-sha512',
    source: 'passlib tests/test_handlers_pbkdf2.py (ldap_pbkdf2 wrappers)',
    vectors: [
      [
        'password',
        '{PBKDF2-SHA512}1212$RHY0Fr3IDMSVO/RSZyb5ow$eNLfBK.eVozomMr.1gYa17k9B7KIK25NOEshvhrSX.esqY3s.FvWZViXz4KoLlQI.BzY/YTNJOiKc5gBYFYGww',
      ],
      [
        '',
        '{PBKDF2-SHA512}1000$AAECAwQFBgcICQoLDA0ODw$q6csOYeUCKpcqtwGZZisjQcr4n1FUHaXR6hVf4MMGvkPATpf5BWKap.JNezIX2AvVpmsv414Sj3kWBq4p9iEhA',
      ],
    ],
  },
  {
    scheme: 'scrypt',
    source:
      'passlib tests/test_handlers_scrypt.py (scrypt paper appendix B vectors re-encoded by passlib; passlib custom)',
    vectors: [
      ['', '$scrypt$ln=4,r=1,p=1$$d9ZXYjhleyA7GcpCwYoEl/FrSETjB0ro39/6P+3iFEI'],
      ['password', '$scrypt$ln=10,r=8,p=16$TmFDbA$/bq+HJ00cgB4VucZDQHp/nxq18vII3gw53N2Y0s3MWI'],
      ['test', '$scrypt$ln=8,r=8,p=1$wlhLyXmP8b53bm1NKYVQqg$mTpvG8lzuuDk+DWz8HZIB6Vum6erDuUm0As5yU+VxWA'],
      ['password', '$scrypt$ln=8,r=2,p=1$dO6d0xoDoLT2PofQGoNQag$g/Wf2A0vhHhaJM+addK61QPBthSmYB6uVTtQzh8CM3o'],
      [UPASS_TABLE, '$scrypt$ln=7,r=8,p=1$jjGmtDamdA4BQAjBeA9BSA$OiWRHhQtpDx7M/793x6UXK14AD512jg/qNm/hkWZG4M'],
      ['nacl', '$scrypt$ln=1,r=4,p=2$yhnD+J+Tci4lZCwFgHCuVQ$fAsEWmxSHuC0cHKMwKVFPzrQukgvK09Sj+NueTSxKds'],
    ],
  },
  // ------------------------------------------------------------------ Werkzeug
  {
    scheme: 'werkzeug-pbkdf2',
    source:
      'CPython hashlib.pbkdf2_hmac following Werkzeug src/werkzeug/security.py _hash_internal (Werkzeug not installed)',
    vectors: [
      [
        'secret',
        'pbkdf2:sha256:1000$sAlT1234abcdEFGH$bacf7322ae13d5dd46cbd72a7c4848514e89060f389a0080677bc1f0b2566fe5',
      ],
      ['', 'pbkdf2:sha256:1000$emptySALT0000000$f756d8b3e63531e1bece1fecad7a19c9bb7fbadf59861988dd2396ece3a29236'],
      [
        'l\u00e8tmein \u20ac',
        'pbkdf2:sha512:2000$uNiCoDeSaLt12345$cb2a02a7536d0446ac373199fcdf797214e60a62bbbb5d2dcc9e1282f2ef0320b480b57f29556918175f2a6fa85268e35175d7be15a441c8f302ac0d3f5abd03',
      ],
      ['secret', 'pbkdf2:sha1:500$sha1salt$ce3b45f2a7f1641025b4d324f0291b88d8620a3c'],
    ],
  },
  {
    scheme: 'werkzeug-scrypt',
    source: 'CPython hashlib.scrypt(maxmem=132·n·r·p) following Werkzeug 3 src/werkzeug/security.py _hash_internal',
    vectors: [
      [
        'secret',
        'scrypt:1024:8:1$sAlT1234abcdEFGH$aac482836463ec4c2016b92bc15adcbc50f784e02a20a6be6608bcfcac7a55a2675b17ed9215da4fa769198800e5878b9ac6e7c19f87c74eb12436fa36545235',
      ],
      [
        '',
        'scrypt:1024:8:1$emptySALT0000000$c740d055460454a4d02f33402ef74ca4753da33956fe7c23aef6eb02075f05d98d5eb05add3c701b66b2cec1cde9f1211ba969118901418f33997450c4fd10db',
      ],
      [
        'l\u00e8tmein \u20ac',
        'scrypt:2048:4:2$uNiCoDeSaLt12345$fe61b5c94996cac06d73082787582331c7715ce90778d1066eefbf4358a3867aae5d84bc5fbc7da30fde57cabdefd725740b10607c84c748ab98de69b1848b87',
      ],
    ],
  },
  // ------------------------------------------------------------------ Argon2
  {
    scheme: 'argon2i',
    source:
      'PHC reference src/test.c (via passlib test_handlers_argon2.py reference_data); passlib custom; argon2-cffi docs',
    vectors: [
      ['password', '$argon2i$m=65536,t=2,p=1$c29tZXNhbHQ$9sTbSlTio3Biev89thdrlKKiCaYsjjYVJxGAL3swxpQ'], // version 0x10
      ['password', '$argon2i$m=256,t=2,p=2$c29tZXNhbHQ$tsEVYKap1h6scGt5ovl9aLRGOqOth+AMB+KwHpDFZPs'], // version 0x10
      ['password', '$argon2i$v=19$m=256,t=2,p=1$c29tZXNhbHQ$iekCn0Y3spW+sCcFanM2xBT63UP2sghkUoHLIUpWRS8'],
      ['password', '$argon2i$v=19$m=256,t=2,p=2$c29tZXNhbHQ$T/XOJ2mh1/TIpJHfCdQan76Q5esCFVoT5MAeIM1Oq2E'],
      ['differentpassword', '$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$FK6NoBr+qHAMI1jc73xTWNkCEoK9iGY6RWL1n7dNIu4'],
      ['password', '$argon2i$v=19$m=380,t=2,p=2$c29tZXNhbHQ$SrssP8n7m/12VWPM8dvNrw'],
      [UPASS_TABLE, '$argon2i$v=19$m=512,t=2,p=2$1sV0O4PWLtc12Ypv1f7oGw$z+yqzlKtrq3SaNfXDfIDnQ'],
      ['password\u0000', '$argon2i$v=19$m=512,t=2,p=2$c29tZXNhbHQ$Fb5+nPuLzZvtqKRwqUEtUQ'],
    ],
  },
  {
    scheme: 'argon2i',
    source: 'PHC reference libargon2 (Debian libargon2-1, argon2_hash() via CPython ctypes)',
    vectors: [
      ['', '$argon2i$v=19$m=64,t=2,p=1$c2FsdHNhbHRzYWx0MTIzNA$VAntrbwBzlsSiH/2gtBKk7rvtRGuT+qyRxHY6daEGuQ'],
      [
        'p\u00e4ssw\u00f6rd \u20ac',
        '$argon2i$v=19$m=64,t=2,p=1$c2FsdHNhbHRzYWx0MTIzNA$UAgQkesWtJRFPubZa0bVcA26QY7eeBvQDhbuaNdP1CU',
      ],
      [UPASS_WAV, '$argon2i$v=19$m=64,t=2,p=1$c2FsdHNhbHRzYWx0MTIzNA$Y86dEpwcX9ZfUi43PMhhhFjTT6oC/Jhk2S5I4zxMZwk'],
    ],
  },
  {
    scheme: 'argon2id',
    source: 'PHC reference src/test.c (via passlib test_handlers_argon2.py reference_data)',
    vectors: [
      ['password', '$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4'],
      ['password', '$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc'],
      ['password', '$argon2id$v=19$m=65536,t=2,p=1$ZGlmZnNhbHQ$vfMrBczELrFdWP0ZsfhWsRPaHppYdP3MVEMIVlqoFBw'],
    ],
  },
  {
    scheme: 'argon2id',
    source: 'PHC reference libargon2 (Debian libargon2-1, argon2_hash() via CPython ctypes)',
    vectors: [
      ['', '$argon2id$v=19$m=64,t=2,p=1$c2FsdHNhbHRzYWx0MTIzNA$abZKqPtggnEUZmqHZhy6RuRWuVn30YPxcsGH18frLvA'],
      [
        'p\u00e4ssw\u00f6rd \u20ac',
        '$argon2id$v=19$m=64,t=2,p=1$c2FsdHNhbHRzYWx0MTIzNA$yzA57HgrRo+2pEocyHnQKmQqRstp1Paos2/d9/9ypbU',
      ],
      [UPASS_WAV, '$argon2id$v=19$m=64,t=2,p=1$c2FsdHNhbHRzYWx0MTIzNA$prHIW7hVo5pn2yVnnxjam/NzNC0zgyfAbzenxOtvtzk'],
      ['password', '$argon2id$v=16$m=64,t=1,p=2$c29tZXNhbHRzb21lc2FsdA$4onBqwYskDj3hliqrSHKmnIOGQh6xQkJMhIe2SCfBBU'],
    ],
  },
  {
    scheme: 'argon2d',
    source: 'passlib test_handlers_argon2.py (argon2-cffi generated); argon2-cffi docs (low_level.hash_secret doctest)',
    vectors: [
      ['password', '$argon2d$v=19$m=102400,t=2,p=8$g2RodLh8j8WbSdCp+lUy/A$zzAJqL/HSjm809PYQu6qkA'],
      [
        'secret',
        '$argon2d$v=19$m=8,t=1,p=1$c29tZXNhbHQ$ba2qC75j0+JAunZZ/L0hZdQgCv+tOieBuKKXSrQiWm7nlkRcK+YqWr0i0m0WABJKelU8qHJp0SZzH0b1Z+ITvQ',
      ],
    ],
  },
  {
    scheme: 'argon2d',
    source: 'PHC reference libargon2 (Debian libargon2-1, argon2_hash() via CPython ctypes)',
    vectors: [
      ['', '$argon2d$v=19$m=64,t=2,p=1$c2FsdHNhbHRzYWx0MTIzNA$l2y0FANur2A0bZJE9rMeZELD0goK7G9fq6fKohFDweo'],
      [
        'p\u00e4ssw\u00f6rd \u20ac',
        '$argon2d$v=19$m=64,t=2,p=1$c2FsdHNhbHRzYWx0MTIzNA$+0ivDF6DUOROGpiiLTiZfOiYkpkUNi46pL1tdE/ls5I',
      ],
      [UPASS_WAV, '$argon2d$v=19$m=64,t=2,p=1$c2FsdHNhbHRzYWx0MTIzNA$fUc0qpQbJlAuyAvD0wv7vUkLws/IRT4qXJMCpYqhFqs'],
    ],
  },
  // ------------------------------------------------------------------ LDAP
  {
    scheme: 'ldap-ssha',
    source:
      'passlib tests/test_handlers.py ldap_salted_sha1 (salt sizes 4, 8, 15, 16); CPython hashlib per OpenLDAP passwd.c',
    vectors: [
      ['testing123', '{SSHA}0c0blFTXXNuAMHECS4uxrj3ZieMoWImr'],
      ['secret', '{SSHA}0H+zTv8o4MR4H43n03eCsvw1luG8LdB7'],
      [UPASS_TABLE, '{SSHA}3yCSD1nLZXznra4N8XzZgAL+s1sQYsx5'],
      ['test', '{SSHA}P90+qijSp8MJ1tN25j5o1PflUvlqjXHOGeOckw=='],
      ['test', '{SSHA}/ZMF5KymNM+uEOjW+9STKlfCFj51bg3BmBNCiPHeW2ttbU0='],
      ['test', '{SSHA}Pfx6Vf48AT9x3FVv8znbo8WQkEVSipHSWovxXmvNWUvp/d/7'],
      ['', '{SSHA}3VeDvPHpACvACtW4OpXtbk67StUBAgMEBQYHCA=='],
      ['secret', '{ssha}0H+zTv8o4MR4H43n03eCsvw1luG8LdB7'], // scheme names are case-insensitive
    ],
  },
  {
    scheme: 'ldap-sha',
    source: 'passlib tests/test_handlers.py ldap_sha1 and RoundupTest (hex form); CPython hashlib',
    vectors: [
      ['helloworld', '{SHA}at+xg6SiyUovktq1redipHiJpaE='],
      [UPASS_TABLE, '{SHA}4FmyYo46Pi3glWed6YIsHRRm4PA='],
      ['sekrit', '{SHA}8d42e738c7adee551324955458b5e2c0b49ee655'],
      ['', '{SHA}2jmj7l5rSw0yVb/vlWAYkK/YBwk='],
    ],
  },
  {
    scheme: 'ldap-smd5',
    source: 'passlib tests/test_handlers.py ldap_salted_md5 (salt sizes 4, 8, 15, 16); CPython hashlib',
    vectors: [
      ['testing1234', '{SMD5}UjFY34os/pnZQ3oQOzjqGu4yeXE='],
      [UPASS_TABLE, '{SMD5}Z0ioJ58LlzUeRxm3K6JPGAvBGIM='],
      ['test', '{SMD5}LnuZPJhiaY95/4lmVFpg548xBsD4P4cw'],
      ['test', '{SMD5}XRlncfRzvGi0FDzgR98tUgBg7B3jXOs9p9S615qTkg=='],
      ['', '{SMD5}DuBkbBx32BMcyPTuZcdnOwECAwQFBgcI'],
    ],
  },
  {
    scheme: 'ldap-md5',
    source: 'passlib tests/test_handlers.py ldap_md5 and RoundupTest (hex form); CPython hashlib',
    vectors: [
      ['helloworld', '{MD5}/F4DjTilcDIIVEHn/nAQsA=='],
      [UPASS_TABLE, '{MD5}BUc/ihn2aBXnN7MyZKDQsA=='],
      ['sekrit', '{MD5}ccbc53f4464604e714f69dd11138d8b5'],
      ['', '{MD5}1B2M2Y8AsgTpgAmY7PhCfg=='],
    ],
  },
  {
    scheme: 'ldap-ssha256',
    source: 'passlib tests/test_handlers.py ldap_salted_sha256; CPython hashlib',
    vectors: [
      ['password', '{SSHA256}x1tymSTVjozxQ2PtT46ysrzhZxbcskK0o2f8hEFx7fAQQmhtDSEkJA=='],
      ['toomanysecrets', '{SSHA256}RrTKrg6HFXcjJ+eDAq4UtbODxOr9RLeG+I69FoJvutcbY0zpfU+p1Q=='],
      ['letm\u00e8\u00efn', '{SSHA256}km7UjUTBZN8a+gf1ND2/qn15N7LsO/jmGYJXvyTfJKAbI0RoLWWslQ=='],
      ['test', '{SSHA256}TFv2RpwyO0U9mA0Hk8FsXRa1I+4dNUtv27Qa8dzGVLinlDIm'],
      ['', '{SSHA256}ZoQN2hVOihE8Md0K0y9/OjZqgOgTaXnY9aEB09Kdb3IBAgMEBQYHCA=='],
    ],
  },
  {
    scheme: 'ldap-ssha512',
    source:
      'passlib tests/test_handlers.py ldap_salted_sha512 (LDAP server web interface, passlib issue 124); CPython hashlib',
    vectors: [
      [
        'toomanysecrets',
        '{SSHA512}wExp4xjiCHS0zidJDC4UJq9EEeIebAQPJ1PWSwfhxWjfutI9XiiKuHm2AE41cEFfK+8HyI8bh+ztbczUGsvVFIgICWWPt7qu',
      ],
      [
        'letm\u00e8\u00efn',
        '{SSHA512}mpNUSmZc3TNx+RnPwkIAVMf7ocEKLPrIoQNsg4Eu8dHvyCeb2xzHp5A6n4tF7ntknSvfvRZaJII4ImvNJlYsgiwAm0FMqR+3',
      ],
      ['test', '{SSHA512}Yg9DQ2wURCFGwobu7R2O6cq7nVbnGMPrFCX0aPQ9kj/y1hd6k9PEzkgWCB5aXdPwPzNrVb0PkiHiBnG1CxFiT+B8L8U='],
      ['', '{SSHA512}GBjMKs0geICgevw2D9Dah+UczxfnxgTE6xa+V4gyJyTCmOH8xm6yk5JpkxQe8IY8Ce2jgxiM9d9JuRCqysF+xQECAwQFBgcI'],
    ],
  },
  {
    scheme: 'ldap-sha256',
    source: 'CPython hashlib per OpenLDAP contrib/slapd-modules/passwd/sha2 ({SHA256} = base64(SHA-256(password)))',
    vectors: [
      ['', '{SHA256}47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='],
      ['p\u00e4ssw\u00f6rd', '{SHA256}RpcL73Cs7YEj8NXQlHF+KlzUEgQeA7JjdgSf5lsoNKQ='],
    ],
  },
  {
    scheme: 'ldap-sha512',
    source: 'CPython hashlib per OpenLDAP contrib/slapd-modules/passwd/sha2',
    vectors: [
      ['', '{SHA512}z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=='],
      [
        'p\u00e4ssw\u00f6rd',
        '{SHA512}csf+G9M7eFdGqclPm4DSWRzTjzwTyKpD91N/MqKoxfm10c7ha2nwIS4OOalNg/V7zzomuud2AHzrsB8NYxEnPg==',
      ],
    ],
  },
  {
    scheme: 'ldap-crypt:md5-crypt',
    source: 'passlib tests/test_handlers.py ldap_md5_crypt',
    vectors: [
      ['', '{CRYPT}$1$dOHYPKoP$tnxS1T8Q6VVn3kpV8cN6o.'],
      ['test', '{CRYPT}$1$ec6XvcoW$ghEtNK2U1MC5l.Dwgi3020'],
      [UPASS_TABLE, '{CRYPT}$1$d6/Ky1lU$/xpf8m7ftmWLF.TjHCqel0'],
    ],
  },
  {
    scheme: 'ldap-crypt:sha512-crypt',
    source: 'Drepper SHA-crypt.txt vector and libxcrypt vector under {CRYPT}',
    vectors: [
      [
        'Hello world!',
        '{CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1',
      ],
      [
        '',
        '{crypt}$6$rounds=1000$emptypw$HlIvXUyYuit0YXo7TQsvDbSukfTPXqMfer3T883.YtTaRpAHhGsXXvUpZxRWVIR6LzICKFT6VsLlh3xHWI3zr0',
      ],
    ],
  },
  {
    scheme: 'ldap-crypt:bcrypt',
    source: 'Openwall crypt v1.2 vector (via passlib) and a libxcrypt vector under {CRYPT}',
    vectors: [
      ['U*U', '{CRYPT}$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW'],
      [UPASS_TABLE, '{CRYPT}$2y$04$abcdefghijklmnopqrstuujoYbt9wkm/DnaMuHm6ZOz0LFF57rGBO'],
    ],
  },
  // ------------------------------------------------------------------ Atlassian
  {
    scheme: 'atlassian-pbkdf2-sha1',
    source: 'passlib tests/test_handlers_pbkdf2.py (generated using Jira); CPython hashlib per the passlib handler',
    vectors: [
      ['admin', '{PKCS5S2}c4xaeTQM0lUieMS3V5voiexyX9XhqC2dBd5ecVy60IPksHChwoTAVYFrhsgoq8/p'],
      [UPASS_WAV, '{PKCS5S2}cE9Yq6Am5tQGdHSHhky2XLeOnURwzaLBG2sur7FHKpvy2u0qDn6GcVGRjlmJoIUy'],
      ['', '{PKCS5S2}ZGVmZ2hpamtsbW5vcHFyc0JkhfZLxVodblN7ixa1ZP6mcZGPKUU/l8QKZr9zfD6Z'],
      ['p\u00e4ssw\u00f6rd', '{PKCS5S2}ZGVmZ2hpamtsbW5vcHFyc535ux7nF0TxwNRdunVOuL7W8s/GZI+ZAfMoWIGEORCA'],
    ],
  },
  // ------------------------------------------------------------------ ASP.NET Identity
  {
    scheme: 'aspnet-identity-v2',
    source:
      'ASP.NET Core src/Identity/test/Identity.Test/PasswordHasherTest.cs; CPython hashlib per PasswordHasher.cs layout',
    vectors: [
      ['my password', 'AAABAgMEBQYHCAkKCwwNDg+ukCEMDf0yyQ29NYubggHIVY0sdEUfdyeM+E1LtH1uJg=='],
      ['my password', 'ANXrDknc7fGPpigibZXXZFMX4aoqz44JveK6jQuwY3eH/UyPhvr5xTPeGYEckLxz9A=='],
      ['', 'ACAhIiMkJSYnKCkqKywtLi97dNxZkDeAHyrfh1nIXKsKgLF/Tp2a4aOS1SS5ZoRYCA=='],
      ['p\u00e4ssw\u00f6rd', 'ACAhIiMkJSYnKCkqKywtLi8oWDRHTNF3iSNnMogVMaVb/FxhgV32fiqUzYG/4j99BA=='],
    ],
  },
  {
    scheme: 'aspnet-identity-v3',
    source:
      'ASP.NET Core src/Identity/test/Identity.Test/PasswordHasherTest.cs; CPython hashlib per PasswordHasher.cs layout',
    vectors: [
      ['my password', 'AQAAAAEAACcQAAAAEAABAgMEBQYHCAkKCwwNDg+yWU7rLgUwPZb1Itsmra7cbxw2EFpwpVFIEtP+JIuUEw=='],
      ['my password', 'AQAAAAIAAAAyAAAAEOMwvh3+FZxqkdMBz2ekgGhwQ4B6pZWND6zgESBuWiHw'],
      [
        'my password',
        'AQAAAAIAAAD6AAAAIJbVi5wbMR+htSfFp8fTw8N8GOS/Sje+S/4YZcgBfU7EQuqv4OkVYmc4VJl9AGZzmRTxSkP7LtVi9IWyUxX8IAAfZ8v+ZfhjCcudtC1YERSqE1OEdXLW9VukPuJWBBjLuw==',
      ],
      ['my password', 'AQAAAAAAAAD6AAAAEAhftMyfTJylOlZT+eEotFXd1elee8ih5WsjXaR3PA9M'],
      [
        'my password',
        'AQAAAAEAA9CQAAAAIESkQuj2Du8Y+kbc5lcN/W/3NiAZFEm11P27nrSN5/tId+bR1SwV8CO1Jd72r4C08OLvplNlCDc3oQZ8efcW+jQ=',
      ],
      ['', 'AQAAAAEAAAPoAAAAEAABAgMEBQYHCAkKCwwNDg/FswGx/WG87WPwBkKiME7GdFGfvXzYPEvIPa/hdD+YVQ=='],
      [
        'p\u00e4ssw\u00f6rd \u20ac',
        'AQAAAAIAAASwAAAAEAABAgMEBQYHCAkKCwwNDg8pnB8eo2yb9tpuiKua5KtzTucp1o5YMqeuyyvzp9GP4w==',
      ],
    ],
  },
  // ------------------------------------------------------------------ MySQL
  {
    scheme: 'mysql41',
    source:
      'passlib tests/test_handlers.py mysql41 (JtR 1.7.9); MariaDB 10.11 SELECT PASSWORD(…) over a utf8mb4 connection',
    vectors: [
      ['verysecretpassword', '*2C905879F74F28F8570989947D06A8429FB943E6'],
      ['12345678123456781234567812345678', '*F9F1470004E888963FB466A5452C9CBD9DF6239C'],
      ["' OR 1 /*'", '*97CF7A3ACBE0CA58D5391AC8377B5D9AC11D46D9'],
      ['mypass', '*6C8989366EAF75BB670AD8EA7A7FC1176A95CEF4'],
      [UPASS_TABLE, '*E7AFE21A9CFA2FC9D15D942AE8FB5C240FE5837B'],
      ['p\u00e4ssw\u00f6rd \u20ac', '*D027AD51A51AEC3438576BE6B74D8DAEF904D8F1'],
      [' ', '*1A256E4E2FE95B8BF7349C168991EA8035D1359B'],
      ['x', '*b69027d44f6e5edc07f1aead1477967b16f28227'], // lower-case hex accepted
    ],
  },
  // ------------------------------------------------------------------ Firebase
  {
    scheme: 'firebase-scrypt',
    source:
      'github.com/firebase/scrypt README vector (user1password); others: CPython hashlib.scrypt + `openssl enc -aes-256-ctr` per that README',
    options: {
      firebase: {
        signerKey: 'jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==',
        saltSeparator: 'Bw==',
        rounds: 8,
        memCost: 14,
      },
    },
    vectors: [
      [
        'user1password',
        'firebase-scrypt$42xEC+ixf3L2lw==$lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==',
      ],
      [
        '',
        'firebase-scrypt$42xEC+ixf3L2lw==$YyNWByMtXmx1DSYYiVBvLEs+rHDX5vw3QZsZNRhRtAsTYjyE9VjMHAZTBpukNsTMzUYA+taW9ommEIDbYd64XQ==',
      ],
      [
        'p\u00e4ssw\u00f6rd',
        'firebase-scrypt$42xEC+ixf3L2lw==$F6lgfOnU/kcEi9x32N6c79LU6iccneFQkXDzzrDmUGcbs8vJC99GAmD/IIkuzM8a9V6tYl1HhLbWTkgc/cOBQg==',
      ],
      // URL-safe alphabet, as the Identity Toolkit API returns it
      [
        'user1password',
        'firebase-scrypt$42xEC-ixf3L2lw==$lSrfV15cpx95_sZS2W9c9Kp6i_LVgQNDNC_qzrCnh1SAyZvqmZqAjTdn3aoItz-VHjoZilo78198JAdRuid5lQ==',
      ],
    ],
  },
  // ------------------------------------------------------------------ bare digests
  {
    scheme: 'hex-md5',
    source: 'passlib tests/test_handlers.py hex_md5; RFC 1321 test suite (empty string)',
    options: { rawHex: { algorithm: 'md5' } },
    vectors: [
      ['password', '5f4dcc3b5aa765d61d8327deb882cf99'],
      [UPASS_TABLE, '05473f8a19f66815e737b33264a0d0b0'],
      ['', 'd41d8cd98f00b204e9800998ecf8427e'],
      [LETMEIN, '88a434c88cca4e900f7874cd98123f43'], // Django UnsaltedMD5PasswordHasher's bare form
    ],
  },
  {
    scheme: 'hex-sha1',
    source: 'passlib tests/test_handlers.py hex_sha1; FIPS 180 (empty string)',
    options: { rawHex: { algorithm: 'sha1' } },
    vectors: [
      ['password', '5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8'],
      [UPASS_TABLE, 'e059b2628e3a3e2de095679de9822c1d1466e0f0'],
      ['', 'DA39A3EE5E6B4B0D3255BFEF95601890AFD80709'],
    ],
  },
  {
    scheme: 'hex-sha256',
    source: 'passlib tests/test_handlers.py hex_sha256',
    options: { rawHex: { algorithm: 'sha256' } },
    vectors: [
      ['password', '5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8'],
      [UPASS_TABLE, '6ed729e19bf24d3d20f564375820819932029df05547116cfc2cc868a27b4493'],
    ],
  },
  {
    scheme: 'hex-sha512',
    source: 'passlib tests/test_handlers.py hex_sha512',
    options: { rawHex: { algorithm: 'sha512' } },
    vectors: [
      [
        'password',
        'b109f3bbbc244eb82441917ed06d618b9008dd09b3befd1b5e07394c706a8bb980b1d7785e5976ec049b46df5f1326af5a2ea6d103fd07c95385ffab0cacbc86',
      ],
      [
        UPASS_TABLE,
        'd91bb0a23d66dca07a1781fd63ae6a05f6919ee5fc368049f350c9f293b078a18165d66097cf0d89fdfbeed1ad6e7dba2344e57348cd6d51308c843a06f29caf',
      ],
    ],
  },
  {
    scheme: 'hex-sha1-salted',
    source: 'Django SHA1PasswordHasher vectors re-expressed as salt-prefixed bare digests (sha1(salt ‖ password))',
    options: { rawHex: { algorithm: 'sha1', salt: { position: 'prefix', separator: ':' } } },
    vectors: [
      [LETMEIN, 'cff36ea83f5706ce9aa7454e63e431fc726b2dc8:seasalt'],
      ['password', 'e4a1877b0e35c47329e7ed7e58014276168a37ba:123abcdef'],
    ],
  },
  {
    scheme: 'hex-md5-salted',
    source: 'Django MD5PasswordHasher vectors re-expressed as md5(salt ‖ password) with the salt given per call',
    options: { rawHex: { algorithm: 'md5', salt: { position: 'prefix', value: 'seasalt' } } },
    vectors: [
      [LETMEIN, '3f86d0d3d465b7b458c231bf3555c0e3'],
      ['', '4b144f4ae05cfb6b0fe96d22626591c8'],
    ],
  },
];

describe('known-answer vectors', () => {
  for (const g of GROUPS) {
    describe(`${g.scheme} — ${g.source}`, () => {
      for (const [password, hash] of g.vectors) {
        it(`${JSON.stringify(password).slice(0, 40)} ↔ ${hash.slice(0, 32)}…`, async () => {
          expect(identifyHash(hash, g.options)).toBe(g.scheme);
          const good = await verifyPassword(password, hash, g.options);
          expect(good).toEqual({ ok: true, scheme: g.scheme, needsRehash: true });
          const bad = await verifyPassword(`x${password}`, hash, g.options);
          expect(bad.ok).toBe(false);
          expect(bad.scheme).toBe(g.scheme);
        });
      }
    });
  }
});

describe('format-specific behaviour', () => {
  it('bcrypt ignores bytes after the 72nd, as the reference does', async () => {
    const hash = '$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui';
    const long = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
    expect((await verifyPassword(long + 'anything', hash)).ok).toBe(true);
    expect((await verifyPassword(long.slice(0, 71), hash)).ok).toBe(false);
  });

  it('$2x$ differs from $2a$/$2b$ for 8-bit passwords (the bug is emulated, not ignored)', async () => {
    // Same password and salt: libxcrypt gives different checksums under $2x$ and $2a$.
    expect(
      (await verifyPassword('\u00e9t\u00e9', '$2x$04$abcdefghijklmnopqrstuuqJbFBQPmEuBpYWIGZrYwVfOkXZdOhCm')).ok,
    ).toBe(false);
    expect(
      (await verifyPassword('\u00e9t\u00e9', '$2a$04$abcdefghijklmnopqrstuuJBkOrAeQ5MyvqBBs7V2uMqYxsK6WLhu')).ok,
    ).toBe(false);
  });

  it('WordPress trimming can be turned off', async () => {
    const hash = '$wp$2y$04$wordpresssaltwordpreseEJUwuKH4BYeN2ErN4HZAO..etjwybse';
    expect((await verifyPassword('  padded  ', hash, { wordpressTrim: false })).ok).toBe(false);
    expect((await verifyPassword('padded', hash, { wordpressTrim: false })).ok).toBe(true);
  });

  it('phpass $P$ falls back to the trimmed password (WordPress trims before hashing); $H$ does not', async () => {
    expect((await verifyPassword(' test12345 ', '$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0')).ok).toBe(true);
    expect(
      (await verifyPassword(' test12345 ', '$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0', { wordpressTrim: false })).ok,
    ).toBe(false);
    expect((await verifyPassword(' test1', '$H$9aaaaaSXBjgypwqm.JsMssPLiS8YQ00')).ok).toBe(false);
  });

  it('ASP.NET Identity failure payloads from PasswordHasherTest.cs: wrong digest is false, truncated is malformed', async () => {
    // "incorrect password" payloads (digest bytes zeroed)
    expect(
      (await verifyPassword('my password', 'AAABAgMEBQYHCAkKCwwNDg+uAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAALtH1uJg==')).ok,
    ).toBe(false);
    expect(
      (await verifyPassword('my password', 'AQAAAAAAAAD6AAAAEAhftMyfTJyAAAAAAAAAAAAAAAAAAAih5WsjXaR3PA9M')).ok,
    ).toBe(false);
    // "extra data at end" of a v3 payload is a longer subkey: false
    expect(
      (await verifyPassword('my password', 'AQAAAAIAAAAyAAAAEOMwvh3+FZxqkdMBz2ekgGhwQ4B6pZWND6zgESBuWiHwAAAAAAAAAAAA'))
        .ok,
    ).toBe(false);
    // "too short" payloads
    await expect(verifyPassword('my password', 'AAABAgMEBQYHCAkKCwwNDg+ukCEMDf0yyQ29NYubggE=')).rejects.toMatchObject({
      code: 'TANDEM_ERR_HASH_MALFORMED',
    });
    await expect(verifyPassword('my password', 'AQAAAAIAAAAyAAAAEOMwvh3+FZxqkdMBz2ekgGhwQ4A=')).rejects.toMatchObject({
      code: 'TANDEM_ERR_HASH_MALFORMED',
    });
    // "extra data at end" of a v2 payload
    await expect(
      verifyPassword('my password', 'AAABAgMEBQYHCAkKCwwNDg+ukCEMDf0yyQ29NYubggHIVY0sdEUfdyeM+E1LtH1uJgAAAAAAAAAAAAA='),
    ).rejects.toMatchObject({
      code: 'TANDEM_ERR_HASH_MALFORMED',
    });
  });

  it('bare digests are not identified unless the source declares them', async () => {
    expect(identifyHash('5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8')).toBeNull();
    await expect(verifyPassword('password', '5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8')).rejects.toMatchObject({
      code: 'TANDEM_ERR_HASH_UNSUPPORTED',
    });
    // declared with the wrong algorithm: the length does not fit → malformed, not a silent false
    await expect(
      verifyPassword('password', '5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8', { rawHex: { algorithm: 'md5' } }),
    ).rejects.toMatchObject({
      code: 'TANDEM_ERR_HASH_MALFORMED',
    });
  });

  it('suffix salts and salt-first storage', async () => {
    // sha1(password ‖ salt) = CPython hashlib.sha1(b'password' + b'NaCl').hexdigest(), stored as <salt>$<digest>
    const opts: VerifyOptions = {
      rawHex: { algorithm: 'sha1', salt: { position: 'suffix', separator: '$', order: 'salt-first' } },
    };
    const stored = 'NaCl$40274892d2fe01a6ab1e0fbde5c22b8312d10780';
    expect(identifyHash(stored, opts)).toBe('hex-sha1-salted');
    expect((await verifyPassword('password', stored, opts)).ok).toBe(true);
    expect((await verifyPassword('passwordNaCl', stored, opts)).ok).toBe(false);
    await expect(verifyPassword('password', '40274892d2fe01a6ab1e0fbde5c22b8312d10780', opts)).rejects.toMatchObject({
      code: 'TANDEM_ERR_HASH_MALFORMED',
    });
  });

  it('Firebase hashes need the project parameters', async () => {
    await expect(
      verifyPassword(
        'user1password',
        'firebase-scrypt$42xEC+ixf3L2lw==$lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==',
      ),
    ).rejects.toMatchObject({ code: 'TANDEM_ERR_HASH_UNSUPPORTED' });
  });
});

// Real legacy data: Sakila's staff.password holds unsalted SHA-1 hex (DESIGN.md, "Real data for tests").
const SAKILA = dataset('sakila', ['sakila-mv-data.sql']);

describeWithDataset(SAKILA, 'real data: Sakila staff.password', () => {
  it('Mike Hillyer\'s stored SHA-1 verifies with rawHex sha1 (SHA1("12345")) and rejects other passwords', async () => {
    const sql = readFileSync(SAKILA.file('sakila-mv-data.sql'), 'latin1');
    const m = /'Mike\.Hillyer@sakilastaff\.com',1,1,'Mike','([0-9a-f]{40})'/.exec(sql);
    expect(m).not.toBeNull();
    const stored = m![1];
    const options: VerifyOptions = { rawHex: { algorithm: 'sha1' } };
    expect(identifyHash(stored)).toBeNull();
    expect(identifyHash(stored, options)).toBe('hex-sha1');
    expect(await verifyPassword('12345', stored, options)).toEqual({ ok: true, scheme: 'hex-sha1', needsRehash: true });
    expect((await verifyPassword('123456', stored, options)).ok).toBe(false);
  });
});
