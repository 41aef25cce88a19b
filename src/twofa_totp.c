/*
 * HOTP (RFC 4226), TOTP (RFC 6238) and the otpauth key URI.
 *
 * A verification computes several HMACs under one key, so the key is
 * turned once into the digest states after its inner and outer pads (RFC
 * 2104), and each step costs two state copies and two short digests.
 */

#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "twofa_base32.h"
#include "twofa_totp.h"
#include "twofa_util.h"


#define TWOFA_HMAC_BLOCK_MAX   128           /* SHA-512 */
#define TWOFA_SECRET_MAX       256           /* bytes, for the key URI */


typedef struct {
    EVP_MD_CTX  *inner;
    EVP_MD_CTX  *outer;
    EVP_MD_CTX  *work;
    int          md_len;
} twofa_hmac_t;


static CRYPTO_ONCE   twofa_totp_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_MD       *twofa_totp_md[3];

static const char   *twofa_totp_alg_names[3] = {
    "SHA1", "SHA256", "SHA512"
};

static const uint32_t  twofa_pow10[TWOFA_DIGITS_MAX + 1] = {
    1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000
};


static void
twofa_totp_fetch(void)
{
    int  i;

    for (i = 0; i < 3; i++) {
        twofa_totp_md[i] = EVP_MD_fetch(NULL, twofa_totp_alg_names[i], NULL);
    }
}


void
twofa_totp_cleanup(void)
{
    int  i;

    for (i = 0; i < 3; i++) {
        EVP_MD_free(twofa_totp_md[i]);
        twofa_totp_md[i] = NULL;
    }
}


static const EVP_MD *
twofa_totp_digest(twofa_hash_t alg)
{
    if ((unsigned) alg > TWOFA_SHA512) {
        return NULL;
    }

    if (!CRYPTO_THREAD_run_once(&twofa_totp_once, twofa_totp_fetch)) {
        return NULL;
    }

    return twofa_totp_md[alg];
}


static void
twofa_hmac_free(twofa_hmac_t *h)
{
    /* The providers wipe the keyed digest states as they free them. */

    EVP_MD_CTX_free(h->inner);
    EVP_MD_CTX_free(h->outer);
    EVP_MD_CTX_free(h->work);
}


static int
twofa_hmac_init(twofa_hmac_t *h, twofa_hash_t alg, const uint8_t *key,
    size_t key_len)
{
    int            block_len;
    size_t         i;
    unsigned int   len;
    uint8_t        block[TWOFA_HMAC_BLOCK_MAX];
    const EVP_MD  *md;

    memset(h, 0, sizeof(twofa_hmac_t));

    md = twofa_totp_digest(alg);
    if (md == NULL) {
        return -1;
    }

    block_len = EVP_MD_get_block_size(md);
    h->md_len = EVP_MD_get_size(md);

    if (block_len <= 0 || block_len > TWOFA_HMAC_BLOCK_MAX
        || h->md_len <= 0 || h->md_len > block_len)
    {
        return -1;
    }

    h->inner = EVP_MD_CTX_new();
    h->outer = EVP_MD_CTX_new();
    h->work = EVP_MD_CTX_new();

    if (h->inner == NULL || h->outer == NULL || h->work == NULL) {
        goto failed;
    }

    memset(block, 0, sizeof(block));

    if ((size_t) block_len < key_len) {
        if (EVP_Digest(key, key_len, block, &len, md, NULL) != 1) {
            goto failed;
        }

    } else {
        memcpy(block, key, key_len);
    }

    for (i = 0; i < (size_t) block_len; i++) {
        block[i] ^= 0x36;
    }

    if (EVP_DigestInit_ex(h->inner, md, NULL) != 1
        || EVP_DigestUpdate(h->inner, block, block_len) != 1)
    {
        goto failed;
    }

    for (i = 0; i < (size_t) block_len; i++) {
        block[i] ^= 0x36 ^ 0x5c;
    }

    if (EVP_DigestInit_ex(h->outer, md, NULL) != 1
        || EVP_DigestUpdate(h->outer, block, block_len) != 1)
    {
        goto failed;
    }

    OPENSSL_cleanse(block, sizeof(block));

    return 0;

failed:

    OPENSSL_cleanse(block, sizeof(block));
    twofa_hmac_free(h);

    return -1;
}


/* HOTP of one counter with a keyed HMAC (RFC 4226 section 5.3). */

