/*
 * multipart/form-data bodies from anything.  The input is the boundary,
 * a newline and the body (without a newline: the boundary only, empty
 * body); the boundary line is also read as a Content-Type value.  Every
 * part given lies in the body, right before a delimiter line, holds no
 * "--boundary", and has a disposition type and a name; a handler that
 * stops at a part is given the same parts up to it and no more; a body
 * that parses has a close delimiter.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "twofa_multipart.h"


#define FUZZ_PARTS_MAX  4096


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


typedef struct {
    const uint8_t          *body;
    size_t                  len;
    twofa_multipart_str_t   delim;      /* "\r\n--boundary" */
    unsigned                calls;
    unsigned                stop_at;    /* 0: never stop */
    int                     replay;     /* compare with parts[] */
    twofa_multipart_part_t  parts[FUZZ_PARTS_MAX];
} fuzz_run_t;


static const uint8_t *
fuzz_find(const uint8_t *s, size_t len, const uint8_t *pat, size_t pat_len)
{
    size_t  i;

    for (i = 0; i + pat_len <= len; i++) {
        if (memcmp(s + i, pat, pat_len) == 0) {
            return s + i;
        }
    }

    return NULL;
}


static int
fuzz_in_body(fuzz_run_t *run, twofa_multipart_str_t s)
{
    if (s.data == NULL) {
        return s.len == 0;
    }

    return s.data >= run->body && s.len <= run->len
           && (size_t) (s.data - run->body) <= run->len - s.len;
}


static int
fuzz_same(twofa_multipart_str_t a, twofa_multipart_str_t b)
{
    return a.data == b.data && a.len == b.len;
}


static int
fuzz_part(void *data, const twofa_multipart_part_t *part)
{
    int                      field;
    const uint8_t           *after;
    fuzz_run_t              *run;
    twofa_multipart_str_t    c;
    twofa_multipart_part_t  *seen;

    run = data;
    c = part->content;

    if (!fuzz_in_body(run, part->disposition)
        || !fuzz_in_body(run, part->name) || !fuzz_in_body(run, c)
        || !fuzz_in_body(run, part->filename)
        || !fuzz_in_body(run, part->type)
        || !fuzz_in_body(run, part->encoding)
        || part->name.data == NULL || part->disposition.len == 0
        || c.data == NULL)
    {
        abort();
    }

    /* The delimiter follows the content, and is nowhere in it. */

    after = c.data + c.len;

    if ((size_t) (run->body + run->len - after) < run->delim.len
        || memcmp(after, run->delim.data, run->delim.len) != 0
        || fuzz_find(c.data, c.len, run->delim.data + 2,
                     run->delim.len - 2) != NULL)
    {
        abort();
    }

    field = twofa_multipart_is_field(part);

    if (field != 0 && field != 1) {
        abort();
    }

    if (field && (part->filename.data != NULL
                  || !twofa_multipart_ieq(part->disposition, "form-data")))
    {
        abort();
    }

    if (run->calls < FUZZ_PARTS_MAX) {
        seen = &run->parts[run->calls];

        if (!run->replay) {
            *seen = *part;

        } else if (!fuzz_same(part->disposition, seen->disposition)
                   || !fuzz_same(part->name, seen->name)
                   || !fuzz_same(part->filename, seen->filename)
                   || !fuzz_same(part->type, seen->type)
                   || !fuzz_same(part->encoding, seen->encoding)
                   || !fuzz_same(c, seen->content))
        {
            abort();
        }
    }

    run->calls++;

    return run->stop_at != 0 && run->calls == run->stop_at;
}


/* The line as a Content-Type: pieces in the line, the position moving. */

static void
fuzz_header_value(const uint8_t *s, size_t len)
{
    int                     rc;
    const uint8_t          *p, *before, *end;
    twofa_multipart_str_t   type, name, value;

    p = s;
    end = s + len;

    if (twofa_multipart_media_type(&p, end, &type) != 0) {
        return;
    }

    if (p < s || p > end || type.data < s || type.data + type.len != p) {
        abort();
    }

    for ( ;; ) {
        before = p;
        rc = twofa_multipart_param(&p, end, &name, &value);

        if (rc != 1) {
            if (rc != 0 && rc != -1) {
                abort();
            }

            return;
        }

        if (p <= before || p > end || name.data < before || name.len == 0
            || value.data < name.data + name.len || value.data + value.len > p)
        {
            abort();
        }

        (void) twofa_multipart_utf8_charset(value);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t                   delim[4 + TWOFA_MULTIPART_BOUNDARY_MAX];
    fuzz_run_t               *run;
    const uint8_t            *nl;
    twofa_multipart_str_t     boundary;
    twofa_multipart_status_t  st, st_stop;

    static const uint8_t  empty[1];

    nl = memchr(data, '\n', size);

    boundary.data = data;
    boundary.len = (nl != NULL) ? (size_t) (nl - data) : size;

    fuzz_header_value(boundary.data, boundary.len);

    run = calloc(1, sizeof(fuzz_run_t));
    if (run == NULL) {
        return 0;
    }

    run->body = (nl != NULL) ? nl + 1 : empty;
    run->len = (nl != NULL) ? size - boundary.len - 1 : 0;

    if (twofa_multipart_boundary_valid(boundary)) {
        memcpy(delim, "\r\n--", 4);
        memcpy(delim + 4, boundary.data, boundary.len);
        run->delim.data = delim;
        run->delim.len = 4 + boundary.len;
    }

    st = twofa_multipart_parse(boundary, run->body, run->len, fuzz_part, run);

    if (st != TWOFA_MULTIPART_OK && st != TWOFA_MULTIPART_MALFORMED) {
        abort();
    }

    if (run->delim.data == NULL) {
        if (st != TWOFA_MULTIPART_MALFORMED || run->calls != 0) {
            abort();
        }

        goto done;
    }

    if (st == TWOFA_MULTIPART_OK
        && fuzz_find(run->body, run->len, delim + 2, run->delim.len - 2)
           == NULL)
    {
        abort();
    }

    if (run->calls == 0 || run->calls > FUZZ_PARTS_MAX) {
        goto done;
    }

    /* Again, stopping halfway: the same parts, then no more. */

    run->stop_at = run->calls / 2 + 1;
    run->calls = 0;
    run->replay = 1;

    st_stop = twofa_multipart_parse(boundary, run->body, run->len, fuzz_part,
                                    run);

    if (st_stop != TWOFA_MULTIPART_STOPPED || run->calls != run->stop_at) {
        abort();
    }

done:

    free(run);

    return 0;
}
