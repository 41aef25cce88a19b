/*
 * Session cookie, identity values, CSRF tokens and recovery codes.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "twofa_base64.h"
#include "twofa_cookie.h"


#define NOW  1700000000


static twofa_key_t  keys[3];     /* [0] active, [1] older, [2] not in set */


static void
make_keys(void)
{
    size_t   i, k;
    uint8_t  master[32];

    for (k = 0; k < 3; k++) {
        for (i = 0; i < sizeof(master); i++) {
            master[i] = (uint8_t) (k * 100 + i);
        }

        if (twofa_key_init(&keys[k], master, sizeof(master)) != 0) {
            diag("key init failed");
            exit(255);
        }
    }
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


static twofa_cookie_status_t
verify(const char *cookie, size_t nkeys, twofa_session_t *s)
{
    return twofa_cookie_verify(keys, nkeys, cookie, strlen(cookie), NOW, s);
}


/*
 * A cookie with a right MAC over any payload text, the way only a holder
 * of the key could make it: what the payload parser must withstand.
 */
static void
forge(const twofa_key_t *key, const char *text, char *out, size_t size)
{
    int             n;
    size_t          len;
    uint8_t         mac[TWOFA_MAC_SIZE];
    const uint8_t  *part;

    n = snprintf(out, size, "v1.%s.", key->kid);
    n += twofa_base64url_encode((const uint8_t *) text, strlen(text),
                                out + n, size - n);
    part = (const uint8_t *) out;
    len = n;
    twofa_mac(key->cookie_mac, &part, &len, 1, mac);
    out[n++] = '.';
    twofa_base64url_encode(mac, sizeof(mac), out + n, size - n);
}


static void
test_ident(void)
{
    char  long_id[TWOFA_ID_MAX + 2];

    ok(twofa_ident_valid("acme", 4), "ident: acme");
    ok(twofa_ident_valid("alice.agent+ops@example-1_x.com", 31),
       "ident: every allowed punctuation");
    ok(twofa_ident_valid("A", 1), "ident: one character");
    memset(long_id, 'a', sizeof(long_id));
    ok(twofa_ident_valid(long_id, TWOFA_ID_MAX), "ident: %d characters",
       TWOFA_ID_MAX);
    ok(!twofa_ident_valid(long_id, TWOFA_ID_MAX + 1),
       "ident: %d characters refused", TWOFA_ID_MAX + 1);
    ok(!twofa_ident_valid("", 0), "ident: empty refused");
    ok(!twofa_ident_valid(NULL, 0), "ident: NULL refused");
    ok(twofa_ident_valid("a:b", 3), "ident: ':' (escaped in Redis keys)");
    ok(twofa_ident_valid("a|b", 3), "ident: '|' (escaped in cookies)");
    ok(twofa_ident_valid("jean dupont", 11), "ident: inner space");
    ok(twofa_ident_valid("a/b", 3), "ident: '/' (percent-encoded in URLs)");
    ok(twofa_ident_valid("a*?[1]", 6), "ident: glob characters");
    ok(twofa_ident_valid("a\"b", 3), "ident: '\"' (escaped in JSON, logs)");
    ok(twofa_ident_valid("CORP\\jdoe", 9), "ident: backslash");
    ok(twofa_ident_valid("\xd0\xae\xd0\xbb\xd0\xb8\xd1\x8f", 8),
       "ident: Cyrillic");
    ok(!twofa_ident_valid("caf\xe9", 4), "ident: invalid UTF-8 refused");
    ok(!twofa_ident_valid("a\xc2\x85", 3), "ident: C1 control refused");
    ok(!twofa_ident_valid("a\tb", 3), "ident: tab refused");
    ok(!twofa_ident_valid("a\x7f", 2), "ident: DEL refused");
    ok(twofa_ident_valid("<b>o'brien&co<b>", 16),
       "ident: markup and quotes allowed (escaped where shown)");
    ok(twofa_ident_valid("!#$%&'()+,-.;<=>@^_`{}~", 23),
       "ident: every other visible character allowed");
    ok(!twofa_ident_valid("a\0b", 3), "ident: NUL refused");
    ok(twofa_ident_valid("caf\xc3\xa9", 5), "ident: accented");
    ok(!twofa_ident_valid("a\r\nb", 4), "ident: CRLF refused");

    is_str(twofa_amr_name(TWOFA_AMR_PWD), "pwd", "amr pwd");
    is_str(twofa_amr_name(TWOFA_AMR_TOTP), "totp", "amr totp");
    is_str(twofa_amr_name(TWOFA_AMR_RECOVERY), "recovery", "amr recovery");
    ok(twofa_amr_name((twofa_amr_t) 3) == NULL, "amr 3 has no name");
}


static void
test_round_trip(void)
{
    int              n;
    char             cookie[TWOFA_COOKIE_MAX + 1], text[64];
    uint8_t          payload[256];
    const char      *dot;
    twofa_session_t  s, got;

    session(&s, "acme", "alice.agent@example.com", NOW - 60, NOW + 3600,
            TWOFA_AMR_TOTP);
    n = twofa_cookie_encode(&keys[0], &s, cookie, sizeof(cookie));
    ok(n > 0 && (size_t) n == strlen(cookie), "encode: length");
    ok(strncmp(cookie, "v1.", 3) == 0 && strncmp(cookie + 3, keys[0].kid, 8)
       == 0 && cookie[11] == '.', "encode: v1.{kid}.");
    ok(strspn(cookie, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                      "0123456789-_.") == (size_t) n,
       "encode: only base64url characters and dots");

    dot = strrchr(cookie, '.');
    is_int(strlen(dot + 1), 43, "encode: 43-character MAC");
    n = twofa_base64url_decode(cookie + 12, dot - cookie - 12, payload,
                               sizeof(payload));
    ok(n > 0, "encode: payload decodes");
    snprintf(text, sizeof(text), "%.*s", n, (char *) payload);
    is_str(text, "1699999940|1700003600|totp|acme|alice.agent@example.com",
           "encode: payload text");

    memset(&got, 0, sizeof(got));
    is_int(verify(cookie, 2, &got), TWOFA_COOKIE_OK, "verify: OK");
    is_str(got.org, "acme", "verify: org");
    is_int(got.org_len, 4, "verify: org_len");
    is_str(got.user, "alice.agent@example.com", "verify: user");
    is_int(got.user_len, 23, "verify: user_len");
    is_int(got.iat, NOW - 60, "verify: iat");
    is_int(got.exp, NOW + 3600, "verify: exp");
    is_int(got.amr, TWOFA_AMR_TOTP, "verify: amr");

    /* '|' and '\\' in identities are escaped, and come back. */

    session(&s, "CORP\\x|y", "\xd0\xae\xd0\xbb\xd0\xb8\xd1\x8f a:b", NOW - 60,
            NOW + 3600, TWOFA_AMR_TOTP);
    n = twofa_cookie_encode(&keys[0], &s, cookie, sizeof(cookie));
    ok(n > 0, "encode: UTF-8 identities with '|' and '\\'");
    dot = strrchr(cookie, '.');
    n = twofa_base64url_decode(cookie + 12, dot - cookie - 12, payload,
                               sizeof(payload));
    snprintf(text, sizeof(text), "%.*s", n, (char *) payload);
    is_str(text, "1699999940|1700003600|totp|CORP\\5Cx\\7Cy|"
           "\xd0\xae\xd0\xbb\xd0\xb8\xd1\x8f a:b",
           "encode: escaped payload text");
    memset(&got, 0, sizeof(got));
    is_int(verify(cookie, 2, &got), TWOFA_COOKIE_OK, "verify: escaped OK");
    is_str(got.org, "CORP\\x|y", "verify: org unescaped");
    is_int(got.org_len, 8, "verify: org_len");
    is_str(got.user, "\xd0\xae\xd0\xbb\xd0\xb8\xd1\x8f a:b", "verify: user");

    /* Rotation: a cookie of the older key, the older key second. */

    session(&s, "default", "bob", 0, NOW + 1, TWOFA_AMR_PWD);
    n = twofa_cookie_encode(&keys[1], &s, cookie, sizeof(cookie));
    memset(&got, 0, sizeof(got));
    is_int(verify(cookie, 2, &got), TWOFA_COOKIE_OK,
           "verify with the key second in the set");
    is_str(got.user, "bob", "rotated: user");
    is_int(got.iat, 0, "rotated: iat 0");
    is_int(got.amr, TWOFA_AMR_PWD, "rotated: amr pwd");
    is_int(verify(cookie, 1, &got), TWOFA_COOKIE_UNKNOWN_KEY,
           "a set without its key: unknown key");

    session(&s, "o", "u", NOW, NOW + 1, TWOFA_AMR_RECOVERY);
    twofa_cookie_encode(&keys[0], &s, cookie, sizeof(cookie));
    memset(&got, 0, sizeof(got));
    is_int(verify(cookie, 2, &got), TWOFA_COOKIE_OK, "exp = now + 1: OK");
    is_int(got.amr, TWOFA_AMR_RECOVERY, "amr recovery");

    /* Expiry: exp <= now. */

    session(&s, "o", "u", NOW - 10, NOW, TWOFA_AMR_TOTP);
    twofa_cookie_encode(&keys[0], &s, cookie, sizeof(cookie));
    memset(&got, 0x5a, sizeof(got));
    is_int(verify(cookie, 2, &got), TWOFA_COOKIE_EXPIRED, "exp = now: expired");
    is_int((unsigned char) got.org[0], 0x5a, "expired: session not filled");
    is_int(twofa_cookie_verify(keys, 2, cookie, strlen(cookie), NOW - 1,
                               &got), TWOFA_COOKIE_OK, "a second earlier: OK");

    /* The longest identities, every byte escaped, still fit. */
    {
        char  id[TWOFA_ID_MAX + 1];

        memset(id, '|', TWOFA_ID_MAX);
        id[TWOFA_ID_MAX] = '\0';
        session(&s, id, id, INT64_MAX, INT64_MAX, TWOFA_AMR_RECOVERY);
        n = twofa_cookie_encode(&keys[0], &s, cookie, sizeof(cookie));
        ok(n > 0 && n <= TWOFA_COOKIE_MAX, "longest cookie fits (%d)", n);
        is_int(verify(cookie, 2, &got), TWOFA_COOKIE_OK,
               "longest cookie verifies");
        is_int(got.exp, INT64_MAX, "INT64_MAX round trip");
        is_int(twofa_cookie_encode(&keys[0], &s, cookie, n), -1,
               "encode: no room for the NUL");
        is_int(twofa_cookie_encode(&keys[0], &s, cookie, n + 1), n,
               "encode: exact room");
    }

    /* What encode refuses. */

    session(&s, "a\nb", "u", 1, 2, TWOFA_AMR_PWD);
    is_int(twofa_cookie_encode(&keys[0], &s, cookie, sizeof(cookie)), -1,
           "encode: bad org refused");
    session(&s, "o", "", 1, 2, TWOFA_AMR_PWD);
    is_int(twofa_cookie_encode(&keys[0], &s, cookie, sizeof(cookie)), -1,
           "encode: empty user refused");
    session(&s, "o", "u", -1, 2, TWOFA_AMR_PWD);
    is_int(twofa_cookie_encode(&keys[0], &s, cookie, sizeof(cookie)), -1,
           "encode: negative iat refused");
    session(&s, "o", "u", 1, 2, (twofa_amr_t) 3);
    is_int(twofa_cookie_encode(&keys[0], &s, cookie, sizeof(cookie)), -1,
           "encode: unknown amr refused");
}


static void
test_forgeries(void)
{
    int              bad;
    char             cookie[TWOFA_COOKIE_MAX + 1], other[TWOFA_COOKIE_MAX + 1];
    char             copy[TWOFA_COOKIE_MAX + 64];
    size_t           i, len, c;
    const char      *mac, *omac;
    twofa_session_t  s, got;
    twofa_cookie_status_t  st;

    session(&s, "acme", "alice", NOW - 60, NOW + 3600, TWOFA_AMR_TOTP);
    len = twofa_cookie_encode(&keys[0], &s, cookie, sizeof(cookie));

    /* Each position, each character of the alphabet and some more. */

    bad = 0;

    for (i = 0; i < len; i++) {
        static const char  alphabet[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
            "0123456789-_.=+/ \x01\x80";

        for (c = 0; c < sizeof(alphabet) - 1; c++) {
            if (cookie[i] == alphabet[c]) {
                continue;
            }

            memcpy(copy, cookie, len + 1);
            copy[i] = alphabet[c];
            memset(&got, 0x5a, sizeof(got));
            st = verify(copy, 2, &got);

            if (st == TWOFA_COOKIE_OK || (unsigned char) got.org[0] != 0x5a)
            {
                diag("change at %zu to '%c' accepted", i, alphabet[c]);
                bad++;
            }
        }
    }

    is_int(bad, 0, "every single-character change is refused");

    /* The status of each kind of change. */

    memcpy(copy, cookie, len + 1);
    copy[0] = 'V';
    is_int(verify(copy, 2, &got), TWOFA_COOKIE_MALFORMED, "V1: malformed");
    copy[0] = 'v';
    copy[1] = '2';
    is_int(verify(copy, 2, &got), TWOFA_COOKIE_MALFORMED, "v2: malformed");

    memcpy(copy, cookie, len + 1);
    memcpy(copy + 3, keys[2].kid, 8);
    is_int(verify(copy, 2, &got), TWOFA_COOKIE_UNKNOWN_KEY,
           "another key's kid: unknown key");
    memcpy(copy + 3, keys[1].kid, 8);
    is_int(verify(copy, 2, &got), TWOFA_COOKIE_BAD_MAC,
           "kid of the other key of the set: bad MAC");

    memcpy(copy, cookie, len + 1);
    copy[14] ^= 1;
    is_int(verify(copy, 2, &got), TWOFA_COOKIE_BAD_MAC,
           "payload changed: bad MAC");

    memcpy(copy, cookie, len + 1);
    copy[len - 5] = copy[len - 5] == 'A' ? 'B' : 'A';
    is_int(verify(copy, 2, &got), TWOFA_COOKIE_BAD_MAC, "MAC changed: bad MAC");

    /* The last MAC character carries 2 unused bits: no second spelling. */

    memcpy(copy, cookie, len + 1);
    {
        static const char  b64[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        size_t  v = strchr(b64, copy[len - 1]) - b64;

        copy[len - 1] = b64[v ^ 1];
    }
    is_int(verify(copy, 2, &got), TWOFA_COOKIE_BAD_MAC,
           "non-canonical last MAC character: bad MAC");

    /* MAC of another cookie (same key, other user). */

    session(&s, "acme", "mallory", NOW - 60, NOW + 3600, TWOFA_AMR_TOTP);
    twofa_cookie_encode(&keys[0], &s, other, sizeof(other));
    mac = strrchr(cookie, '.');
    omac = strrchr(other, '.');
    snprintf(copy, sizeof(copy), "%.*s%s", (int) (mac - cookie), cookie, omac);
    is_int(verify(copy, 2, &got), TWOFA_COOKIE_BAD_MAC,
           "MAC swapped from another cookie: bad MAC");
    snprintf(copy, sizeof(copy), "%.*s%s", (int) (omac - other), other, mac);
    is_int(verify(copy, 2, &got), TWOFA_COOKIE_BAD_MAC,
           "and the other way round: bad MAC");

    /* Truncation at every length. */

    bad = 0;

    for (i = 0; i < len; i++) {
        if (twofa_cookie_verify(keys, 2, cookie, i, NOW, &got)
            == TWOFA_COOKIE_OK)
        {
            bad++;
        }
    }

    is_int(bad, 0, "truncated at every length: refused");

    /* Structure. */

    snprintf(copy, sizeof(copy), "%s.", cookie);
    is_int(verify(copy, 2, &got), TWOFA_COOKIE_MALFORMED,
           "trailing dot: malformed");
    snprintf(copy, sizeof(copy), "%s.x", cookie);
    is_int(verify(copy, 2, &got), TWOFA_COOKIE_MALFORMED,
           "fifth part: malformed");
    snprintf(copy, sizeof(copy), ".%s", cookie);
    is_int(verify(copy, 2, &got), TWOFA_COOKIE_MALFORMED,
           "leading dot: malformed");
    snprintf(copy, sizeof(copy), "v1..%s", cookie + 3);
    is_int(verify(copy, 2, &got), TWOFA_COOKIE_MALFORMED,
           "double dot: malformed");
    snprintf(copy, sizeof(copy), "v1.%s..%s", keys[0].kid, mac + 1);
    is_int(verify(copy, 2, &got), TWOFA_COOKIE_MALFORMED,
           "empty payload: malformed");
    snprintf(copy, sizeof(copy), "%.*s.", (int) (mac - cookie), cookie);
    is_int(verify(copy, 2, &got), TWOFA_COOKIE_MALFORMED,
           "empty MAC: malformed");
    snprintf(copy, sizeof(copy), "v1.%.7s.%s", keys[0].kid, cookie + 12);
    is_int(verify(copy, 2, &got), TWOFA_COOKIE_MALFORMED,
           "7-character kid: malformed");
    snprintf(copy, sizeof(copy), "%sA", cookie);
    is_int(verify(copy, 2, &got), TWOFA_COOKIE_MALFORMED,
           "44-character MAC: malformed");
    snprintf(copy, sizeof(copy), "%.*s", (int) len - 1, cookie);
    is_int(verify(copy, 2, &got), TWOFA_COOKIE_MALFORMED,
           "42-character MAC: malformed");
    is_int(verify("", 2, &got), TWOFA_COOKIE_MALFORMED, "empty: malformed");
    is_int(verify("v1...", 2, &got), TWOFA_COOKIE_MALFORMED,
           "only dots: malformed");
    is_int(twofa_cookie_verify(keys, 2, cookie, len, NOW, NULL),
           TWOFA_COOKIE_MALFORMED, "NULL session: malformed");

    memset(copy, 'A', sizeof(copy));
    snprintf(copy, sizeof(copy), "v1.%s.", keys[0].kid);
    copy[strlen(copy)] = 'A';
    copy[TWOFA_COOKIE_MAX] = '.';
    memset(copy + TWOFA_COOKIE_MAX + 1, 'A', 43);
    copy[TWOFA_COOKIE_MAX + 44] = '\0';
    is_int(verify(copy, 2, &got), TWOFA_COOKIE_MALFORMED,
           "longer than TWOFA_COOKIE_MAX: malformed");
}


static void
test_bad_payloads(void)
{
    size_t           i;
    char             cookie[TWOFA_COOKIE_MAX + 64];
    twofa_session_t  got;

    static const char  *good = "1699999940|1700003600|totp|acme|alice";

    static const struct {
        const char  *text;
        const char  *why;
    } bad[] = {
        { "1699999940|1700003600|totp|acme",          "four fields" },
        { "1699999940|1700003600|totp|acme|alice|x",  "six fields" },
        { "1699999940|1700003600|totp|acme|",         "empty user" },
        { "1699999940|1700003600|totp||alice",        "empty org" },
        { "1699999940|1700003600|totp|ac\x01me|alice", "control in org" },
        { "1699999940|1700003600|totp|acme|al\xffice", "not UTF-8" },
        { "1699999940|1700003600|totp|acme|a\\b",     "bare '\\'" },
        { "1699999940|1700003600|totp|acme|a\\7",     "short escape" },
        { "1699999940|1700003600|totp|acme|a\\7c",    "lower case escape" },
        { "1699999940|1700003600|totp|acme|a\\41",    "escape of 'A'" },
        { "1699999940|1700003600|totp|acme|\\7C\\7C\\7C\\7C\\7C\\7C"
          "\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C"
          "\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C"
          "\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C"
          "\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C"
          "\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C"
          "\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C"
          "\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C"
          "\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C"
          "\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C\\7C"
          "\\7C\\7C\\7C", "over 128 escaped '|'" },
        { "1699999940|1700003600|totp|acme|alice\n",  "newline in user" },
        { "1699999940|1700003600|TOTP|acme|alice",    "amr upper case" },
        { "1699999940|1700003600|otp|acme|alice",     "unknown amr" },
        { "1699999940|1700003600||acme|alice",        "empty amr" },
        { "1699999940|1700003600|totp |acme|alice",   "amr with a space" },
        { "|1700003600|totp|acme|alice",              "empty iat" },
        { "1699999940||totp|acme|alice",              "empty exp" },
        { "01699999940|1700003600|totp|acme|alice",   "leading zero iat" },
        { "1699999940|01700003600|totp|acme|alice",   "leading zero exp" },
        { "00|1700003600|totp|acme|alice",            "iat 00" },
        { "-1|1700003600|totp|acme|alice",            "negative iat" },
        { "+1699999940|1700003600|totp|acme|alice",   "iat with '+'" },
        { "1699999940|+1700003600|totp|acme|alice",   "exp with '+'" },
        { " 1699999940|1700003600|totp|acme|alice",   "iat with a space" },
        { "1699999940|1700003600 |totp|acme|alice",   "exp with a space" },
        { "1699999940|0x1700003|totp|acme|alice",     "hex exp" },
        { "1699999940|1.7e9|totp|acme|alice",         "float exp" },
        { "1699999940|9223372036854775808|totp|acme|alice",
                                                      "exp past INT64_MAX" },
        { "1699999940|99999999999999999999|totp|acme|alice",
                                                      "20-digit exp" },
        { "", "empty payload text" },
    };

    forge(&keys[0], good, cookie, sizeof(cookie));
    is_int(verify(cookie, 2, &got), TWOFA_COOKIE_OK,
           "forge() itself makes good cookies");

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        forge(&keys[0], bad[i].text, cookie, sizeof(cookie));
        is_int(verify(cookie, 2, &got), TWOFA_COOKIE_MALFORMED,
               "right MAC, bad payload: %s", bad[i].why);
    }

    /* Right MAC, but the payload part is not canonical base64url. */
    {
        int             n;
        size_t          len;
        uint8_t         mac[TWOFA_MAC_SIZE];
        const uint8_t  *part;

        n = snprintf(cookie, sizeof(cookie), "v1.%s.MTY5OTk5OTk0MHwxNz=",
                     keys[0].kid);
        part = (const uint8_t *) cookie;
        len = n;
        twofa_mac(keys[0].cookie_mac, &part, &len, 1, mac);
        cookie[n++] = '.';
        twofa_base64url_encode(mac, sizeof(mac), cookie + n,
                               sizeof(cookie) - n);
        is_int(verify(cookie, 2, &got), TWOFA_COOKIE_MALFORMED,
               "right MAC, payload not base64url: malformed");
    }

    /* A payload MAC'd with the CSRF subkey is not a cookie. */
    {
        twofa_key_t  swapped = keys[0];

        swapped.cookie_mac = keys[0].csrf_mac;
        forge(&swapped, good, cookie, sizeof(cookie));
        is_int(verify(cookie, 2, &got), TWOFA_COOKIE_BAD_MAC,
               "MAC'd with another subkey: bad MAC");
    }
}


static void
test_csrf(void)
{
    char  a[TWOFA_CSRF_LEN + 1], b[TWOFA_CSRF_LEN + 1], c[TWOFA_CSRF_LEN + 1];
    twofa_key_t  rotated[2];

    is_int(twofa_csrf_token(&keys[0], "hold:abc", 8, a), 0, "csrf token");
    is_int(strlen(a), TWOFA_CSRF_LEN, "csrf token: 22 characters");
    ok(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                 "0123456789-_") == TWOFA_CSRF_LEN, "csrf token: base64url");
    twofa_csrf_token(&keys[0], "hold:abc", 8, b);
    is_str(b, a, "csrf token: stable");
    twofa_csrf_token(&keys[0], "hold:abd", 8, c);
    ok(strcmp(a, c) != 0, "csrf token: depends on the binding");

    is_int(twofa_csrf_check(keys, 2, "hold:abc", 8, a, TWOFA_CSRF_LEN), 1,
           "csrf check: right");
    is_int(twofa_csrf_check(keys, 2, "hold:abd", 8, a, TWOFA_CSRF_LEN), 0,
           "csrf check: wrong binding");
    is_int(twofa_csrf_check(keys, 2, "hold:ab", 7, a, TWOFA_CSRF_LEN), 0,
           "csrf check: shorter binding");
    is_int(twofa_csrf_check(keys, 2, "hold:abc", 8, c, TWOFA_CSRF_LEN), 0,
           "csrf check: wrong token");
    is_int(twofa_csrf_check(keys, 2, "hold:abc", 8, a, TWOFA_CSRF_LEN - 1),
           0, "csrf check: truncated token");
    is_int(twofa_csrf_check(keys, 2, "hold:abc", 8, "", 0), 0,
           "csrf check: empty token");
    memcpy(b, a, sizeof(b));
    b[TWOFA_CSRF_LEN - 1] = b[TWOFA_CSRF_LEN - 1] == 'A' ? 'Q' : 'A';
    is_int(twofa_csrf_check(keys, 2, "hold:abc", 8, b, TWOFA_CSRF_LEN), 0,
           "csrf check: last character changed");

    /* Rotation: a token of the old key while the new one is active. */

    rotated[0] = keys[2];
    rotated[1] = keys[0];
    is_int(twofa_csrf_check(rotated, 2, "hold:abc", 8, a, TWOFA_CSRF_LEN), 1,
           "csrf check: token of the second key of the set");
    is_int(twofa_csrf_check(&keys[2], 1, "hold:abc", 8, a, TWOFA_CSRF_LEN), 0,
           "csrf check: a set without the key");

    /* The CSRF subkey is not the cookie subkey. */
    {
        uint8_t         mac[TWOFA_MAC_SIZE];
        size_t          len = 8;
        const uint8_t  *part = (const uint8_t *) "hold:abc";

        twofa_mac(keys[0].cookie_mac, &part, &len, 1, mac);
        twofa_base64url_encode(mac, 16, b, sizeof(b));
        is_int(twofa_csrf_check(keys, 2, "hold:abc", 8, b, TWOFA_CSRF_LEN),
               0, "csrf check: token made with the cookie subkey refused");
    }
}


static void
test_recovery(void)
{
    int     bad;
    char    codes[TWOFA_RECOVERY_COUNT][TWOFA_RECOVERY_LEN + 1];
    char    more[TWOFA_RECOVERY_COUNT][TWOFA_RECOVERY_LEN + 1];
    char    norm[TWOFA_RECOVERY_NORM_LEN + 1];
    char    h1[TWOFA_RECOVERY_HASH_LEN + 1], h2[TWOFA_RECOVERY_HASH_LEN + 1];
    size_t  i, j, seen[32];

    is_int(twofa_recovery_generate(codes, TWOFA_RECOVERY_COUNT), 0,
           "recovery: generate");

    bad = 0;
    memset(seen, 0, sizeof(seen));

    for (i = 0; i < TWOFA_RECOVERY_COUNT; i++) {
        if (strlen(codes[i]) != TWOFA_RECOVERY_LEN || codes[i][5] != '-'
            || strspn(codes[i], "abcdefghijklmnopqrstuvwxyz234567") != 5
            || strspn(codes[i] + 6, "abcdefghijklmnopqrstuvwxyz234567") != 5)
        {
            diag("bad code '%s'", codes[i]);
            bad++;
        }

        for (j = 0; j < i; j++) {
            if (strcmp(codes[i], codes[j]) == 0) {
                bad++;
            }
        }
    }

    is_int(bad, 0, "recovery: 10 distinct codes xxxxx-xxxxx of [a-z2-7]");

    /* Over many codes every symbol shows up (the mapping covers all 32). */

    for (i = 0; i < 50; i++) {
        twofa_recovery_generate(more, TWOFA_RECOVERY_COUNT);

        for (j = 0; j < TWOFA_RECOVERY_COUNT; j++) {
            const char  *p;

            for (p = more[j]; *p; p++) {
                const char  *at = strchr("abcdefghijklmnopqrstuvwxyz234567",
                                         *p);
                if (at != NULL) {
                    seen[at - "abcdefghijklmnopqrstuvwxyz234567"]++;
                }
            }

            if (strcmp(more[j], codes[0]) == 0) {
                bad++;
            }
        }
    }

    for (i = 0, j = 0; i < 32; i++) {
        j += seen[i] > 0;
    }
    is_int(j, 32, "recovery: all 32 symbols used over 500 codes");
    is_int(bad, 0, "recovery: no repeats across batches");

    is_int(twofa_recovery_normalize(codes[0], strlen(codes[0]), norm), 0,
           "normalize a generated code");
    ok(strlen(norm) == 10 && memcmp(norm, codes[0], 5) == 0
       && memcmp(norm + 5, codes[0] + 6, 5) == 0,
       "normalize drops the dash");

    is_int(twofa_recovery_normalize("ABCDE-FGH23", 11, norm), 0,
           "normalize upper case");
    is_str(norm, "abcdefgh23", "upper case lowered");
    is_int(twofa_recovery_normalize(" abc de fgh 23 ", 15, norm), 0,
           "normalize spaces");
    is_str(norm, "abcdefgh23", "spaces dropped");
    is_int(twofa_recovery_normalize("ab-cd-ef-gh-23", 14, norm), 0,
           "normalize dashes anywhere");
    is_str(norm, "abcdefgh23", "dashes dropped");
    is_int(twofa_recovery_normalize("abcdefgh23", 10, norm), 0,
           "normalize already normal");
    is_str(norm, "abcdefgh23", "already normal unchanged");

    is_int(twofa_recovery_normalize("abcde-fgh2", 10, norm), -1,
           "9 characters refused");
    is_int(twofa_recovery_normalize("abcde-fgh234", 12, norm), -1,
           "11 characters refused");
    is_int(twofa_recovery_normalize("abcde-fgh21", 11, norm), -1,
           "'1' refused");
    is_int(twofa_recovery_normalize("abcde-fgh28", 11, norm), -1,
           "'8' refused");
    is_int(twofa_recovery_normalize("abcde-fgh20", 11, norm), -1,
           "'0' refused");
    is_int(twofa_recovery_normalize("abcde_fgh23", 11, norm), -1,
           "'_' refused");
    is_int(twofa_recovery_normalize("abcde\tfgh23", 11, norm), -1,
           "tab refused");
    is_int(twofa_recovery_normalize("abcde\0fgh23", 11, norm), -1,
           "NUL refused");
    is_int(twofa_recovery_normalize("", 0, norm), -1, "empty refused");
    is_int(twofa_recovery_normalize("123456", 6, norm), -1,
           "a TOTP code is not a recovery code");

    is_int(twofa_recovery_hash(&keys[0], "acme", 4, "alice", 5, "abcdefgh23",
                               h1), 0, "hash");
    is_int(strlen(h1), 32, "hash: 32 characters");
    ok(strspn(h1, "0123456789abcdef") == 32, "hash: lower-case hex");
    twofa_recovery_hash(&keys[0], "acme", 4, "alice", 5, "abcdefgh23", h2);
    is_str(h2, h1, "hash: stable");
    twofa_recovery_hash(&keys[0], "acme", 4, "bob", 3, "abcdefgh23", h2);
    ok(strcmp(h1, h2) != 0, "hash: differs per user");
    twofa_recovery_hash(&keys[0], "acme2", 5, "alice", 5, "abcdefgh23", h2);
    ok(strcmp(h1, h2) != 0, "hash: differs per org");
    twofa_recovery_hash(&keys[0], "acme", 4, "alice", 5, "abcdefgh24", h2);
    ok(strcmp(h1, h2) != 0, "hash: differs per code");
    twofa_recovery_hash(&keys[1], "acme", 4, "alice", 5, "abcdefgh23", h2);
    ok(strcmp(h1, h2) != 0, "hash: differs per key");

    is_int(twofa_recovery_hash(&keys[0], "acme", 4, "alice", 5, "ABCDEFGH23",
                               h2), -1, "hash: unnormalized code refused");
    is_int(twofa_recovery_hash(&keys[0], "acme", 4, "alice", 5, "abcde-fgh2",
                               h2), -1, "hash: code with a dash refused");
    is_int(twofa_recovery_hash(&keys[0], "acme", 4, "alice", 5, "abcdefgh2",
                               h2), -1, "hash: short code refused");
    is_int(twofa_recovery_hash(&keys[0], "acme", 4, "alice", 5,
                               "abcdefgh234", h2), -1,
           "hash: long code refused");
    is_int(twofa_recovery_hash(&keys[0], "ac\nme", 5, "alice", 5,
                               "abcdefgh23", h2), -1, "hash: bad org refused");
    twofa_recovery_hash(&keys[0], "a", 1, "b:c", 3, "abcdefgh23", h1);
    twofa_recovery_hash(&keys[0], "a:b", 3, "c", 1, "abcdefgh23", h2);
    ok(strcmp(h1, h2) != 0, "hash: org a user b:c is not org a:b user c");
}


int
main(void)
{
    make_keys();

    test_ident();
    test_round_trip();
    test_forgeries();
    test_bad_payloads();
    test_csrf();
    test_recovery();

    twofa_key_free(&keys[0]);
    twofa_key_free(&keys[1]);
    twofa_key_free(&keys[2]);

    return done();
}
