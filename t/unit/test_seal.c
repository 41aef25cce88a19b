/*
 * Keys, HKDF, HMAC, sealing: RFC vectors, an independent OpenSSL check of
 * the sealed format, rotation and every kind of tampering.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "tap.h"
#include "twofa_base64.h"
#include "twofa_seal.h"


static void
master_key(uint8_t *master, size_t len, uint8_t seed)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        master[i] = (uint8_t) (seed + i);
    }
}


static void
test_key_init(void)
{
    uint8_t      master[48], id[TWOFA_KID_SIZE];
    twofa_key_t  a, b, c, z;

    master_key(master, sizeof(master), 0);

    is_int(twofa_key_init(&a, master, 32), 0, "key from 32 bytes");
    is_int(strlen(a.kid), TWOFA_KID_LEN, "kid is 8 characters");
    ok(a.cookie_mac && a.csrf_mac && a.recovery_mac, "MAC keys made");

    /*
     * The derivation is part of the stored format: cookies and sealed
     * secrets name their key by this id.  Pinned so a change is noticed;
     * the value is what `openssl kdf -keylen 6 -kdfopt digest:SHA256
     * -kdfopt hexkey:0001..1f -kdfopt "info:twofa-edge kid v1" HKDF`
     * gives, in base64url.
     */
    is_str(a.kid, "2XkBpNV6", "kid of master 00..1f is pinned");

    is_int(twofa_base64url_decode(a.kid, TWOFA_KID_LEN, id, sizeof(id)),
           TWOFA_KID_SIZE, "kid decodes to 6 bytes");
    ok(memcmp(id, a.id, TWOFA_KID_SIZE) == 0, "kid is base64url of id");

    {
        uint8_t  expect[TWOFA_KID_SIZE], seal_key[32];

        twofa_hkdf_sha256(master, 32, NULL, 0, "twofa-edge kid v1", expect,
                          sizeof(expect));
        ok(memcmp(expect, a.id, TWOFA_KID_SIZE) == 0,
           "id = HKDF-SHA256(master, \"twofa-edge kid v1\")[0..6]");
        twofa_hkdf_sha256(master, 32, NULL, 0, "twofa-edge seal v1", seal_key,
                          sizeof(seal_key));
        ok(memcmp(seal_key, a.seal_key, 32) == 0,
           "seal key = HKDF-SHA256(master, \"twofa-edge seal v1\")");
    }

    is_int(twofa_key_init(&b, master, 32), 0, "same master again");
    is_str(b.kid, a.kid, "kid is stable");
    ok(memcmp(a.seal_key, b.seal_key, 32) == 0, "seal key is stable");

    is_int(twofa_key_init(&c, master, 48), 0, "key from 48 bytes");
    ok(strcmp(c.kid, a.kid) != 0, "another master, another kid");
    ok(memcmp(a.seal_key, c.seal_key, 32) != 0, "another seal key");

    memset(&z, 0x5a, sizeof(z));
    is_int(twofa_key_init(&z, master, 31), -1, "31 bytes refused");
    ok(z.cookie_mac == NULL && z.csrf_mac == NULL && z.recovery_mac == NULL,
       "a refused key holds nothing");
    is_int(twofa_key_init(&z, NULL, 32), -1, "NULL master refused");

    ok(twofa_key_find(&a, 1, a.kid, TWOFA_KID_LEN) == &a, "find by kid");
    {
        twofa_key_t  set[2];

        set[0] = c;
        set[1] = a;
        ok(twofa_key_find(set, 2, a.kid, TWOFA_KID_LEN) == &set[1],
           "find the second key of a set");
        ok(twofa_key_find(set, 2, a.kid, TWOFA_KID_LEN - 1) == NULL,
           "short kid not found");
        ok(twofa_key_find(set, 2, "AAAAAAAA", TWOFA_KID_LEN) == NULL,
           "unknown kid not found");
        ok(twofa_key_find(set, 0, a.kid, TWOFA_KID_LEN) == NULL,
           "empty set");
    }

    twofa_key_free(&a);
    ok(a.cookie_mac == NULL && a.seal_key[0] == 0 && a.seal_key[31] == 0,
       "free wipes the key");
    twofa_key_free(&a);
    ok(1, "free twice is safe");
    memset(&z, 0, sizeof(z));
    twofa_key_free(&z);
    twofa_key_free(NULL);
    ok(1, "free of a zeroed key and of NULL is safe");
    twofa_key_free(&b);
    twofa_key_free(&c);
}


