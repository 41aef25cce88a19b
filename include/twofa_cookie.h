/*
 * The module's session cookie, CSRF tokens, identity values and recovery
 * codes: the small MAC'd tokens of the web layer.  Pure C99 + OpenSSL.
 *
 * Cookie: v1.{kid}.{payload}.{mac}
 *   payload = base64url("{iat}|{exp}|{amr}|{org}|{user}"), where in org
 *             and user '\\' is "\5C" and '|' is "\7C" (identities valid
 *             before they were UTF-8 held neither: their cookies are
 *             unchanged)
 *   mac     = base64url(HMAC-SHA256(cookie subkey, "v1.{kid}.{payload}"))
 */

#ifndef TWOFA_COOKIE_H
#define TWOFA_COOKIE_H

#include <stddef.h>
#include <stdint.h>

#include "twofa_seal.h"


#define TWOFA_ID_MAX            128
#define TWOFA_COOKIE_MAX        1280  /* identities of '|' at their longest */
#define TWOFA_CSRF_LEN          22    /* base64url of 16 MAC bytes */
#define TWOFA_RECOVERY_COUNT    10
#define TWOFA_RECOVERY_LEN      11    /* "xxxxx-xxxxx" */
#define TWOFA_RECOVERY_NORM_LEN 10
#define TWOFA_RECOVERY_HASH_LEN 32    /* hex of 16 MAC bytes */


typedef enum {
    TWOFA_AMR_PWD = 0,
    TWOFA_AMR_TOTP,
    TWOFA_AMR_RECOVERY
} twofa_amr_t;

typedef struct {
    char         org[TWOFA_ID_MAX + 1];
    size_t       org_len;
    char         user[TWOFA_ID_MAX + 1];
    size_t       user_len;
    int64_t      iat;
    int64_t      exp;
    twofa_amr_t  amr;
} twofa_session_t;

typedef enum {
    TWOFA_COOKIE_OK = 0,
    TWOFA_COOKIE_MALFORMED = -1,
    TWOFA_COOKIE_UNKNOWN_KEY = -2,
    TWOFA_COOKIE_BAD_MAC = -3,
    TWOFA_COOKIE_EXPIRED = -4
} twofa_cookie_status_t;


/*
 * 1 when s is a usable identity value: twofa_ident_check() takes it
 * (well-formed UTF-8, no control characters) and it has at most
 * TWOFA_ID_MAX bytes.  Whatever it holds that would break a Redis key,
 * a cookie, a URL, JSON or a log line is encoded there.
 */
int twofa_ident_valid(const char *s, size_t len);

const char *twofa_amr_name(twofa_amr_t amr);

/* Returns the cookie length (NUL written) or -1. */
int twofa_cookie_encode(const twofa_key_t *key, const twofa_session_t *s,
    char *out, size_t out_size);

/*
 * Checks format, key id, MAC (constant time, before the payload is
 * trusted), identity values and expiry (exp <= now: expired).  Fills *s
 * only when the cookie is good.
 */
twofa_cookie_status_t twofa_cookie_verify(const twofa_key_t *keys,
    size_t n, const char *in, size_t len, int64_t now, twofa_session_t *s);

/*
 * CSRF token bound to a context string (e.g. "hold:" + hold token):
 * base64url of the first 16 bytes of HMAC(csrf subkey, binding), NUL
 * terminated in out (>= TWOFA_CSRF_LEN + 1).  0 or -1.
 */
int twofa_csrf_token(const twofa_key_t *key, const char *binding,
    size_t len, char *out);

/* Checks a token against every key of the set, constant time; 1 if good. */
int twofa_csrf_check(const twofa_key_t *keys, size_t n, const char *binding,
    size_t binding_len, const char *token, size_t token_len);

/* TWOFA_RECOVERY_COUNT codes "xxxxx-xxxxx" of [a-z2-7] (50 bits each). */
int twofa_recovery_generate(char codes[][TWOFA_RECOVERY_LEN + 1], size_t n);

/*
 * Lower-cases and drops '-' and spaces; 0 and 10 characters plus NUL in
 * out when what remains is a well-formed recovery code, else -1.
 */
int twofa_recovery_normalize(const char *in, size_t len,
    char out[TWOFA_RECOVERY_NORM_LEN + 1]);

/*
 * Hex of the first 16 bytes of HMAC(recovery subkey, org:user:code),
 * org and user escaped as in Redis keys (twofa_ident_key_escape(): no
 * ':' left in them, and the identities valid before UTF-8 unchanged).
 */
int twofa_recovery_hash(const twofa_key_t *key, const char *org,
    size_t org_len, const char *user, size_t user_len, const char *code,
    char out[TWOFA_RECOVERY_HASH_LEN + 1]);

#endif /* TWOFA_COOKIE_H */
