/*
 * Identities: the UTF-8 check, the canonical form (trimming, NFKC, case
 * folding, and the spellings that must meet one enrollment), and the
 * escapes for Redis keys and log lines.
 */

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "twofa_ident.h"


static const char *
status_name(twofa_ident_status_t st)
{
    static const char  *names[] = {
        "OK", "EMPTY", "TOO_LONG", "BAD_UTF8", "CONTROL", "NO_MEMORY"
    };

    return (unsigned) st <= TWOFA_IDENT_NO_MEMORY ? names[st] : "?";
}


static void
check_is(const char *s, size_t len, twofa_ident_status_t want,
    const char *what)
{
    twofa_ident_status_t  st;

    st = twofa_ident_check(s, len);

    if (!ok(st == want, "check %s: %s", what, status_name(want))) {
        diag("got %s", status_name(st));
    }
}


static void
canon_is(const char *in, int lower, const char *want, const char *what)
{
    char                  out[TWOFA_IDENT_MAX + 1];
    size_t                len;
    twofa_ident_status_t  st;

    len = 0;
    st = twofa_ident_canonical(in, strlen(in), lower, out, sizeof(out),
                               &len);

    if (!is_int(st, TWOFA_IDENT_OK, "canonical%s %s: ok",
                lower ? "" : " (keep case)", what))
    {
        diag("status %s", status_name(st));
        ok(0, "canonical %s: value", what);
        return;
    }

    ok(len == strlen(want) && memcmp(out, want, len) == 0
       && out[len] == '\0', "canonical%s %s: '%s'",
       lower ? "" : " (keep case)", what, want);
}


static void
canon_fails(const char *in, size_t in_len, int lower,
    twofa_ident_status_t want, const char *what)
{
    char                  out[TWOFA_IDENT_MAX + 1];
    size_t                len;
    twofa_ident_status_t  st;

    st = twofa_ident_canonical(in, in_len, lower, out, sizeof(out), &len);

    if (!ok(st == want, "canonical %s: %s", what, status_name(want))) {
        diag("got %s", status_name(st));
    }
}


static void
test_check(void)
{
    char    buf[TWOFA_IDENT_MAX + 2];
    size_t  i;

    static const struct {
        const char  *s;
        const char  *what;
    } good[] = {
        { "alice",                             "ASCII" },
        { "\xd0\xb0\xd0\xbb\xd0\xb8\xd1\x81\xd0\xb0", "Cyrillic" },
        { "Jos\xc3\xa9",                       "accented" },
        { "CORP\\jdoe",                        "domain backslash" },
        { "alice@example.com",                 "e-mail" },
        { "a:b{c}%d e",                        "key-breaking ASCII" },
        { "\xf0\x9f\x94\x91",                  "4-byte character" },
        { "\xef\xbf\xbd",                      "U+FFFD" },
        { "\xf4\x8f\xbf\xbf",                  "U+10FFFF" },
        { "a\xc2\xa0" "b",                     "NBSP inside" },
        { "\xc2\xa0",                          "U+00A0 (first above C1)" },
    };

    static const struct {
        const char  *s;
        const char  *what;
    } bad_utf8[] = {
        { "\xc0\xaf",                 "overlong '/' in 2 bytes" },
        { "\xc1\xbf",                 "overlong in 2 bytes (C1 lead)" },
        { "\xe0\x80\xaf",             "overlong '/' in 3 bytes" },
        { "\xf0\x80\x80\xaf",         "overlong '/' in 4 bytes" },
        { "\xed\xa0\x80",             "high surrogate" },
        { "\xed\xbf\xbf",             "low surrogate" },
        { "\xf4\x90\x80\x80",         "U+110000" },
        { "\xf5\x80\x80\x80",         "F5 lead" },
        { "\xf8\x88\x80\x80\x80",     "5-byte form" },
        { "\xff",                     "FF byte" },
        { "\xfe",                     "FE byte" },
        { "a\x80" "b",                "lone continuation byte" },
        { "abc\xc3",                  "truncated 2-byte sequence" },
        { "\xe2\x82",                 "truncated 3-byte sequence" },
        { "\xe2\x28\xa1",             "bad continuation" },
        { "Jos\xe9",                  "Latin-1 e acute" },
    };

    static const struct {
        const char  *s;
        const char  *what;
    } controls[] = {
        { "a\tb",             "tab" },
        { "a\nb",             "newline" },
        { "a\rb",             "carriage return" },
        { "\x1b[31m",         "escape" },
        { "a\x7f",            "DEL" },
        { "a\xc2\x80" "b",    "U+0080" },
        { "a\xc2\x85" "b",    "NEL" },
        { "a\xc2\x9f",        "U+009F" },
    };

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        check_is(good[i].s, strlen(good[i].s), TWOFA_IDENT_OK, good[i].what);
    }

    for (i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++) {
        check_is(bad_utf8[i].s, strlen(bad_utf8[i].s), TWOFA_IDENT_BAD_UTF8,
                 bad_utf8[i].what);
    }

    for (i = 0; i < sizeof(controls) / sizeof(controls[0]); i++) {
        check_is(controls[i].s, strlen(controls[i].s), TWOFA_IDENT_CONTROL,
                 controls[i].what);
    }

    check_is("a\0b", 3, TWOFA_IDENT_CONTROL, "NUL inside");
    check_is("", 0, TWOFA_IDENT_EMPTY, "empty");
    check_is(NULL, 0, TWOFA_IDENT_EMPTY, "NULL");

    memset(buf, 'a', sizeof(buf));
    check_is(buf, TWOFA_IDENT_MAX, TWOFA_IDENT_OK, "256 bytes");
    check_is(buf, TWOFA_IDENT_MAX + 1, TWOFA_IDENT_TOO_LONG, "257 bytes");
}