static void
hkdf_is(const char *ikm_hex, const char *salt_hex, const char *info_hex,
    const char *okm_hex, const char *name)
{
    char      info[256];
    size_t    ikm_len, salt_len, info_len, okm_len, i;
    uint8_t   out[128], *ikm, *salt, *info_bytes, *okm;

    ikm = tap_hex(ikm_hex, &ikm_len);
    salt = tap_hex(salt_hex, &salt_len);
    info_bytes = tap_hex(info_hex, &info_len);
    okm = tap_hex(okm_hex, &okm_len);

    for (i = 0; i < info_len; i++) {
        info[i] = (char) info_bytes[i];
    }
    info[info_len] = '\0';

    memset(out, 0, sizeof(out));
    is_int(twofa_hkdf_sha256(ikm, ikm_len, salt_len ? salt : NULL, salt_len,
                             info, out, okm_len), 0, "%s: derive", name);
    is_mem(out, okm, okm_len, "%s: OKM", name);

    free(ikm);
    free(salt);
    free(info_bytes);
    free(okm);
}


static void
test_hkdf(void)
{
    hkdf_is("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
            "000102030405060708090a0b0c", "f0f1f2f3f4f5f6f7f8f9",
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
            "34007208d5b887185865", "RFC 5869 test case 1");

    hkdf_is("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "",
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
            "9d201395faa4b61a96c8", "RFC 5869 test case 3");
}


static void
hmac_is(const char *key_hex, const char *msg, size_t msg_len,
    const char *mac_hex, const char *name)
{
    size_t          key_len, mac_len;
    uint8_t         out[TWOFA_MAC_SIZE], *key, *mac;
    twofa_mac_t    *m;
    const uint8_t  *part;

    key = tap_hex(key_hex, &key_len);
    mac = tap_hex(mac_hex, &mac_len);

    is_int(twofa_hmac_sha256(key, key_len, (const uint8_t *) msg, msg_len,
                             out), 0, "%s: one-shot", name);
    is_mem(out, mac, mac_len, "%s: value", name);

    m = twofa_mac_new(key, key_len);
    part = (const uint8_t *) msg;
    memset(out, 0, sizeof(out));
    ok(m != NULL && twofa_mac(m, &part, &msg_len, 1, out) == 0
       && memcmp(out, mac, mac_len) == 0, "%s: precomputed key", name);
    twofa_mac_free(m);

    free(key);
    free(mac);
}


static void
test_hmac(void)
{
    char  big_key[131 * 2 + 1], data3[51], data4[51];

    memset(big_key, 'a', sizeof(big_key) - 1);
    big_key[sizeof(big_key) - 1] = '\0';
    memset(data3, 0xdd, 50);
    memset(data4, 0xcd, 50);

    hmac_is("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "Hi There", 8,
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            "RFC 4231 test case 1");
    hmac_is("4a656665", "what do ya want for nothing?", 28,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            "RFC 4231 test case 2");
    hmac_is("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", data3, 50,
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            "RFC 4231 test case 3");
    hmac_is("0102030405060708090a0b0c0d0e0f10111213141516171819", data4, 50,
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            "RFC 4231 test case 4");
    hmac_is("0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c", "Test With Truncation",
            20, "a3b6167473100ee06e0c796c2955552b",
            "RFC 4231 test case 5 (128 bits)");
    hmac_is(big_key, "Test Using Larger Than Block-Size Key - Hash Key First",
            54,
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            "RFC 4231 test case 6");
    hmac_is(big_key, "This is a test using a larger than block-size key and a "
            "larger than block-size data. The key needs to be hashed before "
            "being used by the HMAC algorithm.", 152,
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            "RFC 4231 test case 7");
}


