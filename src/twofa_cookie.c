/*
 * The small MAC'd tokens of the web layer: the session cookie, CSRF
 * tokens, identity values and recovery codes.
 */

#include <string.h>

#include <openssl/crypto.h>

#include "twofa_base64.h"
#include "twofa_cookie.h"
#include "twofa_ident.h"
#include "twofa_util.h"


#define TWOFA_COOKIE_PREFIX     "v1."
#define TWOFA_COOKIE_PREFIX_LEN (sizeof(TWOFA_COOKIE_PREFIX) - 1)
#define TWOFA_COOKIE_MAC_LEN    43      /* base64url of 32 bytes */
#define TWOFA_CSRF_BYTES        16
#define TWOFA_RECOVERY_BYTES    16
#define TWOFA_INT64_DIGITS      19

/* an identity field at its longest: every byte escaped */
#define TWOFA_FIELD_MAX         (3 * TWOFA_ID_MAX)

/* "{iat}|{exp}|{amr}|{org}|{user}" at its longest */
#define TWOFA_PAYLOAD_MAX                                                    \
    (2 * TWOFA_INT64_DIGITS + sizeof("recovery") - 1 + 2 * TWOFA_FIELD_MAX \
     + 4)


static const char  *twofa_amr_names[] = { "pwd", "totp", "recovery" };

static const char   twofa_recovery_alphabet[] =
    "abcdefghijklmnopqrstuvwxyz234567";


int
twofa_ident_valid(const char *s, size_t len)
{
    return len <= TWOFA_ID_MAX && twofa_ident_check(s, len) == TWOFA_IDENT_OK;
}


/*
 * An identity as a field of the payload: '|' separates the fields, so it
 * becomes "\7C", and '\\' (the escape character; like '|' refused in
 * identities before they were UTF-8, so those cookies did not change)
 * "\5C".  Returns the field's length.
 */

static size_t
twofa_cookie_put_ident(char *out, const char *s, size_t len)
{
    char    *p;
    size_t   i;

    p = out;

    for (i = 0; i < len; i++) {
        if (s[i] == '|' || s[i] == '\\') {
            *p++ = '\\';
            *p++ = (s[i] == '|') ? '7' : '5';
            *p++ = 'C';
            continue;
        }

        *p++ = s[i];
    }

    return (size_t) (p - out);
}


/*
 * The field back into an identity: only the two escapes the encoder
 * writes are taken, so one identity has one encoding (and a MAC'd
 * cookie one meaning).  0 and the identity's length in *out_len, or -1.
 */

static int
twofa_cookie_get_ident(const char *s, size_t len, char *out,
    size_t *out_len)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        if (n == TWOFA_ID_MAX) {
            return -1;
        }

        if (s[i] != '\\') {
            out[n++] = s[i];
            continue;
        }

        if (len - i < 3 || s[i + 2] != 'C'
            || (s[i + 1] != '7' && s[i + 1] != '5'))
        {
            return -1;
        }

        out[n++] = (s[i + 1] == '7') ? '|' : '\\';
        i += 2;
    }

    if (!twofa_ident_valid(out, n)) {
        return -1;
    }

    out[n] = '\0';
    *out_len = n;

    return 0;
}


const char *
twofa_amr_name(twofa_amr_t amr)
{
    if ((unsigned) amr > TWOFA_AMR_RECOVERY) {
        return NULL;
    }

    return twofa_amr_names[amr];
}


/* A non-negative decimal with no sign and no leading zero; 0 or -1. */

static int
twofa_parse_int64(const char *s, size_t len, int64_t *v)
{
    size_t   i;
    int64_t  n;

    if (len == 0 || len > TWOFA_INT64_DIGITS || (s[0] == '0' && len > 1)) {
        return -1;
    }

    n = 0;

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        if (n > (INT64_MAX - (s[i] - '0')) / 10) {
            return -1;
        }

        n = n * 10 + (s[i] - '0');
    }

    *v = n;

    return 0;
}


