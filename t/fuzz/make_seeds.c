/*
 * Writes the seed corpora of the fuzz targets (run it again when a
 * format or the key derivation changes; sealed seeds differ each run as
 * their nonces are random):
 *
 *   cc -std=c99 -D_POSIX_C_SOURCE=200809L -Iinclude t/fuzz/make_seeds.c \
 *       build/libtwofa_core.a -lcrypto -lqrencode -o build/make_seeds
 *   build/make_seeds t/fuzz/corpus
 *
 * The keys, aad, marker plaintext and time are those of the targets.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twofa_base64.h"
#include "twofa_cookie.h"
#include "twofa_seal.h"


#define FUZZ_AAD      "fuzz aad"
#define FUZZ_MARKER   "twofa-edge fuzz seed plaintext"
#define FUZZ_NOW      1700000000


static const char   *corpus;
static twofa_key_t   keys[3];      /* the targets' two, and a stranger */


static void
seed(const char *target, const char *name, const void *data, size_t len)
{
    char   path[4096];
    FILE  *f;

    snprintf(path, sizeof(path), "%s/%s/%s", corpus, target, name);

    f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}


static void
seed_str(const char *target, const char *name, const char *s)
{
    seed(target, name, s, strlen(s));
}


static void
base32_seeds(void)
{
    seed_str("fuzz_base32", "rfc4648-foobar", "MZXW6YTBOI======");
    seed_str("fuzz_base32", "rfc4648-fooba", "MZXW6YTB");
    seed_str("fuzz_base32", "key-grouped-lower",
             "gezd gnbv gy3t qojq gezd gnbv gy3t qojq");
    seed_str("fuzz_base32", "key-bare", "JBSWY3DPEHPK3PXP");
    seed_str("fuzz_base32", "empty", "");
    seed_str("fuzz_base32", "bad-trailing-bits", "MZ");
    seed_str("fuzz_base32", "bad-char", "MZXW1YTB");
    seed_str("fuzz_base32", "bad-padding-middle", "MY==MY==");
    seed_str("fuzz_base32", "bad-length", "MZX");
}


static void
session(twofa_session_t *s, const char *org, const char *user, int64_t iat,
    int64_t exp, twofa_amr_t amr)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->org, sizeof(s->org), "%s", org);
    s->org_len = strlen(org);
    snprintf(s->user, sizeof(s->user), "%s", user);
    s->user_len = strlen(user);
    s->iat = iat;
    s->exp = exp;
    s->amr = amr;
}


static void
cookie_seeds(void)
{
    int              n;
    char             c[TWOFA_COOKIE_MAX + 64];
    size_t           len;
    uint8_t          mac[TWOFA_MAC_SIZE];
    const uint8_t   *part;
    twofa_session_t  s;

    session(&s, "acme", "alice.agent@example.com", FUZZ_NOW - 60, 2000000000,
            TWOFA_AMR_TOTP);
    n = twofa_cookie_encode(&keys[0], &s, c, sizeof(c));
    seed("fuzz_cookie", "valid-active-key", c, n);

    c[n - 3] = c[n - 3] == 'A' ? 'B' : 'A';
    seed("fuzz_cookie", "bad-mac", c, n);

    session(&s, "default", "bob", 0, 2000000000, TWOFA_AMR_RECOVERY);
    n = twofa_cookie_encode(&keys[1], &s, c, sizeof(c));
    seed("fuzz_cookie", "valid-second-key", c, n);

    session(&s, "acme", "carol", FUZZ_NOW - 7200, FUZZ_NOW - 3600,
            TWOFA_AMR_PWD);
    n = twofa_cookie_encode(&keys[0], &s, c, sizeof(c));
    seed("fuzz_cookie", "expired", c, n);

    session(&s, "acme", "dave", FUZZ_NOW, 2000000000, TWOFA_AMR_PWD);
    n = twofa_cookie_encode(&keys[2], &s, c, sizeof(c));
    seed("fuzz_cookie", "unknown-key", c, n);

    session(&s, "CORP\\x|y", "\xd0\xae\xd0\xbb\xd0\xb8\xd1\x8f a:b", FUZZ_NOW,
            2000000000, TWOFA_AMR_TOTP);
    n = twofa_cookie_encode(&keys[0], &s, c, sizeof(c));
    seed("fuzz_cookie", "valid-escaped-identities", c, n);

    /* Right MAC over a payload with a leading zero in exp. */

    n = snprintf(c, sizeof(c), "v1.%s.", keys[0].kid);
    n += twofa_base64url_encode((const uint8_t *)
                                "1|02000000000|totp|acme|eve", 27, c + n,
                                sizeof(c) - n);
    part = (const uint8_t *) c;
    len = n;
    twofa_mac(keys[0].cookie_mac, &part, &len, 1, mac);
    c[n++] = '.';
    n += twofa_base64url_encode(mac, sizeof(mac), c + n, sizeof(c) - n);
    seed("fuzz_cookie", "right-mac-bad-payload", c, n);

    seed_str("fuzz_cookie", "recovery-code", "ABCDE-fgh23");
    seed_str("fuzz_cookie", "dots", "v1...");
}


