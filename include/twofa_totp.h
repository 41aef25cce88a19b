/*
 * HOTP (RFC 4226) and TOTP (RFC 6238), and the otpauth key URI.
 * Pure C99 + OpenSSL; knows nothing of nginx.
 */

#ifndef TWOFA_TOTP_H
#define TWOFA_TOTP_H

#include <stddef.h>
#include <stdint.h>


typedef enum {
    TWOFA_SHA1 = 0,
    TWOFA_SHA256,
    TWOFA_SHA512
} twofa_hash_t;

#define TWOFA_DIGITS_MIN   6
#define TWOFA_DIGITS_MAX   8
#define TWOFA_SKEW_MAX     10

/* HOTP value of counter; 0 on success, -1 on bad arguments. */
int twofa_hotp(twofa_hash_t alg, const uint8_t *key, size_t key_len,
    uint64_t counter, unsigned digits, uint32_t *code);

/* TOTP value at unix time now with the given period (seconds, >= 1). */
int twofa_totp(twofa_hash_t alg, const uint8_t *key, size_t key_len,
    uint64_t now, unsigned period, unsigned digits, uint32_t *code);

/*
 * Checks code (exactly `digits` ASCII digits) against every step in
 * [now/period - skew, now/period + skew].  All steps are computed and
 * compared in constant time, whatever matches.  Returns 1 and stores the
 * matching step in *step on a match, 0 on no match, -1 on bad arguments
 * (including a code of the wrong length or with non-digits).
 */
int twofa_totp_verify(twofa_hash_t alg, const uint8_t *key, size_t key_len,
    uint64_t now, unsigned period, unsigned digits, unsigned skew,
    const char *code, size_t code_len, uint64_t *step);

/* Writes code zero-padded to `digits` characters plus a NUL into out. */
int twofa_code_format(uint32_t code, unsigned digits, char *out,
    size_t out_size);

/*
 * otpauth://totp/ISSUER:ACCOUNT?secret=B32&issuer=ISSUER&algorithm=SHA1
 * &digits=6&period=30 with issuer and account percent-encoded (RFC 3986
 * unreserved characters kept).  Returns the length written (without the
 * NUL), or -1 when out is too small or an argument is invalid.
 */
int twofa_otpauth_uri(const char *issuer, size_t issuer_len,
    const char *account, size_t account_len, const char *secret_b32,
    size_t secret_len, twofa_hash_t alg, unsigned digits, unsigned period,
    char *out, size_t out_size);

/*
 * Frees the digests fetched once per process.  Only when the process is
 * done with TOTP: at exit, before the library that holds them is unloaded.
 */
void twofa_totp_cleanup(void);

#endif /* TWOFA_TOTP_H */
