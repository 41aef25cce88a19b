/*
 * Base32: RFC 4648 section 10 vectors, round trips, the tolerant and the
 * strict sides of the decoder, grouping.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "twofa_base32.h"


static const struct {
    const char  *plain;
    const char  *padded;
    const char  *bare;
} vectors[] = {
    { "",       "",                 ""           },
    { "f",      "MY======",         "MY"         },
    { "fo",     "MZXQ====",         "MZXQ"       },
    { "foo",    "MZXW6===",         "MZXW6"      },
    { "foob",   "MZXW6YQ=",         "MZXW6YQ"    },
    { "fooba",  "MZXW6YTB",         "MZXW6YTB"   },
    { "foobar", "MZXW6YTBOI======", "MZXW6YTBOI" },
};


static int
decode_str(const char *in, uint8_t *out, size_t out_size)
{
    return twofa_base32_decode(in, strlen(in), out, out_size);
}


static void
test_vectors(void)
{
    int      n;
    char     enc[64];
    size_t   i, len;
    uint8_t  dec[64];

    for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        len = strlen(vectors[i].plain);

        n = twofa_base32_encode((const uint8_t *) vectors[i].plain, len, enc,
                                sizeof(enc));
        is_int(n, strlen(vectors[i].bare), "encode '%s' length",
               vectors[i].plain);
        is_str(enc, vectors[i].bare, "encode '%s'", vectors[i].plain);
        is_int(twofa_base32_encoded_len(len), strlen(vectors[i].bare),
               "encoded_len(%zu)", len);

        memset(dec, 0xaa, sizeof(dec));
        n = decode_str(vectors[i].padded, dec, sizeof(dec));
        ok(n == (int) len && memcmp(dec, vectors[i].plain, len) == 0,
           "decode padded '%s'", vectors[i].padded);

        memset(dec, 0xaa, sizeof(dec));
        n = decode_str(vectors[i].bare, dec, sizeof(dec));
        ok(n == (int) len && memcmp(dec, vectors[i].plain, len) == 0,
           "decode unpadded '%s'", vectors[i].bare);

        ok(twofa_base32_decoded_max(strlen(vectors[i].bare)) >= len,
           "decoded_max bounds '%s'", vectors[i].bare);
    }
}


static void
test_round_trips(void)
{
    int      n, m, bad;
    char     enc[128];
    size_t   len, trial;
    uint8_t  in[64], out[64];

    bad = 0;
    srand(4648);

    for (trial = 0; trial < 20; trial++) {
        for (len = 0; len <= 64; len++) {
            size_t  i;

            for (i = 0; i < len; i++) {
                in[i] = (uint8_t) rand();
            }

            n = twofa_base32_encode(in, len, enc, sizeof(enc));
            m = twofa_base32_decode(enc, n, out, sizeof(out));

            if (n != (int) twofa_base32_encoded_len(len) || m != (int) len
                || memcmp(in, out, len) != 0)
            {
                diag("round trip failed at length %zu", len);
                bad++;
            }

            /* The exact size is enough for the decoder. */

            if (len > 0 && twofa_base32_decode(enc, n, out, len) != (int) len)
            {
                diag("exact output size refused at length %zu", len);
                bad++;
            }
        }
    }

    is_int(bad, 0, "round trips of random data, lengths 0..64");
}


static void
test_tolerant(void)
{
    uint8_t  out[64];

    static const char  secret[] = "12345678901234567890";

    /* The RFC 6238 seed as people see it in apps and in our pages. */

    is_int(decode_str("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", out, sizeof(out)),
           20, "decode upper case key");
    ok(memcmp(out, secret, 20) == 0, "decoded key right");

    memset(out, 0, sizeof(out));
    is_int(decode_str("gezd gnbv gy3t qojq gezd gnbv gy3t qojq", out,
                      sizeof(out)), 20, "lower case with spaces");
    ok(memcmp(out, secret, 20) == 0, "lower case with spaces decodes right");

    memset(out, 0, sizeof(out));
    is_int(decode_str("  GeZdGnBvGy3TqOjQgEzDgNbVgY3tQoJq  ", out,
                      sizeof(out)), 20, "mixed case, leading and trailing "
                      "spaces");
    ok(memcmp(out, secret, 20) == 0, "mixed case decodes right");

    is_int(decode_str("my", out, sizeof(out)), 1, "lower case 'my'");
    ok(out[0] == 'f', "'my' is 'f'");
    is_int(decode_str("MZXW6 ===", out, sizeof(out)), 3,
           "space before padding");
    is_int(decode_str("MZXW6=== ", out, sizeof(out)), 3,
           "space after padding");
    is_int(decode_str("MZ XW 6Y TB OI== ====", out, sizeof(out)), 6,
           "spaces inside padding");
    is_int(decode_str("    ", out, sizeof(out)), 0, "only spaces: empty");
}