static void
open_seeds(void)
{
    int      n;
    uint8_t  b[256];

    n = twofa_seal(&keys[0], (const uint8_t *) FUZZ_AAD,
                   sizeof(FUZZ_AAD) - 1, (const uint8_t *) FUZZ_MARKER,
                   sizeof(FUZZ_MARKER) - 1, b, sizeof(b));
    seed("fuzz_open", "sealed-active-key", b, n);

    b[n - 1] ^= 0x80;
    seed("fuzz_open", "bad-tag", b, n);
    b[n - 1] ^= 0x80;
    seed("fuzz_open", "truncated", b, n - 1);
    b[0] = 2;
    seed("fuzz_open", "version-2", b, n);

    n = twofa_seal(&keys[1], (const uint8_t *) FUZZ_AAD,
                   sizeof(FUZZ_AAD) - 1, (const uint8_t *) FUZZ_MARKER,
                   sizeof(FUZZ_MARKER) - 1, b, sizeof(b));
    seed("fuzz_open", "sealed-second-key", b, n);

    n = twofa_seal(&keys[0], (const uint8_t *) "other aad", 9,
                   (const uint8_t *) FUZZ_MARKER, sizeof(FUZZ_MARKER) - 1, b,
                   sizeof(b));
    seed("fuzz_open", "other-aad", b, n);

    n = twofa_seal(&keys[2], (const uint8_t *) FUZZ_AAD,
                   sizeof(FUZZ_AAD) - 1, (const uint8_t *) FUZZ_MARKER,
                   sizeof(FUZZ_MARKER) - 1, b, sizeof(b));
    seed("fuzz_open", "unknown-key", b, n);

    /*
     * Near-misses are one bit from a good seal, and the fuzzer flips bits:
     * they must be seals of the marker too, or it finds a "forgery".
     */

    n = twofa_seal(&keys[0], (const uint8_t *) FUZZ_AAD,
                   sizeof(FUZZ_AAD) - 1, (const uint8_t *) FUZZ_MARKER,
                   sizeof(FUZZ_MARKER) - 1, b, sizeof(b));
    b[1 + TWOFA_KID_SIZE] ^= 1;
    seed("fuzz_open", "bad-nonce", b, n);
}


int
main(int argc, char **argv)
{
    size_t   i, k;
    uint8_t  master[32];

    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS-DIR\n", argv[0]);
        return 1;
    }

    corpus = argv[1];

    for (k = 0; k < 3; k++) {
        for (i = 0; i < sizeof(master); i++) {
            master[i] = (uint8_t) (k * 0x40 + i);
        }

        if (twofa_key_init(&keys[k], master, sizeof(master)) != 0) {
            fprintf(stderr, "key init failed\n");
            return 1;
        }
    }

    base32_seeds();
    cookie_seeds();
    open_seeds();

    for (k = 0; k < 3; k++) {
        twofa_key_free(&keys[k]);
    }

    return 0;
}
