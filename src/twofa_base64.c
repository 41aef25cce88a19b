/*
 * Base64 and base64url.  The decoders are strict on purpose: a MAC'd or
 * sealed value must have exactly one spelling, so that nothing about it
 * can be changed without the change being seen.
 */

#include <limits.h>

#include "twofa_base64.h"
#include "twofa_util.h"


static const char  twofa_base64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char  twofa_base64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


static int
twofa_base64_encode_with(const char *alphabet, int pad, const uint8_t *in,
    size_t len, char *out, size_t out_size)
{
    size_t    i, n, need;
    uint32_t  v;

    if (len > INT_MAX / 2) {
        return -1;
    }

    need = pad ? twofa_base64_encoded_len(len)
               : twofa_base64url_encoded_len(len);

    if (out_size < need + 1) {
        return -1;
    }

    n = 0;

    for (i = 0; i + 3 <= len; i += 3) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
        out[n++] = alphabet[(v >> 18) & 0x3f];
        out[n++] = alphabet[(v >> 12) & 0x3f];
        out[n++] = alphabet[(v >> 6) & 0x3f];
        out[n++] = alphabet[v & 0x3f];
    }

    switch (len - i) {

    case 1:
        v = (uint32_t) in[i] << 16;
        out[n++] = alphabet[(v >> 18) & 0x3f];
        out[n++] = alphabet[(v >> 12) & 0x3f];
        if (pad) {
            out[n++] = '=';
            out[n++] = '=';
        }
        break;

    case 2:
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8;
        out[n++] = alphabet[(v >> 18) & 0x3f];
        out[n++] = alphabet[(v >> 12) & 0x3f];
        out[n++] = alphabet[(v >> 6) & 0x3f];
        if (pad) {
            out[n++] = '=';
        }
        break;

    default:
        break;
    }

    out[n] = '\0';

    return (int) n;
}


static int
twofa_base64_value(int url, unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == (url ? '-' : '+')) {
        return 62;
    }

    if (c == (url ? '_' : '/')) {
        return 63;
    }

    return -1;
}


/* Decodes len characters with no padding among them. */

static int
twofa_base64_decode_with(int url, const char *in, size_t len, uint8_t *out,
    size_t out_size)
{
    size_t  need;

    if (len % 4 == 1 || len > INT_MAX) {
        return -1;
    }

    need = len / 4 * 3 + (len % 4 == 0 ? 0 : len % 4 - 1);

    if (need > out_size) {
        return -1;
    }

    return twofa_util_unpack(in, len, 6, twofa_base64_value, url, out);
}


int
twofa_base64_encode(const uint8_t *in, size_t len, char *out,
    size_t out_size)
{
    return twofa_base64_encode_with(twofa_base64_std, 1, in, len, out,
                                    out_size);
}


int
twofa_base64url_encode(const uint8_t *in, size_t len, char *out,
    size_t out_size)
{
    return twofa_base64_encode_with(twofa_base64_url, 0, in, len, out,
                                    out_size);
}


int
twofa_base64_decode(const char *in, size_t len, uint8_t *out,
    size_t out_size)
{
    size_t  pads;

    if (len % 4 != 0) {
        return -1;
    }

    pads = 0;

    if (len > 0 && in[len - 1] == '=') {
        pads++;

        if (in[len - 2] == '=') {
            pads++;
        }
    }

    /* Any other '=' is outside the alphabet and fails below. */

    return twofa_base64_decode_with(0, in, len - pads, out, out_size);
}


int
twofa_base64url_decode(const char *in, size_t len, uint8_t *out,
    size_t out_size)
{
    return twofa_base64_decode_with(1, in, len, out, out_size);
}