int
twofa_cookie_encode(const twofa_key_t *key, const twofa_session_t *s,
    char *out, size_t out_size)
{
    int             n, rc;
    char            text[TWOFA_PAYLOAD_MAX];
    size_t          len, total;
    uint8_t         mac[TWOFA_MAC_SIZE];
    const char     *amr;
    const uint8_t  *part;

    if (key == NULL || s == NULL || out == NULL || key->cookie_mac == NULL
        || s->iat < 0 || s->exp < 0
        || !twofa_ident_valid(s->org, s->org_len)
        || !twofa_ident_valid(s->user, s->user_len))
    {
        return -1;
    }

    amr = twofa_amr_name(s->amr);
    if (amr == NULL) {
        return -1;
    }

    len = twofa_util_put_uint(text, (uint64_t) s->iat);
    text[len++] = '|';
    len += twofa_util_put_uint(text + len, (uint64_t) s->exp);
    text[len++] = '|';
    memcpy(text + len, amr, strlen(amr));
    len += strlen(amr);
    text[len++] = '|';
    len += twofa_cookie_put_ident(text + len, s->org, s->org_len);
    text[len++] = '|';
    len += twofa_cookie_put_ident(text + len, s->user, s->user_len);

    total = TWOFA_COOKIE_PREFIX_LEN + TWOFA_KID_LEN + 1
            + twofa_base64url_encoded_len(len) + 1 + TWOFA_COOKIE_MAC_LEN;

    if (total > TWOFA_COOKIE_MAX || total >= out_size) {
        return -1;
    }

    memcpy(out, TWOFA_COOKIE_PREFIX, TWOFA_COOKIE_PREFIX_LEN);
    memcpy(out + TWOFA_COOKIE_PREFIX_LEN, key->kid, TWOFA_KID_LEN);
    n = (int) (TWOFA_COOKIE_PREFIX_LEN + TWOFA_KID_LEN);
    out[n++] = '.';

    rc = twofa_base64url_encode((const uint8_t *) text, len, out + n,
                                out_size - n);
    if (rc < 0) {
        return -1;
    }

    n += rc;

    part = (const uint8_t *) out;
    len = (size_t) n;

    if (twofa_mac(key->cookie_mac, &part, &len, 1, mac) != 0) {
        return -1;
    }

    out[n++] = '.';

    rc = twofa_base64url_encode(mac, sizeof(mac), out + n, out_size - n);
    if (rc != TWOFA_COOKIE_MAC_LEN) {
        return -1;
    }

    return n + rc;
}


/* Splits the decoded payload; every field must be canonical. */

static int
twofa_cookie_parse(const char *text, size_t len, twofa_session_t *s)
{
    size_t       i, start, nfields, flen[5];
    const char  *field[5];

    nfields = 0;
    start = 0;

    for (i = 0; i <= len; i++) {
        if (i < len && text[i] != '|') {
            continue;
        }

        if (nfields == 5) {
            return -1;
        }

        field[nfields] = text + start;
        flen[nfields] = i - start;
        nfields++;
        start = i + 1;
    }

    if (nfields != 5
        || twofa_parse_int64(field[0], flen[0], &s->iat) != 0
        || twofa_parse_int64(field[1], flen[1], &s->exp) != 0
        || twofa_cookie_get_ident(field[3], flen[3], s->org, &s->org_len)
           != 0
        || twofa_cookie_get_ident(field[4], flen[4], s->user, &s->user_len)
           != 0)
    {
        return -1;
    }

    for (i = 0; i <= TWOFA_AMR_RECOVERY; i++) {
        if (flen[2] == strlen(twofa_amr_names[i])
            && memcmp(field[2], twofa_amr_names[i], flen[2]) == 0)
        {
            break;
        }
    }

    if (i > TWOFA_AMR_RECOVERY) {
        return -1;
    }

    s->amr = (twofa_amr_t) i;

    return 0;
}


