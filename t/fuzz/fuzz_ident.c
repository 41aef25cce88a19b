/*
 * Identities from anything: the check and the canonical form agree, the
 * canonical form is its own canonical form, and both escapes are exactly
 * as long as announced, leave nothing that breaks their format, and
 * decode back to the input (so they are injective).
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unistr.h>

#include "twofa_ident.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static int
fuzz_hex(uint8_t c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


/* Two upper-case hex digits as a byte; aborts on anything else. */

static uint8_t
fuzz_hex_pair(const char *p)
{
    int  hi, lo;

    hi = fuzz_hex((uint8_t) p[0]);
    lo = fuzz_hex((uint8_t) p[1]);

    if (hi < 0 || lo < 0) {
        abort();
    }

    return (uint8_t) (hi << 4 | lo);
}


/* The key escape decoded; aborts on anything the escape cannot make. */

static size_t
fuzz_key_unescape(const char *s, size_t len, char *out)
{
    size_t    i, n;
    uint8_t   c;

    n = 0;

    for (i = 0; i < len; i++) {
        c = (uint8_t) s[i];

        if (c == ':' || c == ' ' || c == '*' || c == '?' || c == '['
            || c == ']' || c == '\\')
        {
            abort();
        }

        if (c == '|') {
            if (len - i < 3) {
                abort();
            }

            c = fuzz_hex_pair(s + i + 1);
            i += 2;

            /* only what must be escaped is: one spelling per identity */

            if (c != '|' && c != ':' && c != ' ' && c != '*' && c != '?'
                && c != '[' && c != ']' && c != '\\')
            {
                abort();
            }

        }

        out[n++] = (char) c;
    }

    return n;
}


/* The log escape decoded; aborts on anything the escape cannot make. */

static size_t
fuzz_log_unescape(const char *s, size_t len, char *out)
{
    size_t    i, n;
    uint8_t   c;

    n = 0;

    for (i = 0; i < len; i++) {
        c = (uint8_t) s[i];

        if (c == '"' || c < 0x20 || c == 0x7f
            || (c == 0xc2 && i + 1 < len && (uint8_t) s[i + 1] <= 0x9f))
        {
            abort();
        }

        if (c == '\\') {
            if (len - i < 4 || s[i + 1] != 'x') {
                abort();
            }

            c = fuzz_hex_pair(s + i + 2);
            i += 3;
        }

        out[n++] = (char) c;
    }

    return n;
}


static void
fuzz_canonical(const char *in, size_t size, int lower)
{
    char                  out[TWOFA_IDENT_MAX + 1], again[TWOFA_IDENT_MAX + 1];
    size_t                len, again_len;
    twofa_ident_status_t  st;

    st = twofa_ident_canonical(in, size, lower, out, sizeof(out), &len);

    if ((unsigned) st > TWOFA_IDENT_NO_MEMORY
        || twofa_ident_reason(st) == NULL)
    {
        abort();
    }

    if (st != TWOFA_IDENT_OK) {
        return;
    }

    if (len == 0 || len > TWOFA_IDENT_MAX || out[len] != '\0'
        || twofa_ident_check(out, len) != TWOFA_IDENT_OK)
    {
        abort();
    }

    /* Stable: canonical again gives the same bytes, in both modes. */

    if (twofa_ident_canonical(out, len, lower, again, sizeof(again),
                              &again_len) != TWOFA_IDENT_OK
        || again_len != len || memcmp(again, out, len) != 0)
    {
        abort();
    }

    if (lower
        && (twofa_ident_canonical(out, len, 0, again, sizeof(again),
                                  &again_len) != TWOFA_IDENT_OK
            || again_len != len || memcmp(again, out, len) != 0))
    {
        abort();
    }

    /* A buffer one byte short is refused, not overrun. */

    if (twofa_ident_canonical(in, size, lower, again, len, &again_len)
        != TWOFA_IDENT_TOO_LONG)
    {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                 *esc, *back;
    size_t                n, m, i;
    const char           *in;
    twofa_ident_status_t  st;

    in = (const char *) data;

    st = twofa_ident_check(in, size);

    if (st == TWOFA_IDENT_OK) {
        if (size == 0 || size > TWOFA_IDENT_MAX
            || u8_check(data, size) != NULL)
        {
            abort();
        }

        for (i = 0; i < size; i++) {
            if (data[i] < 0x20 || data[i] == 0x7f) {
                abort();
            }
        }
    }

    fuzz_canonical(in, size, 1);
    fuzz_canonical(in, size, 0);

    n = twofa_ident_key_escaped_len(in, size);
    m = twofa_ident_log_escaped_len(in, size);

    esc = malloc((n > m ? n : m) + 1);
    back = malloc(size + 1);

    if (esc == NULL || back == NULL) {
        free(esc);
        free(back);
        return 0;
    }

    if (twofa_ident_key_escape(in, size, esc) != n
        || fuzz_key_unescape(esc, n, back) != size
        || memcmp(back, in, size) != 0)
    {
        abort();
    }

    if (twofa_ident_log_escape(in, size, esc) != m
        || u8_check((const uint8_t *) esc, m) != NULL
        || fuzz_log_unescape(esc, m, back) != size
        || memcmp(back, in, size) != 0)
    {
        abort();
    }

    free(esc);
    free(back);

    return 0;
}
