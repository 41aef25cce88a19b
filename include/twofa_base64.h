/*
 * Base64 (RFC 4648 section 4, padded) and base64url (section 5, unpadded),
 * strict decoders.
 */

#ifndef TWOFA_BASE64_H
#define TWOFA_BASE64_H

#include <stddef.h>
#include <stdint.h>


#define twofa_base64_encoded_len(n)     ((((n) + 2) / 3) * 4)
#define twofa_base64url_encoded_len(n)  (((n) * 4 + 2) / 3)
#define twofa_base64_decoded_max(n)     (((n) / 4 + 1) * 3)

/* Both write a NUL; return the characters written or -1 if out is small. */
int twofa_base64_encode(const uint8_t *in, size_t len, char *out,
    size_t out_size);
int twofa_base64url_encode(const uint8_t *in, size_t len, char *out,
    size_t out_size);

/* Strict: no whitespace, no characters outside the alphabet, canonical
 * trailing bits.  Return the bytes written or -1. */
int twofa_base64_decode(const char *in, size_t len, uint8_t *out,
    size_t out_size);
int twofa_base64url_decode(const char *in, size_t len, uint8_t *out,
    size_t out_size);

#endif /* TWOFA_BASE64_H */
