/*
 * Keys, AES-256-GCM sealing, HMAC-SHA256 and the CSPRNG.
 *
 * OpenSSL 3 makes algorithm fetches and one-shot MACs expensive (a
 * property query each time), while the cookie and CSRF checks run on every
 * request.  So the algorithms are fetched once, and an HMAC key is turned
 * once into the digest states after its inner and outer pads: a MAC is
 * then two state copies and two short digests.
 */

#include <limits.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "twofa_base64.h"
#include "twofa_seal.h"


#define TWOFA_SHA256_BLOCK     64
#define TWOFA_SEAL_HEADER      (1 + TWOFA_KID_SIZE)

/*
 * The HKDF infos name the purpose and the format version of each subkey,
 * so a key made for one use is never accepted for another.  No salt: the
 * master key is already uniformly random (RFC 5869 section 3.1).
 */
#define TWOFA_INFO_KID         "twofa-edge kid v1"
#define TWOFA_INFO_SEAL        "twofa-edge seal v1"
#define TWOFA_INFO_COOKIE      "twofa-edge cookie v1"
#define TWOFA_INFO_CSRF        "twofa-edge csrf v1"
#define TWOFA_INFO_RECOVERY    "twofa-edge recovery v1"


struct twofa_mac_s {
    EVP_MD_CTX  *inner;    /* SHA-256 after (key ^ ipad) */
    EVP_MD_CTX  *outer;    /* SHA-256 after (key ^ opad) */
    EVP_MD_CTX  *work;     /* scratch, kept: no allocation per MAC */
};


static CRYPTO_ONCE        twofa_seal_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_MD            *twofa_sha256;
static EVP_CIPHER        *twofa_aes_gcm;
static EVP_KDF           *twofa_hkdf;


static void
twofa_seal_fetch(void)
{
    twofa_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    twofa_aes_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    twofa_hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
}


void
twofa_seal_cleanup(void)
{
    EVP_MD_free(twofa_sha256);
    EVP_CIPHER_free(twofa_aes_gcm);
    EVP_KDF_free(twofa_hkdf);

    twofa_sha256 = NULL;
    twofa_aes_gcm = NULL;
    twofa_hkdf = NULL;
}


/* 0 when every algorithm is at hand; they stay fetched until cleanup. */

static int
twofa_seal_init(void)
{
    if (!CRYPTO_THREAD_run_once(&twofa_seal_once, twofa_seal_fetch)) {
        return -1;
    }

    if (twofa_sha256 == NULL || twofa_aes_gcm == NULL || twofa_hkdf == NULL)
    {
        return -1;
    }

    return 0;
}


int
twofa_hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt,
    size_t salt_len, const char *info, uint8_t *out, size_t out_len)
{
    int            rc;
    size_t         i;
    OSSL_PARAM     params[5];
    EVP_KDF_CTX   *ctx;

    if (twofa_seal_init() != 0 || ikm == NULL || out == NULL
        || out_len == 0 || (salt == NULL && salt_len != 0))
    {
        return -1;
    }

    if (info == NULL) {
        info = "";
    }

    /* OSSL_PARAM wants non-const pointers; nothing writes through them. */

    i = 0;
    params[i++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                   (char *) "SHA256", 0);
    params[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                                    (void *) ikm, ikm_len);
    if (salt_len > 0) {
        params[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                                    (void *) salt, salt_len);
    }
    params[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                                    (void *) info,
                                                    strlen(info));
    params[i] = OSSL_PARAM_construct_end();

    ctx = EVP_KDF_CTX_new(twofa_hkdf);
    if (ctx == NULL) {
        return -1;
    }

    rc = EVP_KDF_derive(ctx, out, out_len, params) == 1 ? 0 : -1;

    EVP_KDF_CTX_free(ctx);

    if (rc != 0) {
        OPENSSL_cleanse(out, out_len);
    }

    return rc;
}


