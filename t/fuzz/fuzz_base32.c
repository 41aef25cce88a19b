/*
 * Base32 decoding of anything.  What decodes must have exactly one
 * canonical spelling: the input less spaces and padding, upper-cased,
 * which encoding the decoded bytes gives back.  And any bytes survive
 * encode, group and decode.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "twofa_base32.h"


#define FUZZ_MAX  4096


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int       n, m, g;
    char      canonical[FUZZ_MAX], enc[FUZZ_MAX * 2], grouped[FUZZ_MAX * 3];
    size_t    i, c;
    uint8_t   dec[FUZZ_MAX], again[FUZZ_MAX];

    if (size > FUZZ_MAX) {
        return 0;
    }

    n = twofa_base32_decode((const char *) data, size, dec, sizeof(dec));

    if (n >= 0) {
        if ((size_t) n > twofa_base32_decoded_max(size)) {
            abort();
        }

        m = twofa_base32_encode(dec, n, enc, sizeof(enc));
        if (m < 0 || twofa_base32_decode(enc, m, again, sizeof(again)) != n
            || memcmp(dec, again, n) != 0)
        {
            abort();
        }

        for (i = 0, c = 0; i < size; i++) {
            if (data[i] == ' ' || data[i] == '=') {
                continue;
            }

            canonical[c++] = (data[i] >= 'a' && data[i] <= 'z')
                             ? (char) (data[i] - 'a' + 'A') : (char) data[i];
        }

        if ((size_t) m != c || memcmp(enc, canonical, c) != 0) {
            abort();
        }
    }

    /* Any bytes: encode, group for people, decode the grouped form. */

    m = twofa_base32_encode(data, size, enc, sizeof(enc));
    if (m != (int) twofa_base32_encoded_len(size)) {
        abort();
    }

    g = twofa_base32_group(enc, m, 4, grouped, sizeof(grouped));
    if (g < 0
        || twofa_base32_decode(grouped, g, dec, sizeof(dec)) != (int) size
        || memcmp(dec, data, size) != 0)
    {
        abort();
    }

    return 0;
}
