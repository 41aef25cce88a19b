/*
 * RFC 4648 base32 (upper-case alphabet A-Z 2-7).
 */

#ifndef TWOFA_BASE32_H
#define TWOFA_BASE32_H

#include <stddef.h>
#include <stdint.h>


/* Characters needed to encode n bytes, without padding, without NUL. */
#define twofa_base32_encoded_len(n)   (((n) * 8 + 4) / 5)

/* Upper bound of the bytes a decode of n characters can produce. */
#define twofa_base32_decoded_max(n)   (((n) * 5) / 8)

/*
 * Encodes without '=' padding (what authenticator apps expect) and writes
 * a NUL.  Returns the characters written, or -1 when out is too small.
 */
int twofa_base32_encode(const uint8_t *in, size_t len, char *out,
    size_t out_size);

/*
 * Decodes; tolerates lower case, spaces (ignored anywhere) and missing or
 * present '=' padding at the end.  Anything else is an error: characters
 * outside the alphabet, padding in the middle, a length no encoder can
 * produce, non-zero trailing bits.  Returns the bytes written or -1.
 */
int twofa_base32_decode(const char *in, size_t len, uint8_t *out,
    size_t out_size);

/*
 * Formats an encoded key for people: groups of `group` characters
 * separated by one space, NUL terminated.  Returns the length or -1.
 */
int twofa_base32_group(const char *in, size_t len, size_t group, char *out,
    size_t out_size);

#endif /* TWOFA_BASE32_H */