static void
test_canonical(void)
{
    int     bad;
    char    in[4 * TWOFA_IDENT_MAX + 16], out[TWOFA_IDENT_MAX + 1];
    char    first[TWOFA_IDENT_MAX + 1];
    size_t  i, len, first_len;

    static const char  *alice[] = {
        "alice",
        "Alice",
        "ALICE",
        " alice ",
        "\talice\t",
        "\xc2\xa0" "alice" "\xc2\xa0",              /* NBSP */
        "\xe3\x80\x80" "Alice" "\xe2\x80\x83",      /* ideographic, em */
        "alice\r\n",
        "\xef\xbd\x81\xef\xbd\x8c\xef\xbd\x89\xef\xbd\x83\xef\xbd\x85",
        "\xef\xbc\xa1LICE",                         /* fullwidth A */
        "\xf0\x9d\x90\x80lice",                     /* mathematical A */
    };

    /* Spellings the app merges meet one enrollment. */

    bad = 0;

    for (i = 0; i < sizeof(alice) / sizeof(alice[0]); i++) {
        if (twofa_ident_canonical(alice[i], strlen(alice[i]), 1, out,
                                  sizeof(out), &len) != TWOFA_IDENT_OK
            || len != 5 || strcmp(out, "alice") != 0)
        {
            diag("spelling %zu is not 'alice'", i);
            bad++;
        }
    }

    is_int(bad, 0, "every spelling of alice is 'alice'");

    canon_is("ALICE", 0, "ALICE", "case kept");
    canon_is(" Alice\t", 0, "Alice", "trimmed, case kept");
    canon_is("\xef\xbc\xa1lice", 0, "Alice", "fullwidth A is A (NFKC)");

    /* Cyrillic, Greek, accents */

    canon_is("\xd0\x90\xd0\x9b\xd0\x98\xd0\xa1\xd0\x90", 1,
             "\xd0\xb0\xd0\xbb\xd0\xb8\xd1\x81\xd0\xb0", "Cyrillic upper");
    canon_is("\xd0\x90\xd0\xbb\xd0\xb8\xd1\x81\xd0\xb0", 0,
             "\xd0\x90\xd0\xbb\xd0\xb8\xd1\x81\xd0\xb0", "Cyrillic kept");
    canon_is("\xce\xa3\xce\x9f\xce\xa6\xce\x99\xce\x91", 1,
             "\xcf\x83\xce\xbf\xcf\x86\xce\xb9\xce\xb1", "Greek upper");
    canon_is("\xce\xbf\xcf\x82", 1, "\xce\xbf\xcf\x83",
             "final sigma folds to sigma");
    canon_is("Jos\xc3\xa9", 1, "jos\xc3\xa9", "precomposed e acute");
    canon_is("Jose\xcc\x81", 1, "jos\xc3\xa9", "decomposed e acute, lower");
    canon_is("Jose\xcc\x81", 0, "Jos\xc3\xa9", "decomposed e acute, keep");
    canon_is("\xc3\x89MILE", 1, "\xc3\xa9mile", "capital E acute");

    /* Full case folding, compatibility forms */

    canon_is("Stra\xc3\x9f" "e", 1, "strasse", "sharp s folds to ss");
    canon_is("STRASSE", 1, "strasse", "STRASSE meets Strasse");
    canon_is("Stra\xc3\x9f" "e", 0, "Stra\xc3\x9f" "e", "sharp s kept");
    canon_is("\xe1\xba\x9e", 1, "ss", "capital sharp s");
    canon_is("\xef\xac\x81le", 1, "file", "fi ligature");
    canon_is("\xe2\x84\xaa" "elvin", 1, "kelvin", "Kelvin sign");
    canon_is("\xe2\x84\xaa" "elvin", 0, "Kelvin", "Kelvin sign, keep");
    canon_is("\xc4\xb0", 1, "i\xcc\x87", "Turkish dotted capital I");
    canon_is("\xe2\x91\xa0", 1, "1", "circled digit one");

    /* What identities look like */

    canon_is("CORP\\JDoe", 1, "corp\\jdoe", "domain login");
    canon_is(" Alice.Smith@Example.COM ", 1, "alice.smith@example.com",
             "e-mail");
    canon_is("alice smith", 1, "alice smith", "inner space kept");
    canon_is("alice\xc2\xa0smith", 1, "alice smith", "inner NBSP is space");
    canon_is("a:b{c}%d", 1, "a:b{c}%d", "key-breaking characters kept");
    canon_is("\xc2\xa8" "a", 1, "\xcc\x88" "a",
             "diaeresis: NFKC's space trimmed");
    canon_is("\xf0\x9f\x94\x91key", 1, "\xf0\x9f\x94\x91key", "emoji");

    /* Invisible characters */

    canon_is("ali\xe2\x80\x8b" "ce", 1, "alice", "zero-width space");
    canon_is("\xc2\xad" "Alice", 0, "Alice", "soft hyphen");
    canon_is("alice\xef\xb8\x8f", 1, "alice", "variation selector");
    canon_is("\xe2\x80\x8b alice", 1, "alice",
             "white space behind a zero-width space");
    canon_is("e\xcd\x8f\xcc\x81", 0, "\xc3\xa9",
             "grapheme joiner between e and its accent");

    /* Refusals */

    canon_fails("", 0, 1, TWOFA_IDENT_EMPTY, "empty");
    canon_fails("   ", 3, 1, TWOFA_IDENT_EMPTY, "only spaces");
    canon_fails("\t\r\n\xc2\xa0\xe3\x80\x80", 8, 1, TWOFA_IDENT_EMPTY,
                "only white space");
    canon_fails("\xe2\x80\x8b\xe2\x80\x8d", 6, 1, TWOFA_IDENT_EMPTY,
                "only invisible characters");
    canon_fails("a\tb", 3, 1, TWOFA_IDENT_CONTROL, "inner tab");
    canon_fails(" a\nb ", 5, 1, TWOFA_IDENT_CONTROL, "inner newline");
    canon_fails("a\0b", 3, 1, TWOFA_IDENT_CONTROL, "inner NUL");
    canon_fails("a\xc2\x85" "b", 4, 0, TWOFA_IDENT_CONTROL, "inner NEL");
    canon_fails("alice\x7f", 6, 1, TWOFA_IDENT_CONTROL, "DEL");
    canon_fails("\xff" "alice", 6, 1, TWOFA_IDENT_BAD_UTF8, "FF byte");
    canon_fails(" Jos\xe9 ", 6, 1, TWOFA_IDENT_BAD_UTF8, "Latin-1");
    canon_fails("\xc0\xaf", 2, 1, TWOFA_IDENT_BAD_UTF8, "overlong");
    canon_fails("\xed\xa0\x80", 3, 0, TWOFA_IDENT_BAD_UTF8, "surrogate");
    canon_fails("alice ", 6, 1, TWOFA_IDENT_OK, "trailing space: fine");

    memset(in, 'A', TWOFA_IDENT_MAX + 1);
    canon_fails(in, TWOFA_IDENT_MAX + 1, 1, TWOFA_IDENT_TOO_LONG,
                "257 letters");

    in[0] = ' ';
    is_int(twofa_ident_canonical(in, TWOFA_IDENT_MAX + 1, 1, out,
                                 sizeof(out), &len), TWOFA_IDENT_OK,
           "256 letters after a space");
    is_int(len, TWOFA_IDENT_MAX, "256 letters: 256 bytes");

    is_int(twofa_ident_canonical("alice", 5, 1, out, 5, &len),
           TWOFA_IDENT_TOO_LONG, "no room for the NUL");
    is_int(twofa_ident_canonical("alice", 5, 1, out, 6, &len),
           TWOFA_IDENT_OK, "exact room");
    is_str(out, "alice", "exact room: value");

    /* 256 fullwidth letters (768 bytes) are 256 ASCII ones. */

    for (i = 0; i < TWOFA_IDENT_MAX; i++) {
        memcpy(in + 3 * i, "\xef\xbd\x81", 3);
    }

    is_int(twofa_ident_canonical(in, 3 * TWOFA_IDENT_MAX, 1, out,
                                 sizeof(out), &len), TWOFA_IDENT_OK,
           "256 fullwidth letters");
    ok(len == TWOFA_IDENT_MAX && strspn(out, "a") == TWOFA_IDENT_MAX,
       "256 fullwidth letters: 256 'a'");

    memcpy(in + 3 * i, "\xef\xbd\x81", 3);
    canon_fails(in, 3 * (TWOFA_IDENT_MAX + 1), 1, TWOFA_IDENT_TOO_LONG,
                "257 fullwidth letters");

    /* U+FDFA expands to 18 characters under NFKC. */

    for (i = 0; i < 10; i++) {
        memcpy(in + 3 * i, "\xef\xb7\xba", 3);
    }

    canon_fails(in, 30, 0, TWOFA_IDENT_TOO_LONG, "NFKC expansion");

    memset(in, ' ', sizeof(in));
    memcpy(in + sizeof(in) - 6, "alice", 5);
    is_int(twofa_ident_canonical(in, sizeof(in), 1, out, sizeof(out), &len),
           TWOFA_IDENT_OK, "over 1 KiB of white space around");
    is_str(out, "alice", "over 1 KiB of white space around: value");

    /* The canonical form is its own canonical form. */

    bad = 0;

    for (i = 0; i < sizeof(alice) / sizeof(alice[0]); i++) {
        if (twofa_ident_canonical(alice[i], strlen(alice[i]), 1, first,
                                  sizeof(first), &first_len)
            != TWOFA_IDENT_OK
            || twofa_ident_canonical(first, first_len, 1, out, sizeof(out),
                                     &len) != TWOFA_IDENT_OK
            || len != first_len || memcmp(out, first, len) != 0)
        {
            bad++;
        }
    }

    is_int(bad, 0, "canonical forms are stable");
}


