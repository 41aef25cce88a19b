/*
 * Session cookie verification of anything, with a fixed key set.  Only a
 * cookie we made can verify, and then encoding what it carries must give
 * it back byte for byte (the format has one spelling).  And a session
 * whose identities are the input (cut in two) is encoded when they are
 * valid and verifies back to the same identities, whatever '|' and '\\'
 * they hold.  Recovery code normalization rides along: same kind of
 * input, same header.
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


static void
fuzz_round_trip(const char *in, size_t size)
{
    int              n, valid;
    char             cookie[TWOFA_COOKIE_MAX + 1];
    size_t           half;
    twofa_session_t  s, got;

    half = size / 2;

    if (half > TWOFA_ID_MAX || size - half > TWOFA_ID_MAX) {
        return;
    }

    memset(&s, 0, sizeof(s));
    memcpy(s.org, in, half);
    s.org_len = half;
    memcpy(s.user, in + half, size - half);
    s.user_len = size - half;
    s.iat = FUZZ_NOW;
    s.exp = FUZZ_NOW + 60;
    s.amr = TWOFA_AMR_TOTP;

    valid = twofa_ident_valid(s.org, s.org_len)
            && twofa_ident_valid(s.user, s.user_len);

    n = twofa_cookie_encode(&fuzz_keys[0], &s, cookie, sizeof(cookie));

    if (!valid) {
        if (n >= 0) {
            abort();
        }

        return;
    }

    if (n <= 0
        || twofa_cookie_verify(fuzz_keys, 2, cookie, n, FUZZ_NOW, &got)
           != TWOFA_COOKIE_OK
        || got.org_len != s.org_len || got.user_len != s.user_len
        || memcmp(got.org, s.org, s.org_len) != 0
        || memcmp(got.user, s.user, s.user_len) != 0)
    {
        abort();
    }
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

    fuzz_round_trip(in, size);

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