/* Random keys and messages against OpenSSL's own HMAC; split messages. */

static void
test_hmac_random(void)
{
    int             bad;
    size_t          i, j, key_len, len, cut1, cut2, out_len, lens[3];
    uint8_t         key[200], msg[300], a[TWOFA_MAC_SIZE], b[64];
    twofa_mac_t    *m;
    const uint8_t  *parts[3];

    bad = 0;
    srand(4231);

    for (i = 0; i < 300; i++) {
        key_len = rand() % sizeof(key);
        len = rand() % sizeof(msg);

        for (j = 0; j < key_len; j++) {
            key[j] = (uint8_t) rand();
        }
        for (j = 0; j < len; j++) {
            msg[j] = (uint8_t) rand();
        }

        if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, key_len, msg,
                      len, b, sizeof(b), &out_len) == NULL
            || out_len != TWOFA_MAC_SIZE)
        {
            bad++;
            continue;
        }

        if (twofa_hmac_sha256(key, key_len, msg, len, a) != 0
            || memcmp(a, b, TWOFA_MAC_SIZE) != 0)
        {
            diag("one-shot differs: key %zu bytes, message %zu", key_len,
                 len);
            bad++;
        }

        cut1 = len ? rand() % (len + 1) : 0;
        cut2 = cut1 + (len - cut1 ? rand() % (len - cut1 + 1) : 0);
        parts[0] = msg;
        lens[0] = cut1;
        parts[1] = msg + cut1;
        lens[1] = cut2 - cut1;
        parts[2] = msg + cut2;
        lens[2] = len - cut2;

        m = twofa_mac_new(key, key_len);
        memset(a, 0, sizeof(a));

        if (m == NULL || twofa_mac(m, parts, lens, 3, a) != 0
            || memcmp(a, b, TWOFA_MAC_SIZE) != 0
            || twofa_mac(m, parts, lens, 3, a) != 0
            || memcmp(a, b, TWOFA_MAC_SIZE) != 0)
        {
            diag("parts differ: key %zu bytes, message %zu (%zu/%zu)",
                 key_len, len, cut1, cut2);
            bad++;
        }

        twofa_mac_free(m);
    }

    is_int(bad, 0, "300 random HMACs equal OpenSSL's, whole and in parts, "
           "key reused");
}


static void
test_ct_equal(void)
{
    is_int(twofa_ct_equal("abcdef", "abcdef", 6), 1, "ct_equal: equal");
    is_int(twofa_ct_equal("abcdef", "abcdeg", 6), 0, "ct_equal: last differs");
    is_int(twofa_ct_equal("abcdef", "bbcdef", 6), 0,
           "ct_equal: first differs");
    is_int(twofa_ct_equal("\x80", "\x00", 1), 0, "ct_equal: high bit");
    is_int(twofa_ct_equal("a", "b", 0), 1, "ct_equal: empty");

    /* word-wise: every single-bit difference, across word boundaries */
    {
        size_t   len, pos;
        int      bit, bad;
        uint8_t  x[33], y[33];

        bad = 0;

        for (len = 1; len <= sizeof(x); len++) {
            for (pos = 0; pos < len; pos++) {
                for (bit = 0; bit < 8; bit++) {
                    memset(x, 0xa5, len);
                    memcpy(y, x, len);
                    y[pos] ^= (uint8_t) (1u << bit);

                    bad |= twofa_ct_equal(x, y, len) != 0;
                    bad |= twofa_ct_equal(x, x, len) != 1;
                }
            }
        }

        is_int(bad, 0, "ct_equal: every single-bit difference, lengths "
               "1 to 33");
    }
}


