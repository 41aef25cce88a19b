/*
 * The Redis keys of a deployment (see include/twofa_keys.h).  Pure C99.
 */

#include <string.h>

#include "twofa_keys.h"


static const char  *twofa_key_kinds[] = {
    "deployment",
    "revocations",
    "audit",
    "org:",
    "user:",
    "fail:",
    "hold:",
    "holds:",
    "pending:"
};


size_t
twofa_key_len(twofa_key_kind_t kind, size_t prefix_len, size_t a_len,
    size_t b_len)
{
    return prefix_len + strlen(twofa_key_kinds[kind]) + a_len
           + (b_len ? 1 + b_len : 0);
}


size_t
twofa_key(char *out, twofa_key_kind_t kind, const char *prefix,
    size_t prefix_len, const char *a, size_t a_len, const char *b,
    size_t b_len)
{
    char    *p;
    size_t   n;

    p = out;

    memcpy(p, prefix, prefix_len);
    p += prefix_len;

    n = strlen(twofa_key_kinds[kind]);
    memcpy(p, twofa_key_kinds[kind], n);
    p += n;

    if (a) {
        memcpy(p, a, a_len);
        p += a_len;
    }

    if (b) {
        *p++ = ':';
        memcpy(p, b, b_len);
        p += b_len;
    }

    return (size_t) (p - out);
}
