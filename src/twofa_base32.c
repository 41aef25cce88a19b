/*
 * RFC 4648 base32.  The decoder accepts what people type when they copy a
 * key by hand (lower case, spaces, no padding) and nothing else.
 */

#include <limits.h>

#include "twofa_base32.h"
#include "twofa_util.h"


static const char  twofa_base32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";


static int
twofa_base32_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a';
    }

    if (c >= '2' && c <= '7') {
        return c - '2' + 26;
    }

    return -1;
}


/*
 * The digits of the decoder's second pass: by then every character is
 * valid, and spaces and padding are passed over.
 */

static int
twofa_base32_digit(int unused, unsigned char c)
{
    (void) unused;

    if (c == ' ' || c == '=') {
        return TWOFA_UTIL_SKIP;
    }

    return twofa_base32_value(c);
}


int
twofa_base32_encode(const uint8_t *in, size_t len, char *out,
    size_t out_size)
{
    size_t    i, n;
    uint32_t  bits;
    unsigned  nbits;

    if (len > INT_MAX / 2) {
        return -1;
    }

    n = twofa_base32_encoded_len(len);

    if (out_size < n + 1) {
        return -1;
    }

    bits = 0;
    nbits = 0;
    n = 0;

    for (i = 0; i < len; i++) {
        bits = (bits << 8) | in[i];
        nbits += 8;

        while (nbits >= 5) {
            nbits -= 5;
            out[n++] = twofa_base32_alphabet[(bits >> nbits) & 0x1f];
        }
    }

    if (nbits > 0) {
        out[n++] = twofa_base32_alphabet[(bits << (5 - nbits)) & 0x1f];
    }

    out[n] = '\0';

    return (int) n;
}


int
twofa_base32_decode(const char *in, size_t len, uint8_t *out,
    size_t out_size)
{
    size_t  i, chars, pads, n;

    /* First pass: count and validate, so nothing is written on error. */

    chars = 0;
    pads = 0;

    for (i = 0; i < len; i++) {
        unsigned char  c = (unsigned char) in[i];

        if (c == ' ') {
            continue;
        }

        if (c == '=') {
            pads++;
            continue;
        }

        if (pads > 0 || twofa_base32_value(c) < 0) {
            return -1;
        }

        chars++;
    }

    /* An encoder leaves 0, 2, 4, 5 or 7 characters in the last group. */

    switch (chars % 8) {
    case 0: case 2: case 4: case 5: case 7:
        break;
    default:
        return -1;
    }

    if (pads != 0 && (chars % 8 == 0 || (chars + pads) % 8 != 0)) {
        return -1;
    }

    if (pads >= 8) {
        return -1;
    }

    n = chars * 5 / 8;

    if (n > out_size || n > INT_MAX) {
        return -1;
    }

    return twofa_util_unpack(in, len, 5, twofa_base32_digit, 0, out);
}


int
twofa_base32_group(const char *in, size_t len, size_t group, char *out,
    size_t out_size)
{
    size_t  i, n, need;

    if (group == 0) {
        return -1;
    }

    need = (len == 0) ? 0 : len + (len - 1) / group;

    if (len > INT_MAX / 2 || need >= out_size) {
        return -1;
    }

    n = 0;

    for (i = 0; i < len; i++) {
        if (i > 0 && i % group == 0) {
            out[n++] = ' ';
        }

        out[n++] = in[i];
    }

    out[n] = '\0';

    return (int) n;
}