twofa_cookie_status_t
twofa_cookie_verify(const twofa_key_t *keys, size_t n, const char *in,
    size_t len, int64_t now, twofa_session_t *s)
{
    int                 rc;
    char                expect[TWOFA_COOKIE_MAC_LEN + 1];
    size_t              i, ndots, dot[3], signed_len;
    uint8_t             mac[TWOFA_MAC_SIZE];
    uint8_t             text[TWOFA_COOKIE_MAX];
    const char         *payload;
    const uint8_t      *part;
    twofa_session_t     session;
    const twofa_key_t  *key;

    if (in == NULL || s == NULL || len == 0 || len > TWOFA_COOKIE_MAX) {
        return TWOFA_COOKIE_MALFORMED;
    }

    ndots = 0;

    for (i = 0; i < len; i++) {
        if (in[i] == '.') {
            if (ndots == 3) {
                return TWOFA_COOKIE_MALFORMED;
            }

            dot[ndots++] = i;
        }
    }

    /* "v1" . kid . payload (not empty) . mac */

    if (ndots != 3
        || dot[0] + 1 != TWOFA_COOKIE_PREFIX_LEN
        || memcmp(in, TWOFA_COOKIE_PREFIX, TWOFA_COOKIE_PREFIX_LEN) != 0
        || dot[1] - dot[0] - 1 != TWOFA_KID_LEN
        || dot[2] - dot[1] - 1 == 0
        || len - dot[2] - 1 != TWOFA_COOKIE_MAC_LEN)
    {
        return TWOFA_COOKIE_MALFORMED;
    }

    key = twofa_key_find(keys, n, in + dot[0] + 1, TWOFA_KID_LEN);
    if (key == NULL || key->cookie_mac == NULL) {
        return TWOFA_COOKIE_UNKNOWN_KEY;
    }

    /*
     * The MAC is compared in its encoded form: the encoding is canonical,
     * so this equals comparing the bytes, and it needs no decoding of
     * anything not yet authenticated.
     */

    part = (const uint8_t *) in;
    signed_len = dot[2];

    if (twofa_mac(key->cookie_mac, &part, &signed_len, 1, mac) != 0
        || twofa_base64url_encode(mac, sizeof(mac), expect, sizeof(expect))
           != TWOFA_COOKIE_MAC_LEN)
    {
        return TWOFA_COOKIE_BAD_MAC;
    }

    if (!twofa_ct_equal(expect, in + dot[2] + 1, TWOFA_COOKIE_MAC_LEN)) {
        return TWOFA_COOKIE_BAD_MAC;
    }

    payload = in + dot[1] + 1;

    rc = twofa_base64url_decode(payload, dot[2] - dot[1] - 1, text,
                                sizeof(text));

    /* A good MAC over a bad payload means a bug or a stolen key. */

    if (rc <= 0 || twofa_cookie_parse((const char *) text, rc, &session) != 0)
    {
        return TWOFA_COOKIE_MALFORMED;
    }

    if (session.exp <= now) {
        return TWOFA_COOKIE_EXPIRED;
    }

    *s = session;

    return TWOFA_COOKIE_OK;
}


static int
twofa_csrf_compute(const twofa_key_t *key, const char *binding, size_t len,
    char *out)
{
    int             rc;
    uint8_t         mac[TWOFA_MAC_SIZE];
    const uint8_t  *part;

    if (key->csrf_mac == NULL) {
        return -1;
    }

    part = (const uint8_t *) binding;

    rc = -1;

    if (twofa_mac(key->csrf_mac, &part, &len, 1, mac) == 0
        && twofa_base64url_encode(mac, TWOFA_CSRF_BYTES, out,
                                  TWOFA_CSRF_LEN + 1) == TWOFA_CSRF_LEN)
    {
        rc = 0;
    }

    OPENSSL_cleanse(mac, sizeof(mac));

    return rc;
}


int
twofa_csrf_token(const twofa_key_t *key, const char *binding, size_t len,
    char *out)
{
    if (key == NULL || out == NULL || (binding == NULL && len != 0)) {
        return -1;
    }

    return twofa_csrf_compute(key, binding, len, out);
}


int
twofa_csrf_check(const twofa_key_t *keys, size_t n, const char *binding,
    size_t binding_len, const char *token, size_t token_len)
{
    int     good;
    char    expect[TWOFA_CSRF_LEN + 1];
    size_t  i;

    if (keys == NULL || token == NULL || token_len != TWOFA_CSRF_LEN
        || (binding == NULL && binding_len != 0))
    {
        return 0;
    }

    /* Every key is tried, so the time does not tell which one matched. */

    good = 0;

    for (i = 0; i < n; i++) {
        if (twofa_csrf_compute(&keys[i], binding, binding_len, expect) != 0) {
            continue;
        }

        good |= twofa_ct_equal(expect, token, TWOFA_CSRF_LEN);
    }

    return good;
}