static void
test_key_escape(void)
{
    char    out[64];
    size_t  i, n;

    static const struct {
        const char  *in;
        const char  *out;
    } v[] = {
        { "alice",               "alice" },
        { "a:b",                 "a|3Ab" },
        { "a|b",                 "a|7Cb" },
        { "a|3Ab",               "a|7C3Ab" },
        { "{tag}",               "{tag}" },
        { "100%",                "100%" },
        { "a%3Ab",               "a%3Ab" },
        { "alice smith",         "alice|20smith" },
        { "CORP\\jdoe",          "CORP|5Cjdoe" },
        { "*?[]",                "|2A|3F|5B|5D" },
        { "a/b\"c",              "a/b\"c" },
        { "alice@example.com",   "alice@example.com" },
        { "\xd0\xb0\xd0\xbb\xd0\xb8\xd1\x81\xd0\xb0",
          "\xd0\xb0\xd0\xbb\xd0\xb8\xd1\x81\xd0\xb0" },
        { "",                    "" },
    };

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        is_int(twofa_ident_key_escaped_len(v[i].in, strlen(v[i].in)),
               strlen(v[i].out), "key escaped length of '%s'", v[i].in);

        memset(out, 0, sizeof(out));
        n = twofa_ident_key_escape(v[i].in, strlen(v[i].in), out);
        ok(n == strlen(v[i].out) && memcmp(out, v[i].out, n) == 0,
           "key escape '%s' is '%s'", v[i].in, v[i].out);
    }
}


