/*
 * multipart/form-data, strictly, and MIME header values.  Where parsers
 * tolerate different things, this one refuses: a part one app reads and
 * another skips, or a field two apps split differently, is malformed.
 */

#include <string.h>

#include "twofa_multipart.h"


/* --- small helpers ----------------------------------------------------- */


static int
twofa_multipart_is_tchar(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9'))
    {
        return 1;
    }

    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}


static uint8_t
twofa_multipart_lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t) (c - 'A' + 'a') : c;
}


static const uint8_t *
twofa_multipart_find(const uint8_t *s, size_t len, const uint8_t *pat,
    size_t pat_len)
{
    const uint8_t  *p, *last;

    if (len < pat_len) {
        return NULL;
    }

    last = s + len - pat_len;

    for (p = s; p <= last; p++) {
        p = memchr(p, pat[0], last - p + 1);

        if (p == NULL) {
            return NULL;
        }

        if (memcmp(p, pat, pat_len) == 0) {
            return p;
        }
    }

    return NULL;
}


static const uint8_t *
twofa_multipart_skip_ows(const uint8_t *p, const uint8_t *end)
{
    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    return p;
}


/* 1 when s is nothing but CRLF pairs (or nothing). */

static int
twofa_multipart_only_crlf(const uint8_t *s, size_t len)
{
    size_t  i;

    if (len % 2 != 0) {
        return 0;
    }

    for (i = 0; i < len; i += 2) {
        if (s[i] != '\r' || s[i + 1] != '\n') {
            return 0;
        }
    }

    return 1;
}


/* --- MIME header values ------------------------------------------------ */


int
twofa_multipart_ieq(twofa_multipart_str_t s, const char *lit)
{
    size_t  i;

    if (s.len != strlen(lit)) {
        return 0;
    }

    for (i = 0; i < s.len; i++) {
        if (twofa_multipart_lower(s.data[i]) != (uint8_t) lit[i]) {
            return 0;
        }
    }

    return 1;
}


int
twofa_multipart_utf8_charset(twofa_multipart_str_t value)
{
    return twofa_multipart_ieq(value, "utf-8")
           || twofa_multipart_ieq(value, "utf8");
}


int
twofa_multipart_media_type(const uint8_t **pos, const uint8_t *end,
    twofa_multipart_str_t *type)
{
    const uint8_t  *p, *start;

    p = twofa_multipart_skip_ows(*pos, end);
    start = p;

    while (p < end && twofa_multipart_is_tchar(*p)) {
        p++;
    }

    if (p == start || p == end || *p != '/') {
        return -1;
    }

    p++;

    if (p == end || !twofa_multipart_is_tchar(*p)) {
        return -1;
    }

    while (p < end && twofa_multipart_is_tchar(*p)) {
        p++;
    }

    type->data = start;
    type->len = p - start;
    *pos = p;

    return 0;
}


int
twofa_multipart_param(const uint8_t **pos, const uint8_t *end,
    twofa_multipart_str_t *name, twofa_multipart_str_t *value)
{
    const uint8_t  *p, *start;

    p = twofa_multipart_skip_ows(*pos, end);

    for ( ;; ) {
        if (p == end) {
            *pos = p;
            return 0;
        }

        if (*p != ';') {
            return -1;
        }

        p = twofa_multipart_skip_ows(p + 1, end);

        if (p < end && *p != ';') {
            break;
        }
    }

    start = p;

    while (p < end && twofa_multipart_is_tchar(*p)) {
        p++;
    }

    if (p == start || p == end || *p != '=') {
        return -1;
    }

    name->data = start;
    name->len = p - start;
    p++;

    if (p < end && *p == '"') {
        start = ++p;

        while (p < end && *p != '"') {
            if (*p == '\\' || (*p < 0x20 && *p != '\t') || *p == 0x7f) {
                return -1;
            }

            p++;
        }

        if (p == end) {
            return -1;
        }

        value->data = start;
        value->len = p - start;
        p++;

    } else {
        start = p;

        while (p < end && twofa_multipart_is_tchar(*p)) {
            p++;
        }

        if (p == start) {
            return -1;
        }

        value->data = start;
        value->len = p - start;
    }

    *pos = p;

    return 1;
}


/* --- parts ------------------------------------------------------------- */