twofa_mac_t *
twofa_mac_new(const uint8_t *key, size_t key_len)
{
    size_t        i;
    unsigned int  len;
    uint8_t       block[TWOFA_SHA256_BLOCK];
    twofa_mac_t  *mac;

    if (twofa_seal_init() != 0 || (key == NULL && key_len != 0)) {
        return NULL;
    }

    mac = OPENSSL_zalloc(sizeof(twofa_mac_t));
    if (mac == NULL) {
        return NULL;
    }

    memset(block, 0, sizeof(block));

    /* RFC 2104: keys longer than a block are hashed first. */

    if (key_len > TWOFA_SHA256_BLOCK) {
        if (EVP_Digest(key, key_len, block, &len, twofa_sha256, NULL) != 1) {
            goto failed;
        }

    } else if (key_len > 0) {
        memcpy(block, key, key_len);
    }

    mac->inner = EVP_MD_CTX_new();
    mac->outer = EVP_MD_CTX_new();
    mac->work = EVP_MD_CTX_new();

    if (mac->inner == NULL || mac->outer == NULL || mac->work == NULL) {
        goto failed;
    }

    for (i = 0; i < sizeof(block); i++) {
        block[i] ^= 0x36;
    }

    if (EVP_DigestInit_ex(mac->inner, twofa_sha256, NULL) != 1
        || EVP_DigestUpdate(mac->inner, block, sizeof(block)) != 1)
    {
        goto failed;
    }

    for (i = 0; i < sizeof(block); i++) {
        block[i] ^= 0x36 ^ 0x5c;
    }

    if (EVP_DigestInit_ex(mac->outer, twofa_sha256, NULL) != 1
        || EVP_DigestUpdate(mac->outer, block, sizeof(block)) != 1)
    {
        goto failed;
    }

    OPENSSL_cleanse(block, sizeof(block));

    return mac;

failed:

    OPENSSL_cleanse(block, sizeof(block));
    twofa_mac_free(mac);

    return NULL;
}


void
twofa_mac_free(twofa_mac_t *mac)
{
    if (mac == NULL) {
        return;
    }

    /* The providers wipe their digest states when these are freed. */

    EVP_MD_CTX_free(mac->inner);
    EVP_MD_CTX_free(mac->outer);
    EVP_MD_CTX_free(mac->work);
    OPENSSL_free(mac);
}


int
twofa_mac(const twofa_mac_t *mac, const uint8_t *const *parts,
    const size_t *lens, size_t n, uint8_t out[TWOFA_MAC_SIZE])
{
    int           rc;
    size_t        i;
    unsigned int  len;
    uint8_t       inner[TWOFA_MAC_SIZE];
    EVP_MD_CTX   *ctx;

    if (mac == NULL || (n > 0 && (parts == NULL || lens == NULL))) {
        return -1;
    }

    /*
     * The key's own scratch context: the gate verifies a cookie per
     * request, and a context per MAC cost more than the hashing.  So a
     * key serves one thread at a time (as an nginx worker is).
     */

    ctx = mac->work;
    rc = -1;

    if (EVP_MD_CTX_copy_ex(ctx, mac->inner) != 1) {
        goto done;
    }

    for (i = 0; i < n; i++) {
        if (lens[i] > 0 && EVP_DigestUpdate(ctx, parts[i], lens[i]) != 1) {
            goto done;
        }
    }

    if (EVP_DigestFinal_ex(ctx, inner, &len) != 1
        || EVP_MD_CTX_copy_ex(ctx, mac->outer) != 1
        || EVP_DigestUpdate(ctx, inner, sizeof(inner)) != 1
        || EVP_DigestFinal_ex(ctx, out, &len) != 1)
    {
        goto done;
    }

    rc = 0;

done:

    OPENSSL_cleanse(inner, sizeof(inner));

    if (rc != 0) {
        OPENSSL_cleanse(out, TWOFA_MAC_SIZE);
    }

    return rc;
}


int
twofa_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *msg,
    size_t len, uint8_t out[TWOFA_MAC_SIZE])
{
    int           rc;
    twofa_mac_t  *mac;

    if (msg == NULL && len != 0) {
        return -1;
    }

    mac = twofa_mac_new(key, key_len);
    if (mac == NULL) {
        return -1;
    }

    rc = twofa_mac(mac, &msg, &len, 1, out);

    twofa_mac_free(mac);

    return rc;
}


int
twofa_ct_equal(const void *a, const void *b, size_t len)
{
    size_t          i;
    uint64_t        x, y, diff;
    const uint8_t  *p, *q;

    /*
     * A word at a time, no branch on the data: the gate compares a whole
     * cookie per request, and a byte loop (CRYPTO_memcmp) was most of it.
     */

    p = a;
    q = b;
    diff = 0;

    for (i = 0; i + 8 <= len; i += 8) {
        memcpy(&x, p + i, 8);
        memcpy(&y, q + i, 8);
        diff |= x ^ y;
    }

    for ( /* void */ ; i < len; i++) {
        diff |= (uint64_t) (p[i] ^ q[i]);
    }

    /* 1 when diff is 0, without a branch on it */
    return (int) (1 & ((diff - 1) >> 63) & ~(diff >> 63));
}


