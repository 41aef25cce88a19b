/*
 * Keys, sealing and MACs: AES-256-GCM seal/open under a key id,
 * HMAC-SHA256 with per-purpose subkeys derived by HKDF from a master key,
 * constant-time comparison, CSPRNG bytes.  Pure C99 + OpenSSL EVP.
 */

#ifndef TWOFA_SEAL_H
#define TWOFA_SEAL_H

#include <stddef.h>
#include <stdint.h>


#define TWOFA_MASTER_KEY_MIN   32
#define TWOFA_KID_SIZE         6      /* raw key id bytes */
#define TWOFA_KID_LEN          8      /* its base64url form */
#define TWOFA_MAC_SIZE         32
#define TWOFA_SEAL_NONCE_SIZE  12
#define TWOFA_SEAL_TAG_SIZE    16
#define TWOFA_SEAL_VERSION     1

/* sealed = version(1) | key id(6) | nonce(12) | ciphertext | tag(16) */
#define TWOFA_SEAL_OVERHEAD                                                  \
    (1 + TWOFA_KID_SIZE + TWOFA_SEAL_NONCE_SIZE + TWOFA_SEAL_TAG_SIZE)

#define TWOFA_SEAL_MAX         (64 * 1024 * 1024)


/*
 * A keyed HMAC-SHA256 whose key schedule is computed once.  It keeps a
 * scratch context, so one key serves one thread at a time.
 */
typedef struct twofa_mac_s  twofa_mac_t;

/* Everything derived from one master key; the first of a set is active. */
typedef struct {
    uint8_t       id[TWOFA_KID_SIZE];
    char          kid[TWOFA_KID_LEN + 1];
    uint8_t       seal_key[32];
    twofa_mac_t  *cookie_mac;     /* session cookies */
    twofa_mac_t  *csrf_mac;       /* CSRF tokens */
    twofa_mac_t  *recovery_mac;   /* hashes of recovery codes */
} twofa_key_t;


/*
 * Derives the key id and the subkeys (HKDF-SHA256, one `info` per
 * purpose) from master (>= TWOFA_MASTER_KEY_MIN bytes).  0 or -1.
 */
int twofa_key_init(twofa_key_t *key, const uint8_t *master, size_t len);

/* Frees and wipes what twofa_key_init made; safe on a zeroed key. */
void twofa_key_free(twofa_key_t *key);

/* The key of the set whose id is kid (base64url form), or NULL. */
const twofa_key_t *twofa_key_find(const twofa_key_t *keys, size_t n,
    const char *kid, size_t kid_len);

int twofa_hkdf_sha256(const uint8_t *ikm, size_t ikm_len,
    const uint8_t *salt, size_t salt_len, const char *info,
    uint8_t *out, size_t out_len);

/* One-shot HMAC-SHA256; 0 or -1. */
int twofa_hmac_sha256(const uint8_t *key, size_t key_len,
    const uint8_t *msg, size_t len, uint8_t out[TWOFA_MAC_SIZE]);

twofa_mac_t *twofa_mac_new(const uint8_t *key, size_t key_len);
void twofa_mac_free(twofa_mac_t *mac);

/* HMAC of the concatenation of n parts, with a precomputed key; 0 or -1. */
int twofa_mac(const twofa_mac_t *mac, const uint8_t *const *parts,
    const size_t *lens, size_t n, uint8_t out[TWOFA_MAC_SIZE]);

/* 1 when equal; time depends on len only. */
int twofa_ct_equal(const void *a, const void *b, size_t len);

/* CSPRNG bytes (RAND_bytes); 0 or -1. */
int twofa_random(void *buf, size_t len);

/*
 * AES-256-GCM under key with a fresh random nonce; aad binds the sealed
 * value to its place (purpose, owner).  Returns the length written
 * (pt_len + TWOFA_SEAL_OVERHEAD) or -1.
 */
int twofa_seal(const twofa_key_t *key, const uint8_t *aad, size_t aad_len,
    const uint8_t *pt, size_t pt_len, uint8_t *out, size_t out_size);

/*
 * Opens with the key of the set named in the sealed value.  Tampering,
 * an unknown key, another aad, truncation: -1.  Returns the plaintext
 * length.
 */
int twofa_open(const twofa_key_t *keys, size_t n, const uint8_t *aad,
    size_t aad_len, const uint8_t *in, size_t in_len, uint8_t *out,
    size_t out_size);

/*
 * Frees the algorithms fetched once per process.  Only when the process is
 * done with the core: at exit, before the library that holds them is
 * unloaded (a later call would fail, never crash).
 */
void twofa_seal_cleanup(void);

#endif /* TWOFA_SEAL_H */