int
twofa_multipart_boundary_valid(twofa_multipart_str_t boundary)
{
    size_t   i;
    uint8_t  c;

    if (boundary.len == 0 || boundary.len > TWOFA_MULTIPART_BOUNDARY_MAX
        || boundary.data[boundary.len - 1] == ' ')
    {
        return 0;
    }

    for (i = 0; i < boundary.len; i++) {
        c = boundary.data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9')
              || (c != '\0' && strchr("'()+_,-./:=? ", c) != NULL)))
        {
            return 0;
        }
    }

    return 1;
}


/*
 * Header lines of a part, strictly: "Name: value" CRLF, no folding, no
 * bare CR or LF, no space before the colon, no control characters.
 * Returns the start of the part's content or NULL when malformed.
 */

static const uint8_t *
twofa_multipart_headers(const uint8_t *p, const uint8_t *end,
    twofa_multipart_str_t *disposition, twofa_multipart_str_t *type,
    twofa_multipart_str_t *encoding)
{
    const uint8_t          *line_end, *colon, *v;
    twofa_multipart_str_t   name, *slot;

    static const uint8_t  crlf[] = "\r\n";

    for ( ;; ) {
        if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
            return p + 2;
        }

        line_end = twofa_multipart_find(p, end - p, crlf, 2);
        if (line_end == NULL) {
            return NULL;
        }

        colon = p;

        while (colon < line_end && twofa_multipart_is_tchar(*colon)) {
            colon++;
        }

        if (colon == p || colon == line_end || *colon != ':') {
            return NULL;
        }

        for (v = colon + 1; v < line_end; v++) {
            if ((*v < 0x20 && *v != '\t') || *v == 0x7f) {
                return NULL;
            }
        }

        name.data = p;
        name.len = colon - p;

        if (twofa_multipart_ieq(name, "content-disposition")) {
            slot = disposition;

        } else if (twofa_multipart_ieq(name, "content-type")) {
            slot = type;

        } else if (twofa_multipart_ieq(name, "content-transfer-encoding")) {
            slot = encoding;

        } else {
            slot = NULL;
        }

        if (slot != NULL) {
            if (slot->data != NULL) {
                return NULL;
            }

            v = twofa_multipart_skip_ows(colon + 1, line_end);
            slot->data = v;
            slot->len = line_end - v;

            while (slot->len > 0 && (slot->data[slot->len - 1] == ' '
                                     || slot->data[slot->len - 1] == '\t'))
            {
                slot->len--;
            }
        }

        p = line_end + 2;
    }
}


/*
 * The disposition's type and its name and filename parameters into
 * part: 0, or -1 when malformed.  RFC 7578 4.2: no extended notation
 * (name*); parsers differ on it.
 */

static int
twofa_multipart_disposition(twofa_multipart_str_t value,
    twofa_multipart_part_t *part)
{
    int                     rc;
    const uint8_t          *d, *end;
    twofa_multipart_str_t   pname, pvalue;

    d = value.data;
    end = value.data + value.len;

    while (d < end && twofa_multipart_is_tchar(*d)) {
        d++;
    }

    part->disposition.data = value.data;
    part->disposition.len = d - value.data;

    if (part->disposition.len == 0) {
        return -1;
    }

    while ((rc = twofa_multipart_param(&d, end, &pname, &pvalue)) == 1) {
        if (twofa_multipart_ieq(pname, "name*")
            || twofa_multipart_ieq(pname, "filename*"))
        {
            return -1;
        }

        if (twofa_multipart_ieq(pname, "name")) {
            if (part->name.data != NULL) {
                return -1;
            }

            part->name = pvalue;

        } else if (twofa_multipart_ieq(pname, "filename")) {
            if (part->filename.data != NULL) {
                return -1;
            }

            part->filename = pvalue;
        }
    }

    return (rc == 0) ? 0 : -1;
}


/* One part between delimiters (their CRLFs excluded), to the handler. */

