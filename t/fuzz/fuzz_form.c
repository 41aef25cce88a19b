/*
 * Login bodies from anything.  The input is the Content-Type, a newline,
 * the field name, a newline, and the body (without newlines: the type
 * only, field "username", empty body).  The answer must not depend on
 * the room given but for TOO_LARGE, a value never exceeds the body, a
 * multipart value is a piece of the body, a JSON value is NUL-free
 * UTF-8, and an urlencoded value, encoded again, is found again.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unistr.h>

#include "twofa_form.h"


#define FUZZ_SMALL  8


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static const char *
fuzz_line(const char **p, const char *end, size_t *len)
{
    const char  *start, *nl;

    start = *p;
    nl = memchr(start, '\n', end - start);

    if (nl == NULL) {
        return NULL;
    }

    *len = nl - start;
    *p = nl + 1;

    return start;
}


static int
fuzz_prefix_is(const char *s, size_t len, const char *lit)
{
    size_t  i, n;

    n = strlen(lit);

    if (len < n) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if ((s[i] | 0x20) != lit[i]) {
            return 0;
        }
    }

    return 1;
}


static int
fuzz_contains(const char *s, size_t len, const char *piece, size_t n)
{
    size_t  i;

    if (n == 0) {
        return 1;
    }

    for (i = 0; i + n <= len; i++) {
        if (memcmp(s + i, piece, n) == 0) {
            return 1;
        }
    }

    return 0;
}


/* name=value with every byte %XX: must give the value back. */

static void
fuzz_reencode(const char *ct, size_t ct_len, const char *name,
    size_t name_len, const char *value, size_t value_len)
{
    char                *body, *out;
    size_t               i, n, len;
    twofa_form_status_t  st;

    static const char  hex[] = "0123456789ABCDEF";

    body = malloc(3 * (name_len + value_len) + 1);
    out = malloc(value_len + 1);

    if (body == NULL || out == NULL) {
        free(body);
        free(out);
        return;
    }

    n = 0;

    for (i = 0; i < name_len; i++) {
        body[n++] = '%';
        body[n++] = hex[(uint8_t) name[i] >> 4];
        body[n++] = hex[(uint8_t) name[i] & 0x0f];
    }

    body[n++] = '=';

    for (i = 0; i < value_len; i++) {
        body[n++] = '%';
        body[n++] = hex[(uint8_t) value[i] >> 4];
        body[n++] = hex[(uint8_t) value[i] & 0x0f];
    }

    st = twofa_form_field(ct, ct_len, body, n, name, name_len, out,
                          value_len, &len);

    if (st != TWOFA_FORM_FOUND || len != value_len
        || memcmp(out, value, len) != 0)
    {
        abort();
    }

    free(body);
    free(out);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                 *big, small[FUZZ_SMALL];
    size_t                ct_len, name_len, body_len, big_len, small_len;
    const char           *p, *end, *ct, *name, *body;
    twofa_form_status_t   st, st_small;

    p = (const char *) data;
    end = p + size;

    ct = fuzz_line(&p, end, &ct_len);

    if (ct == NULL) {
        ct = p;
        ct_len = size;
        name = "username";
        name_len = 8;
        body = "";
        body_len = 0;

    } else {
        name = fuzz_line(&p, end, &name_len);

        if (name == NULL) {
            name = "username";
            name_len = 8;
        }

        body = p;
        body_len = end - p;
    }

    /* Room for any value: it never exceeds the body. */

    big = malloc(body_len + 1);
    if (big == NULL) {
        return 0;
    }

    st = twofa_form_field(ct, ct_len, body, body_len, name, name_len, big,
                          body_len, &big_len);

    if ((unsigned) st > TWOFA_FORM_NO_MEMORY || twofa_form_reason(st) == NULL
        || st == TWOFA_FORM_TOO_LARGE
        || (st != TWOFA_FORM_FOUND && big_len != 0))
    {
        abort();
    }

    st_small = twofa_form_field(ct, ct_len, body, body_len, name, name_len,
                                small, sizeof(small), &small_len);

    if (st == TWOFA_FORM_FOUND && big_len > sizeof(small)) {
        if (st_small != TWOFA_FORM_TOO_LARGE || small_len != 0) {
            abort();
        }

    } else if (st_small != st || small_len != big_len
               || memcmp(small, big, small_len) != 0)
    {
        abort();
    }

    if (st == TWOFA_FORM_FOUND) {
        if (big_len > body_len) {
            abort();
        }

        if (fuzz_prefix_is(ct, ct_len, "multipart/")
            && !fuzz_contains(body, body_len, big, big_len))
        {
            abort();
        }

        if (fuzz_prefix_is(ct, ct_len, "application/json")
            && (memchr(big, '\0', big_len) != NULL
                || u8_check((const uint8_t *) big, big_len) != NULL))
        {
            abort();
        }

        if (fuzz_prefix_is(ct, ct_len, "application/x-www-form-urlencoded"))
        {
            fuzz_reencode(ct, ct_len, name, name_len, big, big_len);
        }
    }

    free(big);

    return 0;
}