int
twofa_random(void *buf, size_t len)
{
    if (len == 0) {
        return 0;
    }

    if (buf == NULL || len > INT_MAX) {
        return -1;
    }

    return RAND_bytes(buf, (int) len) == 1 ? 0 : -1;
}


static twofa_mac_t *
twofa_key_mac(const uint8_t *master, size_t len, const char *info)
{
    uint8_t       subkey[32];
    twofa_mac_t  *mac;

    if (twofa_hkdf_sha256(master, len, NULL, 0, info, subkey, sizeof(subkey))
        != 0)
    {
        return NULL;
    }

    mac = twofa_mac_new(subkey, sizeof(subkey));

    OPENSSL_cleanse(subkey, sizeof(subkey));

    return mac;
}


int
twofa_key_init(twofa_key_t *key, const uint8_t *master, size_t len)
{
    if (key == NULL) {
        return -1;
    }

    memset(key, 0, sizeof(twofa_key_t));

    if (master == NULL || len < TWOFA_MASTER_KEY_MIN) {
        return -1;
    }

    if (twofa_hkdf_sha256(master, len, NULL, 0, TWOFA_INFO_KID, key->id,
                          sizeof(key->id)) != 0
        || twofa_base64url_encode(key->id, sizeof(key->id), key->kid,
                                  sizeof(key->kid)) != TWOFA_KID_LEN
        || twofa_hkdf_sha256(master, len, NULL, 0, TWOFA_INFO_SEAL,
                             key->seal_key, sizeof(key->seal_key)) != 0)
    {
        goto failed;
    }

    key->cookie_mac = twofa_key_mac(master, len, TWOFA_INFO_COOKIE);
    key->csrf_mac = twofa_key_mac(master, len, TWOFA_INFO_CSRF);
    key->recovery_mac = twofa_key_mac(master, len, TWOFA_INFO_RECOVERY);

    if (key->cookie_mac == NULL || key->csrf_mac == NULL
        || key->recovery_mac == NULL)
    {
        goto failed;
    }

    return 0;

failed:

    twofa_key_free(key);

    return -1;
}


void
twofa_key_free(twofa_key_t *key)
{
    if (key == NULL) {
        return;
    }

    twofa_mac_free(key->cookie_mac);
    twofa_mac_free(key->csrf_mac);
    twofa_mac_free(key->recovery_mac);

    OPENSSL_cleanse(key, sizeof(twofa_key_t));
}


const twofa_key_t *
twofa_key_find(const twofa_key_t *keys, size_t n, const char *kid,
    size_t kid_len)
{
    size_t  i;

    if (keys == NULL || kid == NULL || kid_len != TWOFA_KID_LEN) {
        return NULL;
    }

    /* Key ids are public: no need for a constant-time search. */

    for (i = 0; i < n; i++) {
        if (memcmp(keys[i].kid, kid, TWOFA_KID_LEN) == 0) {
            return &keys[i];
        }
    }

    return NULL;
}


static const twofa_key_t *
twofa_key_find_raw(const twofa_key_t *keys, size_t n, const uint8_t *id)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (memcmp(keys[i].id, id, TWOFA_KID_SIZE) == 0) {
            return &keys[i];
        }
    }

    return NULL;
}


/*
 * What sealing and opening share: the GCM context set to key and to the
 * nonce after sealed's header, the header and the caller's aad
 * authenticated, then len bytes of in turned into out (enc 1: encrypted,
 * 0: decrypted).  The tag is left to the caller.  0 or -1.
 */

static int
twofa_seal_gcm(EVP_CIPHER_CTX *ctx, int enc, const twofa_key_t *key,
    const uint8_t *sealed, const uint8_t *aad, size_t aad_len,
    const uint8_t *in, size_t len, uint8_t *out)
{
    int  n;

    /*
     * The header is authenticated with the caller's aad: its fixed length
     * keeps the concatenation unambiguous.
     */

    if (EVP_CipherInit_ex2(ctx, twofa_aes_gcm, key->seal_key,
                           sealed + TWOFA_SEAL_HEADER, enc, NULL) != 1
        || EVP_CipherUpdate(ctx, NULL, &n, sealed, TWOFA_SEAL_HEADER) != 1)
    {
        return -1;
    }

    if (aad_len > 0
        && EVP_CipherUpdate(ctx, NULL, &n, aad, (int) aad_len) != 1)
    {
        return -1;
    }

    if (len > 0
        && (EVP_CipherUpdate(ctx, out, &n, in, (int) len) != 1
            || (size_t) n != len))
    {
        return -1;
    }

    return 0;
}


