/*
 * One field of a login request's body, for $twofa_form_NAME: from
 * application/x-www-form-urlencoded, multipart/form-data, or a top-level
 * string member of a JSON object.  Pure C99 + libunistring + jansson.
 *
 * A password thief who can make the app read one user name and the
 * module another enrolls an authenticator of their own, so every body
 * the app might read differently from this parser gives no value: the
 * field twice, or once more under a name some app takes for it (other
 * case, PHP's "user.name" for "user_name", "username[]"), escapes or
 * encodings parsers disagree on, a charset other than UTF-8.
 */

#ifndef TWOFA_FORM_H
#define TWOFA_FORM_H

#include <stddef.h>


typedef enum {
    TWOFA_FORM_FOUND = 0,
    TWOFA_FORM_ABSENT,
    TWOFA_FORM_DUPLICATE,
    TWOFA_FORM_MALFORMED,
    TWOFA_FORM_TOO_LARGE,
    TWOFA_FORM_UNSUPPORTED,
    TWOFA_FORM_NO_MEMORY
} twofa_form_status_t;


/* A short English reason for a log line. */
const char *twofa_form_reason(twofa_form_status_t st);

/*
 * The field name (name_len bytes, compared byte for byte after the
 * body's own decoding) of body, read as content_type says (the request's
 * Content-Type header value; media type case-insensitive; parameters
 * allowed; a charset parameter must say UTF-8).
 *
 * TWOFA_FORM_FOUND: out holds the value's *out_len raw bytes (no NUL
 * added, maybe not valid UTF-8: canonicalise it).  Otherwise *out_len
 * is 0.  The whole body is parsed whatever the outcome, and the first
 * of these that applies is the answer: MALFORMED (or NO_MEMORY),
 * DUPLICATE, TOO_LARGE (value longer than out_size), FOUND, ABSENT.
 * UNSUPPORTED: a media type other than the three, or a charset other
 * than UTF-8.
 *
 * Besides what does not parse, MALFORMED means: urlencoded: a bad %XX,
 * raw bytes that are not UTF-8, a JSON or multipart body, the field's
 * value running into a ';'; multipart: anything but CRLF before the
 * first or after the last delimiter, a "--boundary" that is not a
 * delimiter, the field as a file, not form-data, with name*, a
 * transfer encoding or a charset other than UTF-8; JSON: not an object,
 * the member not a string, "\u0000".  DUPLICATE in JSON: any key twice,
 * at any depth (jansson's JSON_REJECT_DUPLICATES).
 */
twofa_form_status_t twofa_form_field(const char *content_type,
    size_t ct_len, const char *body, size_t body_len, const char *name,
    size_t name_len, char *out, size_t out_size, size_t *out_len);

#endif /* TWOFA_FORM_H */
