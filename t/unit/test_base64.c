/*
 * Base64 and base64url: RFC 4648 vectors, round trips, strictness.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "twofa_base64.h"


static const struct {
    const char  *plain;
    const char  *std;
    const char  *url;
} vectors[] = {
    { "",       "",         ""         },
    { "f",      "Zg==",     "Zg"       },
    { "fo",     "Zm8=",     "Zm8"      },
    { "foo",    "Zm9v",     "Zm9v"     },
    { "foob",   "Zm9vYg==", "Zm9vYg"   },
    { "fooba",  "Zm9vYmE=", "Zm9vYmE"  },
    { "foobar", "Zm9vYmFy", "Zm9vYmFy" },
};


static void
test_vectors(void)
{
    int      n;
    char     enc[64];
    size_t   i, len;
    uint8_t  dec[64];

    for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        len = strlen(vectors[i].plain);

        n = twofa_base64_encode((const uint8_t *) vectors[i].plain, len, enc,
                                sizeof(enc));
        is_int(n, strlen(vectors[i].std), "std encode '%s': length",
               vectors[i].plain);
        is_str(enc, vectors[i].std, "std encode '%s'", vectors[i].plain);
        is_int(twofa_base64_encoded_len(len), n, "encoded_len(%zu)", len);

        n = twofa_base64url_encode((const uint8_t *) vectors[i].plain, len,
                                   enc, sizeof(enc));
        is_str(enc, vectors[i].url, "url encode '%s'", vectors[i].plain);
        is_int(twofa_base64url_encoded_len(len), n, "url encoded_len(%zu)",
               len);

        memset(dec, 0xaa, sizeof(dec));
        n = twofa_base64_decode(vectors[i].std, strlen(vectors[i].std), dec,
                                sizeof(dec));
        ok(n == (int) len && memcmp(dec, vectors[i].plain, len) == 0,
           "std decode '%s'", vectors[i].std);

        memset(dec, 0xaa, sizeof(dec));
        n = twofa_base64url_decode(vectors[i].url, strlen(vectors[i].url),
                                   dec, sizeof(dec));
        ok(n == (int) len && memcmp(dec, vectors[i].plain, len) == 0,
           "url decode '%s'", vectors[i].url);
    }
}


static void
test_alphabets(void)
{
    int      n;
    char     enc[16];
    uint8_t  dec[16];

    static const uint8_t  bytes[] = { 0xfb, 0xff, 0xbf };

    n = twofa_base64_encode(bytes, 3, enc, sizeof(enc));
    is_str(enc, "+/+/", "std alphabet uses + and /");
    n = twofa_base64url_encode(bytes, 3, enc, sizeof(enc));
    is_str(enc, "-_-_", "url alphabet uses - and _");

    is_int(twofa_base64_decode("-_-_", 4, dec, sizeof(dec)), -1,
           "std decoder rejects - and _");
    is_int(twofa_base64url_decode("+/+/", 4, dec, sizeof(dec)), -1,
           "url decoder rejects + and /");

    n = twofa_base64url_decode("-_-_", 4, dec, sizeof(dec));
    ok(n == 3 && memcmp(dec, bytes, 3) == 0, "url decode -_-_");
}


static void
test_round_trips(void)
{
    int      bad, n, m;
    char     enc[256];
    size_t   i, len, trial;
    uint8_t  in[150], out[150];

    bad = 0;
    srand(4648);

    for (trial = 0; trial < 10; trial++) {
        for (len = 0; len <= sizeof(in); len++) {
            for (i = 0; i < len; i++) {
                in[i] = (uint8_t) rand();
            }

            n = twofa_base64_encode(in, len, enc, sizeof(enc));
            m = twofa_base64_decode(enc, n, out, sizeof(out));
            if (m != (int) len || memcmp(in, out, len) != 0) {
                diag("std round trip failed at %zu", len);
                bad++;
            }

            if (twofa_base64_decoded_max((size_t) n) < len) {
                diag("decoded_max too small at %zu", len);
                bad++;
            }

            n = twofa_base64url_encode(in, len, enc, sizeof(enc));
            m = twofa_base64url_decode(enc, n, out, len);
            if (m != (int) len || memcmp(in, out, len) != 0) {
                diag("url round trip failed at %zu", len);
                bad++;
            }

            if (len > 0 && twofa_base64url_decode(enc, n, out, len - 1) != -1)
            {
                diag("url decode into a short buffer at %zu", len);
                bad++;
            }
        }
    }

    is_int(bad, 0, "round trips, lengths 0..150, exact and short buffers");
}


static void
test_rejected(void)
{
    size_t   i;
    uint8_t  dec[64];
    char     enc[16];

    static const char  *bad_std[] = {
        "Zg=",        /* not a multiple of 4 */
        "Zg",
        "Z===",
        "====",
        "Zm9v=",
        "Zg==Zg==",   /* padding in the middle */
        "Z=g=",
        "Zh==",       /* non-canonical trailing bits */
        "Zm9=",
        "Zm 9",       /* no whitespace of any kind */
        "Zm9v Yg==",
        "Zm9*",
    };

    static const char  *bad_url[] = {
        "Zg==",       /* no padding in base64url */
        "Zg=",
        "Z",          /* impossible length */
        "Zm9vY",
        "Zh",         /* non-canonical trailing bits */
        "Zm9",
        "Zm9v+",
        "Zm9v/",
        "Zm 9",
        "Zm.9",
    };

    for (i = 0; i < sizeof(bad_std) / sizeof(bad_std[0]); i++) {
        is_int(twofa_base64_decode(bad_std[i], strlen(bad_std[i]), dec,
                                   sizeof(dec)), -1,
               "std rejects '%s'", bad_std[i]);
    }

    for (i = 0; i < sizeof(bad_url) / sizeof(bad_url[0]); i++) {
        is_int(twofa_base64url_decode(bad_url[i], strlen(bad_url[i]), dec,
                                      sizeof(dec)), -1,
               "url rejects '%s'", bad_url[i]);
    }

    is_int(twofa_base64_decode("Zm9\n", 4, dec, sizeof(dec)), -1,
           "std rejects a newline");
    is_int(twofa_base64_decode("Zm9vYg==", 8, dec, 3), -1,
           "std decode: buffer one short");
    is_int(twofa_base64_decode("Zm9vYg==", 8, dec, 4), 4,
           "std decode: exact buffer");
    is_int(twofa_base64_decode("Zm9v\0Yg=", 8, dec, sizeof(dec)), -1,
           "std decode: embedded NUL");
    is_int(twofa_base64_encode((const uint8_t *) "foo", 3, enc, 4), -1,
           "encode: no room for the NUL");
    is_int(twofa_base64url_encode((const uint8_t *) "fo", 2, enc, 4), 3,
           "url encode: exact room");
}


int
main(void)
{
    test_vectors();
    test_alphabets();
    test_round_trips();
    test_rejected();

    return done();
}
