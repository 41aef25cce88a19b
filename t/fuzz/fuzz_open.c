/*
 * Opening anything with a fixed key set.  Nothing opens but what we
 * sealed: the seed corpus holds values that t/fuzz/make_seeds.c sealed
 * from one marker plaintext (and near-misses of them, which the fuzzer
 * may well mend), so an open that succeeds with any other plaintext is a
 * forgery, and one that succeeds must stop succeeding when any bit of the
 * input is flipped.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "twofa_seal.h"


#define FUZZ_AAD      "fuzz aad"
#define FUZZ_MARKER   "twofa-edge fuzz seed plaintext"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static twofa_key_t  fuzz_keys[2];


/* The same masters as t/fuzz/make_seeds.c. */

static void
fuzz_init(void)
{
    size_t   i, k;
    uint8_t  master[32];

    static int  ready;

    if (ready) {
        return;
    }

    for (k = 0; k < 2; k++) {
        for (i = 0; i < sizeof(master); i++) {
            master[i] = (uint8_t) (k * 0x40 + i);
        }

        if (twofa_key_init(&fuzz_keys[k], master, sizeof(master)) != 0) {
            abort();
        }
    }

    ready = 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int       n;
    size_t    i;
    uint8_t  *out, *copy;

    fuzz_init();

    out = malloc(size + 1);
    copy = malloc(size + 1);
    if (out == NULL || copy == NULL) {
        abort();
    }

    n = twofa_open(fuzz_keys, 2, (const uint8_t *) FUZZ_AAD,
                   sizeof(FUZZ_AAD) - 1, data, size, out, size);

    if (n >= 0) {
        if ((size_t) n != sizeof(FUZZ_MARKER) - 1
            || memcmp(out, FUZZ_MARKER, n) != 0
            || size != (size_t) n + TWOFA_SEAL_OVERHEAD)
        {
            abort();
        }

        for (i = 0; i < size; i++) {
            memcpy(copy, data, size);
            copy[i] ^= 0x01;

            if (twofa_open(fuzz_keys, 2, (const uint8_t *) FUZZ_AAD,
                           sizeof(FUZZ_AAD) - 1, copy, size, out, size) >= 0)
            {
                abort();
            }
        }

        /* Bound to its aad as well. */

        if (twofa_open(fuzz_keys, 2, (const uint8_t *) "fuzz aaD", 8, data,
                       size, out, size) >= 0)
        {
            abort();
        }
    }

    free(out);
    free(copy);

    return 0;
}