/*
 * Every byte the ASCII rule before UTF-8 identities took (visible ASCII
 * but : | / \\ " * ? [ ]) is kept, so none of those keys moved; and the
 * escape is injective: all strings of up to 3 bytes over an alphabet of
 * the escaped bytes, hex digits and the escape character meet no two
 * equal escapes.
 */

static void
test_key_escape_compat(void)
{
    int     kept, distinct;
    char    out[16], *all;
    size_t  c, i, j, k, n, m, count, total, len[4096];

    static const char  alpha[] = "|:* 3AC7";

    kept = 1;

    for (c = 0x21; c < 0x7f; c++) {
        if (strchr(":|/\\\"*?[]", (int) c) != NULL) {
            continue;
        }

        out[0] = (char) c;

        if (twofa_ident_key_escape(out, 1, out + 1) != 1 || out[1] != out[0])
        {
            kept = 0;
        }
    }

    ok(kept, "key escape keeps every byte valid before UTF-8 identities");

    m = sizeof(alpha) - 1;
    total = 0;

    /* 8 + 64 + 512 strings, escapes of at most 9 bytes */

    all = malloc(4096 * 9);
    if (all == NULL) {
        ok(0, "no memory");
        return;
    }

    for (n = 1, count = m; n <= 3; n++, count *= m) {
        for (i = 0; i < count; i++) {
            for (j = 0, k = i; j < n; j++, k /= m) {
                out[j] = alpha[k % m];
            }

            len[total] = twofa_ident_key_escape(out, n, all + total * 9);
            total++;
        }
    }

    distinct = 1;

    for (i = 0; i < total && distinct; i++) {
        for (j = i + 1; j < total; j++) {
            if (len[i] == len[j]
                && memcmp(all + i * 9, all + j * 9, len[i]) == 0)
            {
                distinct = 0;
                break;
            }
        }
    }

    ok(distinct, "key escape is injective (%zu strings)", total);

    free(all);
}


