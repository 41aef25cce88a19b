/*
 * Identities: the UTF-8 check, the canonical form, and the escapes for
 * Redis keys and log lines.
 */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>

#include "twofa_ident.h"
#include "twofa_util.h"


/*
 * Inputs longer than this after trimming are refused before they are
 * normalised: it bounds the work on hostile input, and refusing an
 * identity never splits it.  NFKC shrinks text at most 4 to 1 (a
 * mathematical letter of 4 bytes to an ASCII one).
 */
#define TWOFA_IDENT_INPUT_MAX  (4 * TWOFA_IDENT_MAX)

/* Room for a typical result, so that libunistring need not allocate. */
#define TWOFA_IDENT_BUF_SIZE   (TWOFA_IDENT_MAX + 64)


static const char  *const twofa_ident_reasons[] = {
    "valid",
    "empty",
    "longer than 256 bytes",
    "invalid UTF-8",
    "control character",
    "out of memory"
};

static const char   twofa_ident_hex[] = "0123456789ABCDEF";


const char *
twofa_ident_reason(twofa_ident_status_t st)
{
    return TWOFA_UTIL_TEXT(twofa_ident_reasons, st, "unknown identity status");
}


/* Well-formed UTF-8 without C0, C1 or DEL; any length. */

static twofa_ident_status_t
twofa_ident_scan(const uint8_t *s, size_t len)
{
    size_t  i;

    if (u8_check(s, len) != NULL) {
        return TWOFA_IDENT_BAD_UTF8;
    }

    for (i = 0; i < len; i++) {

        /*
         * In well-formed UTF-8 0xC2 always starts a character, and
         * U+0080..U+009F (the C1 controls) are C2 80..C2 9F.
         */

        if (s[i] < 0x20 || s[i] == 0x7f
            || (s[i] == 0xc2 && s[i + 1] <= 0x9f))
        {
            return TWOFA_IDENT_CONTROL;
        }
    }

    return TWOFA_IDENT_OK;
}


twofa_ident_status_t
twofa_ident_check(const char *s, size_t len)
{
    if (s == NULL || len == 0) {
        return TWOFA_IDENT_EMPTY;
    }

    if (len > TWOFA_IDENT_MAX) {
        return TWOFA_IDENT_TOO_LONG;
    }

    return twofa_ident_scan((const uint8_t *) s, len);
}


/*
 * Copies well-formed UTF-8 without its Default_Ignorable_Code_Points
 * (soft hyphen, zero-width space and joiners, variation selectors...),
 * as Unicode's NFKC_Casefold drops them: invisible, and some database
 * collations ignore them, so an app may take "ali<ZWSP>ce" for "alice".
 * No other character becomes one under NFKC or case folding.
 */

static size_t
twofa_ident_strip_ignorable(const uint8_t *s, size_t len, uint8_t *out)
{
    int             n;
    size_t          total;
    ucs4_t          uc;
    const uint8_t  *end;

    total = 0;
    end = s + len;

    while (s < end) {
        n = u8_mbtouc(&uc, s, end - s);

        if (!uc_is_property_default_ignorable_code_point(uc)) {
            memcpy(out + total, s, n);
            total += n;
        }

        s += n;
    }

    return total;
}


/* Drops Unicode White_Space at both ends of well-formed UTF-8. */

static void
twofa_ident_trim(const uint8_t **s, size_t *len)
{
    int             n;
    ucs4_t          uc;
    const uint8_t  *p, *end, *prev;

    p = *s;
    end = p + *len;

    while (p < end) {
        n = u8_mbtouc(&uc, p, end - p);

        if (!uc_is_property_white_space(uc)) {
            break;
        }

        p += n;
    }

    while (end > p) {
        prev = u8_prev(&uc, end, p);

        if (prev == NULL || !uc_is_property_white_space(uc)) {
            break;
        }

        end = prev;
    }

    *s = p;
    *len = end - p;
}


