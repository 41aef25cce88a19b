/*
 * Identities (org and user names) are UTF-8.  This checks them, brings
 * the spellings an app takes for one account to one canonical form, and
 * encodes them where a byte would break the surrounding format.  Pure
 * C99 + libunistring.
 *
 * The rule behind the canonical form: the module may merge identities
 * the app keeps apart (at worst a user meets someone else's second factor
 * and is refused), never split identities the app merges (a password
 * thief would enroll an authenticator of their own under a variant
 * spelling).
 */

#ifndef TWOFA_IDENT_H
#define TWOFA_IDENT_H

#include <stddef.h>


#define TWOFA_IDENT_MAX  256    /* bytes, after canonicalisation */

typedef enum {
    TWOFA_IDENT_OK = 0,
    TWOFA_IDENT_EMPTY,
    TWOFA_IDENT_TOO_LONG,
    TWOFA_IDENT_BAD_UTF8,
    TWOFA_IDENT_CONTROL,
    TWOFA_IDENT_NO_MEMORY
} twofa_ident_status_t;


/* A short English reason for a log line, e.g. "invalid UTF-8". */
const char *twofa_ident_reason(twofa_ident_status_t st);

/*
 * TWOFA_IDENT_OK when s is 1..TWOFA_IDENT_MAX bytes of well-formed UTF-8
 * (no overlong forms, no surrogates, nothing above U+10FFFF) without C0
 * or C1 control characters or DEL.  NUL is a C0 control.
 */
twofa_ident_status_t twofa_ident_check(const char *s, size_t len);

/*
 * The canonical form of in: leading and trailing Unicode White_Space
 * removed, invisible Default_Ignorable_Code_Points (zero-width space,
 * soft hyphen...) removed, NFKC, with lower != 0 also full case folding
 * (NFKC_Casefold style, so "ALICE", " alice " and "alice" in fullwidth
 * letters are all "alice", and "Stra\u00dfe" is "strasse"), white space
 * at the ends removed once more (NFKC turns some marks into a space and
 * the mark), then checked as twofa_ident_check() does (invalid UTF-8
 * anywhere in in: TWOFA_IDENT_BAD_UTF8).
 *
 * On TWOFA_IDENT_OK, out holds *out_len bytes and a NUL; out_size of
 * TWOFA_IDENT_MAX + 1 is always enough (less: TWOFA_IDENT_TOO_LONG when
 * the result does not fit).  The same function applied to its own result
 * gives that result back.
 */
twofa_ident_status_t twofa_ident_canonical(const char *in, size_t len,
    int lower, char *out, size_t out_size, size_t *out_len);

/*
 * An identity as part of a Redis key ("user:" org ":" user): '|' (the
 * escape character), ':' (the separator), the ASCII space, and what
 * Redis glob patterns take as special ('*', '?', '[', ']', '\\') become
 * '|' and two upper case hex digits; every other byte is kept.
 * Injective, and the result holds no ':' and no glob character, so no
 * identity can forge another's key or widen an admin's SCAN pattern.
 * The identities valid before identities were UTF-8 (visible ASCII
 * without : | / \\ " * ? [ ]) are their own escape: their keys did not
 * change.  The escape writes exactly twofa_ident_key_escaped_len()
 * bytes, no NUL, and returns that count (at most 3 * len).
 */
size_t twofa_ident_key_escaped_len(const char *s, size_t len);
size_t twofa_ident_key_escape(const char *s, size_t len, char *out);

/*
 * For an error-log line, inside double quotes: '"', '\\', bytes that are
 * not part of well-formed UTF-8, C0 and C1 controls and DEL become \xHH
 * (upper case hex, as nginx's access log escapes); printable ASCII and
 * other UTF-8 are kept.  Works on any bytes, so a refused identity can
 * be logged too.  Writes exactly twofa_ident_log_escaped_len() bytes, no
 * NUL, and returns that count.
 */
size_t twofa_ident_log_escaped_len(const char *s, size_t len);
size_t twofa_ident_log_escape(const char *s, size_t len, char *out);

#endif /* TWOFA_IDENT_H */