static twofa_multipart_status_t
twofa_multipart_part(const uint8_t *p, size_t len,
    twofa_multipart_handler_pt handler, void *data)
{
    const uint8_t           *end;
    twofa_multipart_str_t    disposition;
    twofa_multipart_part_t   part;

    if (len == 0) {
        return TWOFA_MULTIPART_OK;
    }

    end = p + len;
    memset(&disposition, 0, sizeof(disposition));
    memset(&part, 0, sizeof(part));

    part.content.data = twofa_multipart_headers(p, end, &disposition,
                                                &part.type, &part.encoding);
    if (part.content.data == NULL) {
        return TWOFA_MULTIPART_MALFORMED;
    }

    part.content.len = end - part.content.data;

    if (disposition.data == NULL) {
        return TWOFA_MULTIPART_OK;
    }

    if (twofa_multipart_disposition(disposition, &part) != 0) {
        return TWOFA_MULTIPART_MALFORMED;
    }

    if (part.name.data == NULL) {
        return TWOFA_MULTIPART_OK;
    }

    return handler(data, &part) == 0 ? TWOFA_MULTIPART_OK
                                     : TWOFA_MULTIPART_STOPPED;
}


/*
 * RFC 2046 5.1.1, strictly: every "--boundary" in the body must be a
 * delimiter, after CRLF, followed by CRLF or, once, by "--".  Parsers
 * that take a bare LF, or transport padding, for a line end would see
 * other parts: such bodies are refused.  So are a preamble and an
 * epilogue other than empty lines: Django reads them as parts too.
 */

twofa_multipart_status_t
twofa_multipart_parse(twofa_multipart_str_t boundary, const uint8_t *body,
    size_t len, twofa_multipart_handler_pt handler, void *data)
{
    size_t                    delim_len;
    uint8_t                   delim[2 + TWOFA_MULTIPART_BOUNDARY_MAX];
    const uint8_t            *p, *q, *part, *next, *end;
    twofa_multipart_status_t  st;

    if (!twofa_multipart_boundary_valid(boundary)) {
        return TWOFA_MULTIPART_MALFORMED;
    }

    delim[0] = '-';
    delim[1] = '-';
    memcpy(delim + 2, boundary.data, boundary.len);
    delim_len = 2 + boundary.len;

    end = body + len;

    p = twofa_multipart_find(body, len, delim, delim_len);

    if (p == NULL || !twofa_multipart_only_crlf(body, p - body)) {
        return TWOFA_MULTIPART_MALFORMED;
    }

    for ( ;; ) {
        q = p + delim_len;

        if (end - q >= 2 && q[0] == '-' && q[1] == '-') {
            return twofa_multipart_only_crlf(q + 2, end - q - 2)
                   ? TWOFA_MULTIPART_OK : TWOFA_MULTIPART_MALFORMED;
        }

        if (end - q < 2 || q[0] != '\r' || q[1] != '\n') {
            return TWOFA_MULTIPART_MALFORMED;
        }

        part = q + 2;
        next = twofa_multipart_find(part, end - part, delim, delim_len);

        /* No next delimiter: a truncated body. */

        if (next == NULL || next - part < 2 || next[-2] != '\r'
            || next[-1] != '\n')
        {
            return TWOFA_MULTIPART_MALFORMED;
        }

        st = twofa_multipart_part(part, next - 2 - part, handler, data);

        if (st != TWOFA_MULTIPART_OK) {
            return st;
        }

        p = next;
    }
}


/* The part's charset, if it has a type, must be UTF-8. */

static int
twofa_multipart_type_utf8(twofa_multipart_str_t type)
{
    int                     rc;
    const uint8_t          *p, *end;
    twofa_multipart_str_t   media, name, value;

    if (type.data == NULL) {
        return 1;
    }

    p = type.data;
    end = p + type.len;

    if (twofa_multipart_media_type(&p, end, &media) != 0) {
        return 0;
    }

    while ((rc = twofa_multipart_param(&p, end, &name, &value)) == 1) {
        if (twofa_multipart_ieq(name, "charset")
            && !twofa_multipart_utf8_charset(value))
        {
            return 0;
        }
    }

    return rc == 0;
}


/*
 * PHP reads a name from any disposition; Django takes a part with
 * filename="" as a field and decodes base64 transfer encoding; other
 * apps honour a part's charset.  None of that is a login form.
 */

int
twofa_multipart_is_field(const twofa_multipart_part_t *part)
{
    if (!twofa_multipart_ieq(part->disposition, "form-data")
        || part->filename.data != NULL
        || !twofa_multipart_type_utf8(part->type))
    {
        return 0;
    }

    return part->encoding.data == NULL
           || twofa_multipart_ieq(part->encoding, "7bit")
           || twofa_multipart_ieq(part->encoding, "8bit")
           || twofa_multipart_ieq(part->encoding, "binary");
}