static void
test_log_escape(void)
{
    char    out[64];
    size_t  i, n;

    static const struct {
        const char  *in;
        size_t       len;
        const char  *out;
    } v[] = {
        { "alice",            5,  "alice" },
        { "a\"b",             3,  "a\\x22b" },
        { "CORP\\jdoe",       9,  "CORP\\x5Cjdoe" },
        { "a\nb",             3,  "a\\x0Ab" },
        { "a\0b",             3,  "a\\x00b" },
        { "\x7f",             1,  "\\x7F" },
        { "Jos\xc3\xa9",      5,  "Jos\xc3\xa9" },
        { "Jos\xe9",          4,  "Jos\\xE9" },
        { "a\xc2\x85",        3,  "a\\xC2\\x85" },
        { "\xe2\x82",         2,  "\\xE2\\x82" },
        { "\xed\xa0\x80",     3,  "\\xED\\xA0\\x80" },
        { "\xf0\x9f\x94\x91", 4,  "\xf0\x9f\x94\x91" },
        { "",                 0,  "" },
    };

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        is_int(twofa_ident_log_escaped_len(v[i].in, v[i].len),
               strlen(v[i].out), "log escaped length, case %zu", i);

        memset(out, 0, sizeof(out));
        n = twofa_ident_log_escape(v[i].in, v[i].len, out);
        ok(n == strlen(v[i].out) && memcmp(out, v[i].out, n) == 0,
           "log escape, case %zu: '%s'", i, v[i].out);
    }
}


static void
test_reasons(void)
{
    int          distinct;
    size_t       i, j;
    const char  *r[6];

    static const twofa_ident_status_t  all[] = {
        TWOFA_IDENT_OK, TWOFA_IDENT_EMPTY, TWOFA_IDENT_TOO_LONG,
        TWOFA_IDENT_BAD_UTF8, TWOFA_IDENT_CONTROL, TWOFA_IDENT_NO_MEMORY
    };

    distinct = 1;

    for (i = 0; i < 6; i++) {
        r[i] = twofa_ident_reason(all[i]);

        for (j = 0; j < i; j++) {
            if (r[i] == NULL || strcmp(r[i], r[j]) == 0) {
                distinct = 0;
            }
        }
    }

    ok(distinct, "six distinct reasons");
    is_str(twofa_ident_reason(TWOFA_IDENT_OK), "valid", "reason of OK");
    is_str(twofa_ident_reason(TWOFA_IDENT_BAD_UTF8), "invalid UTF-8",
           "reason of BAD_UTF8");
    is_str(twofa_ident_reason((twofa_ident_status_t) 99),
           "unknown identity status", "reason of a bad status");
}


int
main(void)
{
    test_check();
    test_canonical();
    test_key_escape();
    test_key_escape_compat();
    test_log_escape();
    test_reasons();

    return done();
}