int
twofa_recovery_generate(char codes[][TWOFA_RECOVERY_LEN + 1], size_t n)
{
    size_t   i, j, k;
    uint8_t  random[TWOFA_RECOVERY_NORM_LEN];

    if (codes == NULL) {
        return -1;
    }

    for (i = 0; i < n; i++) {

        if (twofa_random(random, sizeof(random)) != 0) {
            OPENSSL_cleanse(codes, n * sizeof(codes[0]));
            return -1;
        }

        /* 32 symbols: the low 5 bits of a byte pick one without bias. */

        for (j = 0, k = 0; j < TWOFA_RECOVERY_LEN; j++) {
            if (j == 5) {
                codes[i][j] = '-';
                continue;
            }

            codes[i][j] = twofa_recovery_alphabet[random[k++] & 0x1f];
        }

        codes[i][TWOFA_RECOVERY_LEN] = '\0';

        /* A repeat is a 2^-50 event, but two equal codes would be one. */

        for (j = 0; j < i; j++) {
            if (memcmp(codes[i], codes[j], TWOFA_RECOVERY_LEN) == 0) {
                i--;
                break;
            }
        }
    }

    OPENSSL_cleanse(random, sizeof(random));

    return 0;
}


static int
twofa_recovery_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7');
}


int
twofa_recovery_normalize(const char *in, size_t len,
    char out[TWOFA_RECOVERY_NORM_LEN + 1])
{
    size_t         i, n;
    unsigned char  c;

    if (in == NULL || out == NULL) {
        return -1;
    }

    n = 0;

    for (i = 0; i < len; i++) {
        c = (unsigned char) in[i];

        if (c == '-' || c == ' ') {
            continue;
        }

        if (c >= 'A' && c <= 'Z') {
            c = (unsigned char) (c - 'A' + 'a');
        }

        if (!twofa_recovery_char(c) || n == TWOFA_RECOVERY_NORM_LEN) {
            goto invalid;
        }

        out[n++] = (char) c;
    }

    if (n != TWOFA_RECOVERY_NORM_LEN) {
        goto invalid;
    }

    out[n] = '\0';

    return 0;

invalid:

    OPENSSL_cleanse(out, TWOFA_RECOVERY_NORM_LEN + 1);

    return -1;
}


int
twofa_recovery_hash(const twofa_key_t *key, const char *org, size_t org_len,
    const char *user, size_t user_len, const char *code,
    char out[TWOFA_RECOVERY_HASH_LEN + 1])
{
    char            org_esc[3 * TWOFA_ID_MAX], user_esc[3 * TWOFA_ID_MAX];
    size_t          i, lens[5];
    uint8_t         mac[TWOFA_MAC_SIZE];
    const uint8_t  *parts[5];

    static const char  hex[] = "0123456789abcdef";

    if (key == NULL || key->recovery_mac == NULL || code == NULL
        || out == NULL
        || !twofa_ident_valid(org, org_len)
        || !twofa_ident_valid(user, user_len))
    {
        return -1;
    }

    /* Only a normalized code: one code, one hash. */

    for (i = 0; i < TWOFA_RECOVERY_NORM_LEN; i++) {
        if (!twofa_recovery_char((unsigned char) code[i])) {
            return -1;
        }
    }

    if (code[TWOFA_RECOVERY_NORM_LEN] != '\0') {
        return -1;
    }

    /*
     * Escaped identities hold no ':', so the message is unambiguous; the
     * identities valid before UTF-8 are their own escape, so their
     * stored hashes still match.
     */

    parts[0] = (const uint8_t *) org_esc;
    lens[0] = twofa_ident_key_escape(org, org_len, org_esc);
    parts[1] = (const uint8_t *) ":";
    lens[1] = 1;
    parts[2] = (const uint8_t *) user_esc;
    lens[2] = twofa_ident_key_escape(user, user_len, user_esc);
    parts[3] = (const uint8_t *) ":";
    lens[3] = 1;
    parts[4] = (const uint8_t *) code;
    lens[4] = TWOFA_RECOVERY_NORM_LEN;

    if (twofa_mac(key->recovery_mac, parts, lens, 5, mac) != 0) {
        return -1;
    }

    for (i = 0; i < TWOFA_RECOVERY_BYTES; i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 0x0f];
    }

    out[TWOFA_RECOVERY_HASH_LEN] = '\0';

    OPENSSL_cleanse(mac, sizeof(mac));

    return 0;
}
