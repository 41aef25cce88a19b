/*
 * The Redis keys of a deployment (see include/twofa_keys.h).  Pure C99.
 */

#include <string.h>

#include "twofa_ident.h"
#include "twofa_keys.h"
#include "twofa_slot.h"


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


int
twofa_key_has_ident(twofa_key_kind_t kind)
{
    return kind == TWOFA_KEY_ORG || kind == TWOFA_KEY_USER
           || kind == TWOFA_KEY_FAIL || kind == TWOFA_KEY_HOLDS;
}


/* One part of a key: an identity escaped, anything else as it is. */

static size_t
twofa_key_part_len(twofa_key_kind_t kind, const char *s, size_t len)
{
    if (s == NULL) {
        return 0;
    }

    return twofa_key_has_ident(kind) ? twofa_ident_key_escaped_len(s, len)
                                     : len;
}


static char *
twofa_key_part(char *p, twofa_key_kind_t kind, const char *s, size_t len)
{
    if (twofa_key_has_ident(kind)) {
        return p + twofa_ident_key_escape(s, len, p);
    }

    memcpy(p, s, len);

    return p + len;
}


size_t
twofa_key_len(twofa_key_kind_t kind, size_t prefix_len, const char *a,
    size_t a_len, const char *b, size_t b_len)
{
    return prefix_len + strlen(twofa_key_kinds[kind])
           + twofa_key_part_len(kind, a, a_len)
           + (b ? 1 + twofa_key_part_len(kind, b, b_len) : 0);
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
        p = twofa_key_part(p, kind, a, a_len);
    }

    if (b) {
        *p++ = ':';
        p = twofa_key_part(p, kind, b, b_len);
    }

    return (size_t) (p - out);
}


size_t
twofa_key_cluster_prefix(char *out, const char *prefix, size_t prefix_len,
    unsigned slot)
{
    char        *p;
    size_t       n;
    const char  *tag;

    tag = twofa_slot_tag(slot);
    if (tag == NULL) {
        return 0;
    }

    p = out;
    memcpy(p, prefix, prefix_len);
    p += prefix_len;
    *p++ = '{';
    n = strlen(tag);
    memcpy(p, tag, n);
    p += n;
    *p++ = '}';

    return (size_t) (p - out);
}