int
twofa_seal(const twofa_key_t *key, const uint8_t *aad, size_t aad_len,
    const uint8_t *pt, size_t pt_len, uint8_t *out, size_t out_size)
{
    int               len, rc;
    uint8_t          *nonce, *ct;
    uint8_t           tail[EVP_MAX_BLOCK_LENGTH];  /* GCM writes none */
    EVP_CIPHER_CTX   *ctx;

    if (twofa_seal_init() != 0 || key == NULL || out == NULL
        || (aad == NULL && aad_len != 0) || (pt == NULL && pt_len != 0)
        || aad_len > INT_MAX || pt_len > TWOFA_SEAL_MAX
        || out_size < pt_len + TWOFA_SEAL_OVERHEAD)
    {
        return -1;
    }

    out[0] = TWOFA_SEAL_VERSION;
    memcpy(out + 1, key->id, TWOFA_KID_SIZE);
    nonce = out + TWOFA_SEAL_HEADER;
    ct = nonce + TWOFA_SEAL_NONCE_SIZE;

    if (twofa_random(nonce, TWOFA_SEAL_NONCE_SIZE) != 0) {
        return -1;
    }

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        return -1;
    }

    rc = -1;

    if (twofa_seal_gcm(ctx, 1, key, out, aad, aad_len, pt, pt_len, ct) != 0
        || EVP_EncryptFinal_ex(ctx, tail, &len) != 1 || len != 0
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TWOFA_SEAL_TAG_SIZE,
                               ct + pt_len) != 1)
    {
        goto done;
    }

    rc = (int) (pt_len + TWOFA_SEAL_OVERHEAD);

done:

    EVP_CIPHER_CTX_free(ctx);

    if (rc < 0) {
        OPENSSL_cleanse(out, pt_len + TWOFA_SEAL_OVERHEAD);
    }

    return rc;
}


int
twofa_open(const twofa_key_t *keys, size_t n, const uint8_t *aad,
    size_t aad_len, const uint8_t *in, size_t in_len, uint8_t *out,
    size_t out_size)
{
    int                len, rc;
    size_t             pt_len;
    uint8_t            tail[EVP_MAX_BLOCK_LENGTH];  /* GCM writes none */
    const uint8_t     *ct;
    EVP_CIPHER_CTX    *ctx;
    const twofa_key_t *key;

    if (twofa_seal_init() != 0 || keys == NULL || in == NULL
        || (aad == NULL && aad_len != 0) || aad_len > INT_MAX
        || in_len < TWOFA_SEAL_OVERHEAD
        || in_len - TWOFA_SEAL_OVERHEAD > TWOFA_SEAL_MAX
        || in[0] != TWOFA_SEAL_VERSION)
    {
        return -1;
    }

    pt_len = in_len - TWOFA_SEAL_OVERHEAD;

    if (out_size < pt_len || (out == NULL && pt_len != 0)) {
        return -1;
    }

    key = twofa_key_find_raw(keys, n, in + 1);
    if (key == NULL) {
        return -1;
    }

    ct = in + TWOFA_SEAL_HEADER + TWOFA_SEAL_NONCE_SIZE;

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        return -1;
    }

    rc = -1;

    /* The ctrl takes a non-const pointer but only reads the tag. */

    if (twofa_seal_gcm(ctx, 0, key, in, aad, aad_len, ct, pt_len, out) != 0
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TWOFA_SEAL_TAG_SIZE,
                               (void *) (ct + pt_len)) != 1
        || EVP_DecryptFinal_ex(ctx, tail, &len) != 1 || len != 0)
    {
        goto done;
    }

    rc = (int) pt_len;

done:

    EVP_CIPHER_CTX_free(ctx);

    /* Unauthenticated plaintext must not reach anyone. */

    if (rc < 0 && pt_len > 0) {
        OPENSSL_cleanse(out, pt_len);
    }

    return rc;
}
