/*
 * Session cookie verification of anything, with a fixed key set.  Only a
 * cookie we made can verify, and then encoding what it carries must give
 * it back byte for byte (the format has one spelling).  Recovery code
 * normalization rides along: same kind of input, same header.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "twofa_cookie.h"


#define FUZZ_NOW  1700000000


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
    int                    n;
    char                   again[TWOFA_COOKIE_MAX + 1];
    char                   norm[TWOFA_RECOVERY_NORM_LEN + 1];
    const char            *in;
    twofa_session_t        s;
    const twofa_key_t     *key;
    twofa_cookie_status_t  st;

    fuzz_init();

    in = (const char *) data;
    memset(&s, 0, sizeof(s));

    st = twofa_cookie_verify(fuzz_keys, 2, in, size, FUZZ_NOW, &s);

    switch (st) {

    case TWOFA_COOKIE_OK:
        key = twofa_key_find(fuzz_keys, 2, in + 3, TWOFA_KID_LEN);

        if (key == NULL || s.exp <= FUZZ_NOW
            || !twofa_ident_valid(s.org, s.org_len)
            || !twofa_ident_valid(s.user, s.user_len)
            || strlen(s.org) != s.org_len || strlen(s.user) != s.user_len)
        {
            abort();
        }

        n = twofa_cookie_encode(key, &s, again, sizeof(again));
        if (n < 0 || (size_t) n != size || memcmp(again, in, size) != 0) {
            abort();
        }

        break;

    case TWOFA_COOKIE_MALFORMED:
    case TWOFA_COOKIE_UNKNOWN_KEY:
    case TWOFA_COOKIE_BAD_MAC:
    case TWOFA_COOKIE_EXPIRED:
        break;

    default:
        abort();
    }

    if (twofa_recovery_normalize(in, size, norm) == 0) {
        if (strlen(norm) != TWOFA_RECOVERY_NORM_LEN
            || strspn(norm, "abcdefghijklmnopqrstuvwxyz234567")
               != TWOFA_RECOVERY_NORM_LEN)
        {
            abort();
        }
    }

    return 0;
}