/*
 * Opens a sealed value with nothing but OpenSSL and the documented
 * format, to pin the format down.
 */
static int
independent_open(const uint8_t *seal_key, const uint8_t *aad, size_t aad_len,
    const uint8_t *in, size_t in_len, uint8_t *out)
{
    int              len, rc;
    size_t           pt_len;
    EVP_CIPHER_CTX  *ctx;

    pt_len = in_len - TWOFA_SEAL_OVERHEAD;
    ctx = EVP_CIPHER_CTX_new();
    rc = ctx != NULL
         && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, seal_key,
                               in + 7) == 1
         && EVP_DecryptUpdate(ctx, NULL, &len, in, 7) == 1
         && EVP_DecryptUpdate(ctx, NULL, &len, aad, (int) aad_len) == 1
         && EVP_DecryptUpdate(ctx, out, &len, in + 19, (int) pt_len) == 1
         && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16,
                                (void *) (in + 19 + pt_len)) == 1
         && EVP_DecryptFinal_ex(ctx, out + pt_len, &len) == 1;
    EVP_CIPHER_CTX_free(ctx);

    return rc ? (int) pt_len : -1;
}


/* 1 when needle occurs in haystack (memmem is not in POSIX). */

static int
contains(const uint8_t *haystack, size_t len, const uint8_t *needle,
    size_t needle_len)
{
    size_t  i;

    for (i = 0; i + needle_len <= len; i++) {
        if (memcmp(haystack + i, needle, needle_len) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
all_zero(const uint8_t *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (p[i] != 0) {
            return 0;
        }
    }

    return 1;
}


static void
test_seal(void)
{
    int           n, m, bad, leaked;
    size_t        i, bit, len;
    uint8_t       master[32], *big, *sealed_big, *opened_big;
    uint8_t       sealed[20 + TWOFA_SEAL_OVERHEAD + 1], sealed2[64];
    uint8_t       opened[64], copy[64];
    twofa_key_t   keys[2], other, old_only[1];

    /* 20 bytes used, the string's NUL beside them: GCC 15 warns
     * (-Wunterminated-string-initialization) when a string fills its array */
    static const uint8_t  secret[21] = "12345678901234567890";
    static const uint8_t  aad[] = "secret:acme:alice";

    master_key(master, 32, 1);
    twofa_key_init(&keys[0], master, 32);
    master_key(master, 32, 2);
    twofa_key_init(&keys[1], master, 32);
    master_key(master, 32, 3);
    twofa_key_init(&other, master, 32);

    /* 20 bytes */

    n = twofa_seal(&keys[0], aad, sizeof(aad) - 1, secret, 20, sealed,
                   sizeof(sealed));
    is_int(n, 20 + TWOFA_SEAL_OVERHEAD, "seal 20 bytes: length");
    is_int(sealed[0], 1, "version byte 1");
    ok(memcmp(sealed + 1, keys[0].id, TWOFA_KID_SIZE) == 0,
       "raw key id follows");
    ok(!contains(sealed, n, secret, 20), "no plaintext in the output");

    memset(opened, 0, sizeof(opened));
    m = twofa_open(keys, 2, aad, sizeof(aad) - 1, sealed, n, opened,
                   sizeof(opened));
    is_int(m, 20, "open: length");
    ok(memcmp(opened, secret, 20) == 0, "open: plaintext");

    memset(opened, 0, sizeof(opened));
    is_int(independent_open(keys[0].seal_key, aad, sizeof(aad) - 1, sealed,
                            n, opened), 20,
           "plain OpenSSL opens it (AAD = version | kid | aad)");
    ok(memcmp(opened, secret, 20) == 0, "plain OpenSSL gets the plaintext");

    is_int(twofa_open(keys, 2, aad, sizeof(aad) - 1, sealed, n, opened, 20),
           20, "open: exact output size");
    is_int(twofa_open(keys, 2, aad, sizeof(aad) - 1, sealed, n, opened, 19),
           -1, "open: output one byte short");
    is_int(twofa_seal(&keys[0], aad, sizeof(aad) - 1, secret, 20, sealed2,
                      20 + TWOFA_SEAL_OVERHEAD - 1), -1,
           "seal: output one byte short");

    /* Two seals of the same input differ (fresh nonce). */

    m = twofa_seal(&keys[0], aad, sizeof(aad) - 1, secret, 20, sealed2,
                   sizeof(sealed2));
    is_int(m, n, "second seal: same length");
    ok(memcmp(sealed + 7, sealed2 + 7, TWOFA_SEAL_NONCE_SIZE) != 0,
       "nonces differ");
    ok(memcmp(sealed + 19, sealed2 + 19, 20) != 0, "ciphertexts differ");

    /* Rotation: the old key is second in the set. */

    m = twofa_seal(&keys[1], aad, sizeof(aad) - 1, secret, 20, sealed2,
                   sizeof(sealed2));
    memset(opened, 0, sizeof(opened));
    is_int(twofa_open(keys, 2, aad, sizeof(aad) - 1, sealed2, m, opened,
                      sizeof(opened)), 20, "rotation: second key opens");
    ok(memcmp(opened, secret, 20) == 0, "rotation: plaintext");
    old_only[0] = keys[0];
    is_int(twofa_open(old_only, 1, aad, sizeof(aad) - 1, sealed2, m, opened,
                      sizeof(opened)), -1, "a set without the key: -1");
    is_int(twofa_open(&other, 1, aad, sizeof(aad) - 1, sealed, n, opened,
                      sizeof(opened)), -1, "wrong key set: -1");

    /* Another key under the right key id: the tag catches it. */
    {
        twofa_key_t  impostor = other;

        memcpy(impostor.id, keys[0].id, TWOFA_KID_SIZE);
        memset(opened, 0, sizeof(opened));
        is_int(twofa_open(&impostor, 1, aad, sizeof(aad) - 1, sealed, n,
                          opened, sizeof(opened)), -1,
               "wrong key under the right id: -1");
        ok(all_zero(opened, sizeof(opened)), "and nothing left in out");
    }

    /* aad */

    is_int(twofa_open(keys, 2, (const uint8_t *) "secret:acme:bob", 15,
                      sealed, n, opened, sizeof(opened)), -1,
           "another aad: -1");
    is_int(twofa_open(keys, 2, NULL, 0, sealed, n, opened, sizeof(opened)),
           -1, "no aad: -1");
    is_int(twofa_open(keys, 2, aad, sizeof(aad), sealed, n, opened,
                      sizeof(opened)), -1, "aad with one byte more: -1");

    /* Every byte, every bit. */

    bad = 0;
    leaked = 0;

    for (i = 0; i < (size_t) n; i++) {
        for (bit = 0; bit < 8; bit++) {
            memcpy(copy, sealed, n);
            copy[i] ^= (uint8_t) (1 << bit);
            memset(opened, 0xaa, sizeof(opened));

            if (twofa_open(keys, 2, aad, sizeof(aad) - 1, copy, n, opened,
                           sizeof(opened)) != -1)
            {
                diag("flip of bit %zu of byte %zu opened", bit, i);
                bad++;
            }

            if (contains(opened, sizeof(opened), secret, 4)) {
                leaked++;
            }
        }
    }

    is_int(bad, 0, "each of the %d x 8 single-bit flips: -1", n);
    is_int(leaked, 0, "no plaintext left in out after a failed open");

    /* The tag checked last: a flipped tag bit still wipes the output. */

    memcpy(copy, sealed, n);
    copy[n - 1] ^= 1;
    memset(opened, 0xaa, sizeof(opened));
    twofa_open(keys, 2, aad, sizeof(aad) - 1, copy, n, opened,
               sizeof(opened));
    ok(all_zero(opened, 20), "bad tag: the decrypted bytes are wiped");

    memcpy(copy, sealed, n);
    copy[0] = 2;
    is_int(twofa_open(keys, 2, aad, sizeof(aad) - 1, copy, n, opened,
                      sizeof(opened)), -1, "version 2: -1");
    copy[0] = 0;
    is_int(twofa_open(keys, 2, aad, sizeof(aad) - 1, copy, n, opened,
                      sizeof(opened)), -1, "version 0: -1");

    memcpy(copy, sealed, n);
    memset(copy + 1, 0, TWOFA_KID_SIZE);
    is_int(twofa_open(keys, 2, aad, sizeof(aad) - 1, copy, n, opened,
                      sizeof(opened)), -1, "unknown key id: -1");

    bad = 0;

    for (len = 0; len < (size_t) n; len++) {
        if (twofa_open(keys, 2, aad, sizeof(aad) - 1, sealed, len, opened,
                       sizeof(opened)) != -1)
        {
            diag("truncated to %zu opened", len);
            bad++;
        }
    }

    is_int(bad, 0, "truncation at every length: -1");

    memcpy(copy, sealed, n);
    copy[n] = 0;
    is_int(twofa_open(keys, 2, aad, sizeof(aad) - 1, copy, n + 1, opened,
                      sizeof(opened)), -1, "one byte appended: -1");

    /* Empty plaintext, and sealed values being swapped. */

    n = twofa_seal(&keys[0], aad, sizeof(aad) - 1, NULL, 0, sealed,
                   sizeof(sealed));
    is_int(n, TWOFA_SEAL_OVERHEAD, "seal of nothing: overhead only");
    is_int(twofa_open(keys, 2, aad, sizeof(aad) - 1, sealed, n, NULL, 0), 0,
           "open of nothing");
    sealed[n - 1] ^= 1;
    is_int(twofa_open(keys, 2, aad, sizeof(aad) - 1, sealed, n, NULL, 0), -1,
           "tampered empty seal: -1");

    /* 100 KiB */

    len = 100 * 1024;
    big = malloc(len);
    sealed_big = malloc(len + TWOFA_SEAL_OVERHEAD);
    opened_big = malloc(len);

    if (big == NULL || sealed_big == NULL || opened_big == NULL) {
        ok(0, "out of memory");
        return;
    }

    for (i = 0; i < len; i++) {
        big[i] = (uint8_t) (i * 7 + i / 251);
    }

    n = twofa_seal(&keys[1], aad, sizeof(aad) - 1, big, len, sealed_big,
                   len + TWOFA_SEAL_OVERHEAD);
    is_int(n, len + TWOFA_SEAL_OVERHEAD, "seal 100 KiB");
    is_int(twofa_open(keys, 2, aad, sizeof(aad) - 1, sealed_big, n,
                      opened_big, len), (int) len, "open 100 KiB");
    ok(memcmp(big, opened_big, len) == 0, "100 KiB round trip");

    sealed_big[n / 2] ^= 0x40;
    is_int(twofa_open(keys, 2, aad, sizeof(aad) - 1, sealed_big, n,
                      opened_big, len), -1, "100 KiB with a flipped bit: -1");
    ok(all_zero(opened_big, len), "100 KiB: output wiped");

    free(big);
    free(sealed_big);
    free(opened_big);

    twofa_key_free(&keys[0]);
    twofa_key_free(&keys[1]);
    twofa_key_free(&other);
}


static void
test_random(void)
{
    uint8_t  a[32], b[32];

    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    is_int(twofa_random(a, sizeof(a)), 0, "random: 32 bytes");
    is_int(twofa_random(b, sizeof(b)), 0, "random: 32 more");
    ok(memcmp(a, b, sizeof(a)) != 0 && !all_zero(a, sizeof(a)),
       "random: not constant");
    is_int(twofa_random(a, 0), 0, "random: 0 bytes");
}


int
main(void)
{
    test_key_init();
    test_hkdf();
    test_hmac();
    test_hmac_random();
    test_ct_equal();
    test_seal();
    test_random();

    return done();
}