twofa_ident_status_t
twofa_ident_canonical(const char *in, size_t len, int lower, char *out,
    size_t out_size, size_t *out_len)
{
    size_t                n;
    uint8_t               buf[TWOFA_IDENT_BUF_SIZE];
    uint8_t               visible[TWOFA_IDENT_INPUT_MAX];
    uint8_t              *norm;
    const uint8_t        *s;
    twofa_ident_status_t  st;

    if (in == NULL || len == 0) {
        return TWOFA_IDENT_EMPTY;
    }

    s = (const uint8_t *) in;

    if (u8_check(s, len) != NULL) {
        return TWOFA_IDENT_BAD_UTF8;
    }

    twofa_ident_trim(&s, &len);

    if (len == 0) {
        return TWOFA_IDENT_EMPTY;
    }

    if (len > TWOFA_IDENT_INPUT_MAX) {
        return TWOFA_IDENT_TOO_LONG;
    }

    len = twofa_ident_strip_ignorable(s, len, visible);
    s = visible;
    twofa_ident_trim(&s, &len);

    if (len == 0) {
        return TWOFA_IDENT_EMPTY;
    }

    /*
     * No language: a Turkish capital I must fold the same for every
     * user.  u8_casefold() with NFKC is NFKC(casefold(NFKD(s))).
     */

    n = sizeof(buf);

    if (lower) {
        norm = u8_casefold(s, len, NULL, UNINORM_NFKC, buf, &n);

    } else {
        norm = u8_normalize(UNINORM_NFKC, s, len, buf, &n);
    }

    if (norm == NULL) {
        return errno == ENOMEM ? TWOFA_IDENT_NO_MEMORY
                               : TWOFA_IDENT_BAD_UTF8;
    }

    /* NFKC makes U+00A8 DIAERESIS a space and a combining mark. */

    s = norm;
    twofa_ident_trim(&s, &n);

    st = twofa_ident_check((const char *) s, n);

    if (st == TWOFA_IDENT_OK && (out == NULL || n >= out_size)) {
        st = TWOFA_IDENT_TOO_LONG;
    }

    if (st == TWOFA_IDENT_OK) {
        memcpy(out, s, n);
        out[n] = '\0';
        *out_len = n;
    }

    if (norm != buf) {
        free(norm);
    }

    return st;
}


/*
 * '|' is the escape character because the ASCII rule before UTF-8
 * identities refused it: no identity valid then contains it, so none of
 * their keys changed ('%' was valid, and '\\' is Redis' own glob
 * escape, which every pattern would then have to double).
 */

static int
twofa_ident_key_special(uint8_t c)
{
    switch (c) {
    case '|': case ':': case ' ':
    case '*': case '?': case '[': case ']': case '\\':
        return 1;
    default:
        return 0;
    }
}


size_t
twofa_ident_key_escaped_len(const char *s, size_t len)
{
    size_t  i, n;

    n = len;

    for (i = 0; i < len; i++) {
        if (twofa_ident_key_special((uint8_t) s[i])) {
            n += 2;
        }
    }

    return n;
}


size_t
twofa_ident_key_escape(const char *s, size_t len, char *out)
{
    char     *p;
    size_t    i;
    uint8_t   c;

    p = out;

    for (i = 0; i < len; i++) {
        c = (uint8_t) s[i];

        if (twofa_ident_key_special(c)) {
            *p++ = '|';
            *p++ = twofa_ident_hex[c >> 4];
            *p++ = twofa_ident_hex[c & 0x0f];

        } else {
            *p++ = (char) c;
        }
    }

    return p - out;
}


/*
 * One walk for the log escape and its length: with out NULL it only
 * counts.
 */

static size_t
twofa_ident_log_walk(const uint8_t *s, size_t len, char *out)
{
    int      n;
    size_t   i, total;
    ucs4_t   uc;
    uint8_t  c;

    total = 0;
    i = 0;

    while (i < len) {
        c = s[i];

        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            if (out != NULL) {
                out[total] = (char) c;
            }

            total++;
            i++;
            continue;
        }

        if (c >= 0x80) {
            n = u8_mbtoucr(&uc, s + i, len - i);

            /* Above the C1 controls: kept as it is. */

            if (n > 0 && uc > 0x9f) {
                if (out != NULL) {
                    memcpy(out + total, s + i, n);
                }

                total += n;
                i += n;
                continue;
            }
        }

        /* One byte at a time, so a broken sequence shows as it came. */

        if (out != NULL) {
            out[total] = '\\';
            out[total + 1] = 'x';
            out[total + 2] = twofa_ident_hex[c >> 4];
            out[total + 3] = twofa_ident_hex[c & 0x0f];
        }

        total += 4;
        i++;
    }

    return total;
}


size_t
twofa_ident_log_escaped_len(const char *s, size_t len)
{
    return twofa_ident_log_walk((const uint8_t *) s, len, NULL);
}


size_t
twofa_ident_log_escape(const char *s, size_t len, char *out)
{
    return twofa_ident_log_walk((const uint8_t *) s, len, out);
}
