/*
 * Low-level pieces shared by the core's encoders and formats.
 */

#include <string.h>

#include "twofa_util.h"


size_t
twofa_util_put_uint(char *out, uint64_t v)
{
    char    tmp[TWOFA_UTIL_UINT_DIGITS];
    size_t  n;

    n = sizeof(tmp);

    do {
        tmp[--n] = (char) ('0' + v % 10);
        v /= 10;
    } while (v != 0);

    memcpy(out, tmp + n, sizeof(tmp) - n);

    return sizeof(tmp) - n;
}


int
twofa_util_unpack(const char *in, size_t len, unsigned width,
    twofa_util_digit_pt digit, int arg, uint8_t *out)
{
    int       v;
    size_t    i, n;
    uint32_t  bits;
    unsigned  nbits;

    bits = 0;
    nbits = 0;
    n = 0;

    for (i = 0; i < len; i++) {
        v = digit(arg, (unsigned char) in[i]);

        if (v == TWOFA_UTIL_SKIP) {
            continue;
        }

        if (v < 0) {
            memset(out, 0, n);
            return -1;
        }

        bits = (bits << width) | (uint32_t) v;
        nbits += width;

        if (nbits >= 8) {
            nbits -= 8;
            out[n++] = (uint8_t) (bits >> nbits);
        }
    }

    if ((bits & ((1u << nbits) - 1)) != 0) {
        memset(out, 0, n);
        return -1;
    }

    return (int) n;
}


const char *
twofa_util_text(const char *const *table, size_t n, unsigned i,
    const char *unknown)
{
    return i < n ? table[i] : unknown;
}
