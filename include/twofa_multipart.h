/*
 * multipart/form-data bodies (RFC 7578 over RFC 2046), parsed strictly,
 * and the MIME header values they share with a request's Content-Type
 * (RFC 2045: "type/subtype; name=value").  Internal to the core: the
 * parser of twofa_form.c's login fields.  Pure C99.
 *
 * Strict because a body two parsers split differently gives two apps
 * two different fields: whatever some parser reads another way is
 * refused as malformed rather than guessed at.
 */

#ifndef TWOFA_MULTIPART_H
#define TWOFA_MULTIPART_H

#include <stddef.h>
#include <stdint.h>


#define TWOFA_MULTIPART_BOUNDARY_MAX  70    /* RFC 2046 */


/* A piece of a header value or body; data NULL: not given at all. */

typedef struct {
    const uint8_t  *data;
    size_t          len;
} twofa_multipart_str_t;


/*
 * One part with a Content-Disposition "name" parameter.  All pieces
 * point into the body (filename, type and encoding: data NULL when the
 * part has none); disposition is its type, "form-data" or anything else.
 */

typedef struct {
    twofa_multipart_str_t  disposition;
    twofa_multipart_str_t  name;
    twofa_multipart_str_t  filename;
    twofa_multipart_str_t  type;        /* Content-Type */
    twofa_multipart_str_t  encoding;    /* Content-Transfer-Encoding */
    twofa_multipart_str_t  content;
} twofa_multipart_part_t;

/* 0 to go on with the next part, anything else to stop. */

typedef int (*twofa_multipart_handler_pt)(void *data,
    const twofa_multipart_part_t *part);

typedef enum {
    TWOFA_MULTIPART_OK = 0,
    TWOFA_MULTIPART_MALFORMED,
    TWOFA_MULTIPART_STOPPED         /* by the handler */
} twofa_multipart_status_t;


/* --- MIME header values ------------------------------------------------ */

/* Case-insensitive (ASCII) comparison with a lower-case literal. */
int twofa_multipart_ieq(twofa_multipart_str_t s, const char *lit);

/* "utf-8" or "utf8", in any case. */
int twofa_multipart_utf8_charset(twofa_multipart_str_t value);

/*
 * "type/subtype" at *pos (white space before it skipped) into type, *pos
 * moved past it: 0, or -1 when there is none.
 */
int twofa_multipart_media_type(const uint8_t **pos, const uint8_t *end,
    twofa_multipart_str_t *type);

/*
 * The next "; name=value" at *pos into name and value (a token, or a
 * quoted string given without its quotes; empty parameters between ';'
 * skipped), *pos moved past it: 1, 0 at the end of the value, -1 when
 * malformed.  A backslash in a quoted string is malformed: parsers
 * disagree on what it escapes.
 */
int twofa_multipart_param(const uint8_t **pos, const uint8_t *end,
    twofa_multipart_str_t *name, twofa_multipart_str_t *value);


/* --- multipart/form-data ----------------------------------------------- */

/*
 * A boundary parameter's value: 1 to 70 of RFC 2046's bchars, the last
 * not a space.
 */
int twofa_multipart_boundary_valid(twofa_multipart_str_t boundary);

/*
 * Calls handler, in order, for every part of body that has a
 * Content-Disposition with a "name" parameter (others are skipped).
 * MALFORMED, possibly after some calls, when the boundary is not valid
 * or the body is not strictly RFC 2046 5.1.1 with CRLF line ends: a
 * "--boundary" anywhere but as a delimiter line, no close delimiter, a
 * preamble or epilogue other than CRLF lines; or a part's header lines
 * are not "Name: value" CRLF (no folding, no control characters), a
 * Content-Disposition, Content-Type or Content-Transfer-Encoding is
 * there twice, or the disposition has no type, a parameter that does
 * not parse, name or filename twice, name* or filename*.  STOPPED when
 * the handler returned non-zero.
 */
twofa_multipart_status_t twofa_multipart_parse(twofa_multipart_str_t boundary,
    const uint8_t *body, size_t len, twofa_multipart_handler_pt handler,
    void *data);

/*
 * 1 when the part is a plain text field: disposition form-data, no
 * filename (not even empty), a Content-Type, if any, that parses and
 * names no charset but UTF-8, no transfer encoding but 7bit, 8bit or
 * binary.  Apps read anything else each their own way.
 */
int twofa_multipart_is_field(const twofa_multipart_part_t *part);

#endif /* TWOFA_MULTIPART_H */
