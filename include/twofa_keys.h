/*
 * The Redis keys of a deployment, built in one place for the module and
 * the admin CLI:
 *
 *   {prefix}deployment              {prefix}revocations
 *   {prefix}audit
 *   {prefix}org:{org}               {prefix}hold:{token}
 *   {prefix}user:{org}:{user}       {prefix}holds:{org}:{user}
 *   {prefix}fail:{org}:{user}       {prefix}pending:{binding}
 *
 * {org} and {user} are identities escaped by twofa_ident_key_escape()
 * (e.g. user "CORP\\jdoe" of org "acme": {prefix}user:acme:CORP|5Cjdoe),
 * here, so the module, the CLI and the tests cannot disagree; the Lua
 * scripts that build such keys themselves apply the same escape.
 * Pure C99.
 */

#ifndef TWOFA_KEYS_H
#define TWOFA_KEYS_H

#include <stddef.h>


typedef enum {
    TWOFA_KEY_DEPLOYMENT = 0,
    TWOFA_KEY_REVOCATIONS,
    TWOFA_KEY_AUDIT,
    TWOFA_KEY_ORG,
    TWOFA_KEY_USER,
    TWOFA_KEY_FAIL,
    TWOFA_KEY_HOLD,
    TWOFA_KEY_HOLDS,
    TWOFA_KEY_PENDING
} twofa_key_kind_t;


/* 1 when the kind's parts are identities (org:, user:, fail:, holds:). */
int twofa_key_has_ident(twofa_key_kind_t kind);

/*
 * The key's length for these parts (NULL where the kind needs none), with
 * the identities escaped: at most prefix_len + 16 + 3 * (a_len + b_len).
 */
size_t twofa_key_len(twofa_key_kind_t kind, size_t prefix_len,
    const char *a, size_t a_len, const char *b, size_t b_len);

/*
 * Writes the key into out (twofa_key_len() bytes, no NUL) and returns its
 * length.  a and b as the kind needs them: org / org, user / token /
 * binding; NULL where it needs none.  A kind with nothing after it
 * (hold:, holds:) and a NULL part gives the bare prefix of those keys.
 */
size_t twofa_key(char *out, twofa_key_kind_t kind, const char *prefix,
    size_t prefix_len, const char *a, size_t a_len, const char *b,
    size_t b_len);

/*
 * Redis Cluster: the prefix of every key of one slot, "{prefix}{TAG}"
 * with the slot's tag (twofa_slot_tag()), so that the keys of one org
 * (and its holds, its deployment mark, its audit stream) share a slot.
 * out holds at least prefix_len + TWOFA_KEY_CLUSTER_EXTRA bytes; returns
 * the length, or 0 if the tags could not be made.
 */
#define TWOFA_KEY_CLUSTER_EXTRA  8

size_t twofa_key_cluster_prefix(char *out, const char *prefix,
    size_t prefix_len, unsigned slot);

#endif /* TWOFA_KEYS_H */