static void
test_rejected(void)
{
    size_t   i;
    uint8_t  out[64];

    static const char  *bad[] = {
        "MZXW6YT1",          /* '1' is not in the alphabet */
        "MZXW6YT8",
        "MZXW6YT0",
        "MZXW-6YTB",
        "MZXW6YTB!",
        "MY=A",              /* padding in the middle */
        "MY==MY==",
        "M=Y",
        "=MY",
        "M",                 /* lengths no encoder makes: 1, 3, 6 */
        "MZX",
        "MZXW6Y",
        "MZXW6YTBO",
        "M=======",
        "MZX=====",
        "MY=",               /* wrong amount of padding */
        "MY==",
        "MY=======",
        "MZXW6YTB========",
        "========",
        "=",
        "MZ",                /* non-zero trailing bits */
        "MZXR",
        "MZXW7",
        "MZXW6YR",
        "MZXW6YTBOJ",
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        is_int(decode_str(bad[i], out, sizeof(out)), -1, "rejects '%s'",
               bad[i]);
    }

    is_int(decode_str("MZXW\t6YTB", out, sizeof(out)), -1,
           "rejects a tab (only spaces are ignored)");
    is_int(decode_str("MZXW\n6YTB", out, sizeof(out)), -1,
           "rejects a newline");
    is_int(twofa_base32_decode("MZXW6YTBOI", 10, out, 5), -1,
           "rejects an output buffer one byte short");
    is_int(twofa_base32_decode("MZXW6YTBOI", 10, out, 6), 6,
           "accepts the exact output size");
    is_int(twofa_base32_decode("MZXW6YTB\0", 9, out, sizeof(out)), -1,
           "rejects an embedded NUL");
}


static void
test_encode_limits(void)
{
    char  enc[16];

    is_int(twofa_base32_encode((const uint8_t *) "foobar", 6, enc, 10), -1,
           "encode: no room for the NUL");
    is_int(twofa_base32_encode((const uint8_t *) "foobar", 6, enc, 11), 10,
           "encode: exact room");
    is_int(twofa_base32_encode((const uint8_t *) "", 0, enc, 1), 0,
           "encode: empty");
    is_str(enc, "", "encode: empty is an empty string");
}


static void
test_group(void)
{
    char  out[64];

    is_int(twofa_base32_group("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", 32, 4, out,
                              sizeof(out)), 39, "group by 4: length");
    is_str(out, "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ", "group by 4");

    is_int(twofa_base32_group("ABCDEFG", 7, 3, out, sizeof(out)), 9,
           "group: last group short");
    is_str(out, "ABC DEF G", "group: last group short text");

    is_int(twofa_base32_group("ABC", 3, 3, out, sizeof(out)), 3,
           "group: one full group");
    is_str(out, "ABC", "group: no trailing space");

    is_int(twofa_base32_group("", 0, 4, out, sizeof(out)), 0, "group: empty");
    is_str(out, "", "group: empty string");

    is_int(twofa_base32_group("ABCDEFG", 7, 3, out, 9), -1,
           "group: no room for the NUL");
    is_int(twofa_base32_group("ABCDEFG", 7, 3, out, 10), 9,
           "group: exact room");
    is_int(twofa_base32_group("ABCDEFG", 7, 0, out, sizeof(out)), -1,
           "group: size 0 refused");
}


int
main(void)
{
    test_vectors();
    test_round_trips();
    test_tolerant();
    test_rejected();
    test_encode_limits();
    test_group();

    return done();
}