static int
twofa_hmac_hotp(twofa_hmac_t *h, uint64_t counter, unsigned digits,
    uint32_t *code)
{
    int           i, rc;
    unsigned int  len;
    unsigned      offset;
    uint8_t       msg[8], mac[EVP_MAX_MD_SIZE];
    uint32_t      bin;

    for (i = 7; i >= 0; i--) {
        msg[i] = (uint8_t) counter;
        counter >>= 8;
    }

    rc = -1;

    if (EVP_MD_CTX_copy_ex(h->work, h->inner) != 1
        || EVP_DigestUpdate(h->work, msg, sizeof(msg)) != 1
        || EVP_DigestFinal_ex(h->work, mac, &len) != 1
        || EVP_MD_CTX_copy_ex(h->work, h->outer) != 1
        || EVP_DigestUpdate(h->work, mac, len) != 1
        || EVP_DigestFinal_ex(h->work, mac, &len) != 1
        || len != (unsigned int) h->md_len)
    {
        goto done;
    }

    offset = mac[len - 1] & 0x0f;
    bin = (uint32_t) (mac[offset] & 0x7f) << 24
          | (uint32_t) mac[offset + 1] << 16
          | (uint32_t) mac[offset + 2] << 8
          | (uint32_t) mac[offset + 3];

    *code = bin % twofa_pow10[digits];
    rc = 0;

done:

    OPENSSL_cleanse(mac, sizeof(mac));

    return rc;
}


int
twofa_hotp(twofa_hash_t alg, const uint8_t *key, size_t key_len,
    uint64_t counter, unsigned digits, uint32_t *code)
{
    int           rc;
    twofa_hmac_t  h;

    if (key == NULL || key_len == 0 || code == NULL
        || digits < TWOFA_DIGITS_MIN || digits > TWOFA_DIGITS_MAX)
    {
        return -1;
    }

    if (twofa_hmac_init(&h, alg, key, key_len) != 0) {
        return -1;
    }

    rc = twofa_hmac_hotp(&h, counter, digits, code);

    twofa_hmac_free(&h);

    return rc;
}


int
twofa_totp(twofa_hash_t alg, const uint8_t *key, size_t key_len,
    uint64_t now, unsigned period, unsigned digits, uint32_t *code)
{
    if (period == 0) {
        return -1;
    }

    return twofa_hotp(alg, key, key_len, now / period, digits, code);
}


/* 1 when a == b, else 0, without a branch on the values. */

static uint32_t
twofa_ct_eq_u32(uint32_t a, uint32_t b)
{
    uint32_t  x = a ^ b;

    return ((x - 1) & ~x) >> 31;
}


int
twofa_totp_verify(twofa_hash_t alg, const uint8_t *key, size_t key_len,
    uint64_t now, unsigned period, unsigned digits, unsigned skew,
    const char *code, size_t code_len, uint64_t *step)
{
    size_t        i;
    uint32_t      given, expect, eq, found;
    uint64_t      t, first, last, matched, mask;
    twofa_hmac_t  h;

    if (key == NULL || key_len == 0 || code == NULL || step == NULL
        || period == 0 || skew > TWOFA_SKEW_MAX
        || digits < TWOFA_DIGITS_MIN || digits > TWOFA_DIGITS_MAX
        || code_len != digits)
    {
        return -1;
    }

    given = 0;

    for (i = 0; i < code_len; i++) {
        if (code[i] < '0' || code[i] > '9') {
            return -1;
        }

        given = given * 10 + (uint32_t) (code[i] - '0');
    }

    t = now / period;

    /* Steps before the epoch or past the counter's end do not exist. */

    first = (t < skew) ? 0 : t - skew;
    last = (t > UINT64_MAX - skew) ? UINT64_MAX : t + skew;

    if (twofa_hmac_init(&h, alg, key, key_len) != 0) {
        return -1;
    }

    found = 0;
    matched = 0;

    /*
     * Every candidate is computed and compared whatever the outcome, so
     * the time taken says nothing about which step (if any) matched; the
     * earliest matching step is the one reported.
     */

    for (t = first; ; t++) {
        if (twofa_hmac_hotp(&h, t, digits, &expect) != 0) {
            twofa_hmac_free(&h);
            return -1;
        }

        eq = twofa_ct_eq_u32(expect, given);
        mask = (uint64_t) 0 - (uint64_t) (eq & (found ^ 1));
        matched |= t & mask;
        found |= eq;

        if (t == last) {
            break;
        }
    }

    twofa_hmac_free(&h);

    if (found) {
        *step = matched;
        return 1;
    }

    return 0;
}


int
twofa_code_format(uint32_t code, unsigned digits, char *out,
    size_t out_size)
{
    unsigned  i;

    if (out == NULL || digits < TWOFA_DIGITS_MIN || digits > TWOFA_DIGITS_MAX
        || out_size < digits + 1 || code >= twofa_pow10[digits])
    {
        return -1;
    }

    for (i = digits; i > 0; i--) {
        out[i - 1] = (char) ('0' + code % 10);
        code /= 10;
    }

    out[digits] = '\0';

    return 0;
}


/* A bounded string builder: overflow is remembered, not written. */

typedef struct {
    char    *p;
    size_t   len;
    size_t   size;
    int      overflow;
} twofa_uri_buf_t;


static void
twofa_uri_put(twofa_uri_buf_t *b, const char *s, size_t len)
{
    if (b->overflow || b->size - b->len <= len) {
        b->overflow = 1;
        return;
    }

    memcpy(b->p + b->len, s, len);
    b->len += len;
}


static void
twofa_uri_put_str(twofa_uri_buf_t *b, const char *s)
{
    twofa_uri_put(b, s, strlen(s));
}


/* RFC 3986 percent-encoding of everything but the unreserved set. */

static void
twofa_uri_put_escaped(twofa_uri_buf_t *b, const char *s, size_t len)
{
    char           hex[3];
    size_t         i;
    unsigned char  c;

    static const char  digits[] = "0123456789ABCDEF";

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9')
            || c == '-' || c == '.' || c == '_' || c == '~')
        {
            twofa_uri_put(b, (const char *) &c, 1);
            continue;
        }

        hex[0] = '%';
        hex[1] = digits[c >> 4];
        hex[2] = digits[c & 0x0f];
        twofa_uri_put(b, hex, 3);
    }
}


static void
twofa_uri_put_uint(twofa_uri_buf_t *b, unsigned v)
{
    char  tmp[TWOFA_UTIL_UINT_DIGITS];

    twofa_uri_put(b, tmp, twofa_util_put_uint(tmp, v));
}


int
twofa_otpauth_uri(const char *issuer, size_t issuer_len,
    const char *account, size_t account_len, const char *secret_b32,
    size_t secret_len, twofa_hash_t alg, unsigned digits, unsigned period,
    char *out, size_t out_size)
{
    int              n;
    char             canonical[twofa_base32_encoded_len(TWOFA_SECRET_MAX) + 1];
    uint8_t          secret[TWOFA_SECRET_MAX];
    twofa_uri_buf_t  b;

    if ((issuer == NULL && issuer_len != 0) || account == NULL
        || account_len == 0 || secret_b32 == NULL || out == NULL
        || out_size == 0 || (unsigned) alg > TWOFA_SHA512
        || digits < TWOFA_DIGITS_MIN || digits > TWOFA_DIGITS_MAX
        || period == 0)
    {
        return -1;
    }

    /*
     * The key may come spelled for people (groups, lower case); the apps
     * want it bare, so it is decoded and spelled again.
     */

    n = twofa_base32_decode(secret_b32, secret_len, secret, sizeof(secret));
    if (n <= 0) {
        OPENSSL_cleanse(secret, sizeof(secret));
        return -1;
    }

    n = twofa_base32_encode(secret, n, canonical, sizeof(canonical));
    OPENSSL_cleanse(secret, sizeof(secret));

    if (n < 0) {
        return -1;
    }

    b.p = out;
    b.len = 0;
    b.size = out_size;
    b.overflow = 0;

    twofa_uri_put_str(&b, "otpauth://totp/");

    if (issuer_len > 0) {
        twofa_uri_put_escaped(&b, issuer, issuer_len);
        twofa_uri_put_str(&b, ":");
    }

    twofa_uri_put_escaped(&b, account, account_len);
    twofa_uri_put_str(&b, "?secret=");
    twofa_uri_put(&b, canonical, n);

    if (issuer_len > 0) {
        twofa_uri_put_str(&b, "&issuer=");
        twofa_uri_put_escaped(&b, issuer, issuer_len);
    }

    twofa_uri_put_str(&b, "&algorithm=");
    twofa_uri_put_str(&b, twofa_totp_alg_names[alg]);
    twofa_uri_put_str(&b, "&digits=");
    twofa_uri_put_uint(&b, digits);
    twofa_uri_put_str(&b, "&period=");
    twofa_uri_put_uint(&b, period);

    OPENSSL_cleanse(canonical, sizeof(canonical));

    if (b.overflow || b.len > INT_MAX) {
        OPENSSL_cleanse(out, b.len);
        out[0] = '\0';
        return -1;
    }

    out[b.len] = '\0';

    return (int) b.len;
}
