/*
 * multipart/form-data on its own: the parts a body gives the handler, in
 * order and byte for byte, the parts it skips, stopping, every strictness
 * rule at the parser (test_form.c has them again through the login
 * field), which parts are plain fields, and the MIME header values of a
 * Content-Type.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "twofa_multipart.h"


#define CRLF   "\r\n"
#define PART(name, value)                                                    \
    "--XyZ" CRLF "Content-Disposition: form-data; name=\"" name "\"" CRLF    \
    CRLF value CRLF
#define CLOSE  "--XyZ--" CRLF


/* What the handler saw: "name=content|..." and the last part whole. */

typedef struct {
    char                    seen[1024];
    size_t                  seen_len;
    unsigned                calls;
    unsigned                stop_at;        /* 0: never stop */
    twofa_multipart_part_t  last;
} collect_t;


static twofa_multipart_str_t
str(const char *s)
{
    twofa_multipart_str_t  v;

    v.data = (const uint8_t *) s;
    v.len = strlen(s);

    return v;
}


static int
str_is(twofa_multipart_str_t got, const char *want)
{
    if (want == NULL) {
        return got.data == NULL && got.len == 0;
    }

    return got.data != NULL && got.len == strlen(want)
           && memcmp(got.data, want, got.len) == 0;
}


static void
append(collect_t *c, twofa_multipart_str_t s)
{
    size_t  n;

    n = s.len;

    if (n > sizeof(c->seen) - 1 - c->seen_len) {
        n = sizeof(c->seen) - 1 - c->seen_len;
    }

    memcpy(c->seen + c->seen_len, s.data, n);
    c->seen_len += n;
    c->seen[c->seen_len] = '\0';
}


static int
collect(void *data, const twofa_multipart_part_t *part)
{
    collect_t  *c;

    c = data;
    c->calls++;
    c->last = *part;

    if (c->calls > 1) {
        append(c, str("|"));
    }

    append(c, part->name);
    append(c, str("="));
    append(c, part->content);

    return c->stop_at != 0 && c->calls == c->stop_at;
}


static twofa_multipart_status_t
parse_n(const char *boundary, const char *body, size_t len, collect_t *c)
{
    memset(c, 0, sizeof(*c));

    return twofa_multipart_parse(str(boundary), (const uint8_t *) body, len,
                                 collect, c);
}


/* Two tests: the status, and what the handler saw. */

static void
expect(const char *body, twofa_multipart_status_t want, const char *seen,
    const char *what)
{
    collect_t                 c;
    twofa_multipart_status_t  st;

    st = parse_n("XyZ", body, strlen(body), &c);

    is_int(st, want, "%s: status", what);
    is_str(c.seen, seen, "%s: parts", what);
}


static void
test_parts(void)
{
    collect_t  c;

    expect(PART("username", "alice") PART("password", "s") CLOSE,
           TWOFA_MULTIPART_OK, "username=alice|password=s", "two parts");
    expect(PART("username", "") CLOSE, TWOFA_MULTIPART_OK, "username=",
           "empty content");
    expect(PART("note", "line 1" CRLF "line 2" CRLF) CLOSE,
           TWOFA_MULTIPART_OK, "note=line 1" CRLF "line 2" CRLF,
           "CRLF in content, and at its end");
    expect(PART("n", "a--XyZb") CLOSE, TWOFA_MULTIPART_MALFORMED, "",
           "the boundary inside content");
    expect(PART("n", "--XyZx") CLOSE, TWOFA_MULTIPART_MALFORMED, "",
           "a longer boundary line inside content");
    expect(CLOSE, TWOFA_MULTIPART_OK, "", "no parts");
    expect(CRLF CRLF PART("a", "1") CLOSE CRLF CRLF, TWOFA_MULTIPART_OK,
           "a=1", "empty lines around");
    expect(PART("a", "1") "--XyZ--", TWOFA_MULTIPART_OK, "a=1",
           "no CRLF after the close");

    /* Skipped: nothing, no headers, no disposition, no name. */

    expect("--XyZ" CRLF CRLF "--XyZ" CRLF CRLF "x" CRLF
           "--XyZ" CRLF "Content-Type: text/plain" CRLF CRLF "y" CRLF
           "--XyZ" CRLF "Content-Disposition: form-data" CRLF CRLF "z" CRLF
           "--XyZ" CRLF "Content-Disposition: form-data; filename=\"f\""
           CRLF CRLF "w" CRLF PART("a", "1") CLOSE, TWOFA_MULTIPART_OK,
           "a=1", "parts without a name skipped");

    /* Header values: trimmed, unknown headers ignored, names any case. */

    parse_n("XyZ", "--XyZ" CRLF "X-Other: ;;" CRLF
            "content-disposition: \tFORM-DATA ; NAME=user;"
            " FileName=\"a b.txt\"\t " CRLF
            "CONTENT-TYPE:text/plain; charset=utf-8 " CRLF
            "Content-Transfer-Encoding:  8bit" CRLF CRLF "v" CRLF CLOSE,
            strlen("--XyZ" CRLF "X-Other: ;;" CRLF
                   "content-disposition: \tFORM-DATA ; NAME=user;"
                   " FileName=\"a b.txt\"\t " CRLF
                   "CONTENT-TYPE:text/plain; charset=utf-8 " CRLF
                   "Content-Transfer-Encoding:  8bit" CRLF CRLF "v" CRLF
                   CLOSE), &c);
    is_int(c.calls, 1, "headers: one part");
    ok(str_is(c.last.disposition, "FORM-DATA"), "headers: disposition");
    ok(str_is(c.last.name, "user"), "headers: unquoted name");
    ok(str_is(c.last.filename, "a b.txt"), "headers: quoted filename");
    ok(str_is(c.last.type, "text/plain; charset=utf-8"),
       "headers: type, trimmed");
    ok(str_is(c.last.encoding, "8bit"), "headers: encoding, trimmed");
    ok(str_is(c.last.content, "v"), "headers: content");

    parse_n("XyZ", PART("a", "1") CLOSE, strlen(PART("a", "1") CLOSE), &c);
    ok(str_is(c.last.filename, NULL) && str_is(c.last.type, NULL)
       && str_is(c.last.encoding, NULL), "headers: absent ones are NULL");

    /* Binary content, and a browser's boundary. */

    parse_n("XyZ", PART("f", "a\0b") CLOSE,
            sizeof(PART("f", "a\0b") CLOSE) - 1, &c);
    ok(c.calls == 1 && c.last.content.len == 3
       && memcmp(c.last.content.data, "a\0b", 3) == 0, "NUL in content");

    is_int(parse_n("----WebKitFormBoundary7MA4YWx",
                   "------WebKitFormBoundary7MA4YWx" CRLF
                   "Content-Disposition: form-data; name=\"u\"" CRLF CRLF
                   "alice" CRLF "------WebKitFormBoundary7MA4YWx--" CRLF,
                   strlen("------WebKitFormBoundary7MA4YWx" CRLF
                          "Content-Disposition: form-data; name=\"u\""
                          CRLF CRLF "alice" CRLF
                          "------WebKitFormBoundary7MA4YWx--" CRLF), &c),
           TWOFA_MULTIPART_OK, "browser boundary");
    is_str(c.seen, "u=alice", "browser boundary: part");
}


static void
test_stop(void)
{
    collect_t                 c;
    twofa_multipart_status_t  st;

    static const char  body[] = PART("a", "1") PART("b", "2")
                                PART("c", "3") CLOSE;

    memset(&c, 0, sizeof(c));
    c.stop_at = 2;
    st = twofa_multipart_parse(str("XyZ"), (const uint8_t *) body,
                               sizeof(body) - 1, collect, &c);

    is_int(st, TWOFA_MULTIPART_STOPPED, "stop: status");
    is_str(c.seen, "a=1|b=2", "stop: no part after the stop");

    /* Parts before a malformed one were given, then MALFORMED. */

    expect(PART("a", "1") "--XyZ" CRLF "bad header" CRLF CRLF "2" CRLF CLOSE,
           TWOFA_MULTIPART_MALFORMED, "a=1", "malformed after a part");
}


static void
test_malformed(void)
{
    collect_t  c;

    expect("", TWOFA_MULTIPART_MALFORMED, "", "empty body");
    expect(PART("a", "1"), TWOFA_MULTIPART_MALFORMED, "",
           "no close delimiter: the last part not given");
    expect(PART("a", "1") "--XyZ", TWOFA_MULTIPART_MALFORMED, "a=1",
           "cut after a delimiter");
    expect("--XyZ" CRLF "Content-Disposition: form-data; name=\"a\"",
           TWOFA_MULTIPART_MALFORMED, "", "cut in a header");
    expect("--XyZ\nContent-Disposition: form-data; name=\"a\"\n\n1\n"
           "--XyZ--\n", TWOFA_MULTIPART_MALFORMED, "", "LF line ends");
    expect("--XyZ " CRLF "Content-Disposition: form-data; name=\"a\""
           CRLF CRLF "1" CRLF CLOSE, TWOFA_MULTIPART_MALFORMED, "",
           "transport padding");
    expect("x" CRLF PART("a", "1") CLOSE, TWOFA_MULTIPART_MALFORMED, "",
           "preamble");
    expect(PART("a", "1") CLOSE "x", TWOFA_MULTIPART_MALFORMED, "a=1",
           "epilogue");
    expect(PART("a", "1") CLOSE PART("b", "2") CLOSE,
           TWOFA_MULTIPART_MALFORMED, "a=1", "parts after the close");
    expect(CRLF " " PART("a", "1") CLOSE, TWOFA_MULTIPART_MALFORMED, "",
           "odd preamble");

    /* Header lines */

    expect("--XyZ" CRLF "Content-Disposition: form-data;" CRLF
           " name=\"a\"" CRLF CRLF "1" CRLF CLOSE, TWOFA_MULTIPART_MALFORMED,
           "", "folded header");
    expect("--XyZ" CRLF "Content-Disposition : form-data; name=a" CRLF
           CRLF "1" CRLF CLOSE, TWOFA_MULTIPART_MALFORMED, "",
           "space before the colon");
    expect("--XyZ" CRLF ": form-data; name=a" CRLF CRLF "1" CRLF CLOSE,
           TWOFA_MULTIPART_MALFORMED, "", "header without a name");
    expect("--XyZ" CRLF "Content-Disposition: form-data; name=a\x01" CRLF
           CRLF "1" CRLF CLOSE, TWOFA_MULTIPART_MALFORMED, "",
           "control character in a header");
    expect("--XyZ" CRLF "Content-Disposition: form-data; name=a" CRLF
           "1" CRLF CLOSE, TWOFA_MULTIPART_MALFORMED, "", "no blank line");
    expect("--XyZ" CRLF "Content-Type: text/plain" CRLF
           "Content-Type: text/plain" CRLF CRLF "1" CRLF CLOSE,
           TWOFA_MULTIPART_MALFORMED, "", "Content-Type twice");
    expect("--XyZ" CRLF "Content-Transfer-Encoding: 8bit" CRLF
           "content-transfer-encoding: 8bit" CRLF CRLF "1" CRLF CLOSE,
           TWOFA_MULTIPART_MALFORMED, "", "transfer encoding twice");

    /* The disposition, even of a part nobody asked for */

    expect("--XyZ" CRLF "Content-Disposition: ; name=a" CRLF CRLF "1" CRLF
           CLOSE, TWOFA_MULTIPART_MALFORMED, "", "disposition without type");
    expect("--XyZ" CRLF "Content-Disposition: form-data; name=a; name=b"
           CRLF CRLF "1" CRLF CLOSE, TWOFA_MULTIPART_MALFORMED, "",
           "name twice");
    expect("--XyZ" CRLF "Content-Disposition: form-data; name=a; "
           "filename=x; filename=y" CRLF CRLF "1" CRLF CLOSE,
           TWOFA_MULTIPART_MALFORMED, "", "filename twice");
    expect("--XyZ" CRLF "Content-Disposition: form-data; name*=UTF-8''a"
           CRLF CRLF "1" CRLF CLOSE, TWOFA_MULTIPART_MALFORMED, "", "name*");
    expect("--XyZ" CRLF "Content-Disposition: form-data; name=a; "
           "filename*=UTF-8''x" CRLF CRLF "1" CRLF CLOSE,
           TWOFA_MULTIPART_MALFORMED, "", "filename*");
    expect("--XyZ" CRLF "Content-Disposition: form-data; name=\"a\\\"b\""
           CRLF CRLF "1" CRLF CLOSE, TWOFA_MULTIPART_MALFORMED, "",
           "backslash in a quoted name");
    expect("--XyZ" CRLF "Content-Disposition: form-data; name" CRLF CRLF
           "1" CRLF CLOSE, TWOFA_MULTIPART_MALFORMED, "",
           "parameter without a value");

    /* A boundary not valid is refused before the body is looked at. */

    is_int(parse_n("12345678901234567890123456789012345678901234567890"
                   "123456789012345678901", "--x--", 5, &c),
           TWOFA_MULTIPART_MALFORMED, "71-character boundary");
    is_int(c.calls, 0, "71-character boundary: no part");
    is_int(parse_n("", "----" CRLF, 6, &c), TWOFA_MULTIPART_MALFORMED,
           "empty boundary");
}


/* twofa_multipart_is_field of the one part of a body. */

static void
expect_field(const char *headers, int want, const char *what)
{
    char       body[512];
    collect_t  c;
    int        n;

    n = snprintf(body, sizeof(body), "--XyZ" CRLF "%s" CRLF CRLF "v" CRLF
                 CLOSE, headers);

    if (parse_n("XyZ", body, (size_t) n, &c) != TWOFA_MULTIPART_OK
        || c.calls != 1)
    {
        ok(0, "%s: one part", what);
        return;
    }

    is_int(twofa_multipart_is_field(&c.last), want, "%s", what);
}


static void
test_is_field(void)
{
    expect_field("Content-Disposition: form-data; name=a", 1,
                 "field: plain");
    expect_field("Content-Disposition: Form-Data; name=a", 1,
                 "field: disposition in any case");
    expect_field("Content-Disposition: form-data; name=a" CRLF
                 "Content-Type: text/plain", 1, "field: text/plain");
    expect_field("Content-Disposition: form-data; name=a" CRLF
                 "Content-Type: text/plain; charset=UTF-8", 1,
                 "field: UTF-8");
    expect_field("Content-Disposition: form-data; name=a" CRLF
                 "Content-Type: text/plain; charset=\"utf8\"", 1,
                 "field: quoted utf8");
    expect_field("Content-Disposition: form-data; name=a" CRLF
                 "Content-Transfer-Encoding: 7BIT", 1, "field: 7bit");
    expect_field("Content-Disposition: form-data; name=a" CRLF
                 "Content-Transfer-Encoding: binary", 1, "field: binary");

    expect_field("Content-Disposition: attachment; name=a", 0,
                 "field: not form-data");
    expect_field("Content-Disposition: form-data; name=a; filename=\"\"",
                 0, "field: empty filename");
    expect_field("Content-Disposition: form-data; name=a; filename=a.png",
                 0, "field: a file");
    expect_field("Content-Disposition: form-data; name=a" CRLF
                 "Content-Type: text/plain; charset=iso-8859-1", 0,
                 "field: Latin-1");
    expect_field("Content-Disposition: form-data; name=a" CRLF
                 "Content-Type: text", 0, "field: type without subtype");
    expect_field("Content-Disposition: form-data; name=a" CRLF
                 "Content-Type: text/plain; charset", 0,
                 "field: type with a bad parameter");
    expect_field("Content-Disposition: form-data; name=a" CRLF
                 "Content-Transfer-Encoding: base64", 0, "field: base64");
    expect_field("Content-Disposition: form-data; name=a" CRLF
                 "Content-Transfer-Encoding: quoted-printable", 0,
                 "field: quoted-printable");
}


static void
test_header_values(void)
{
    int                     rc;
    const char             *v;
    const uint8_t          *p, *end;
    twofa_multipart_str_t   type, name, value;

    v = " multipart/form-data ;; boundary=\"a b\";charset=utf-8;";
    p = (const uint8_t *) v;
    end = p + strlen(v);

    is_int(twofa_multipart_media_type(&p, end, &type), 0, "type: parsed");
    ok(str_is(type, "multipart/form-data"), "type: the media type");

    rc = twofa_multipart_param(&p, end, &name, &value);
    ok(rc == 1 && str_is(name, "boundary") && str_is(value, "a b"),
       "param: quoted, after an empty one");
    rc = twofa_multipart_param(&p, end, &name, &value);
    ok(rc == 1 && str_is(name, "charset") && str_is(value, "utf-8"),
       "param: token");
    is_int(twofa_multipart_param(&p, end, &name, &value), 0,
           "param: the end, after a trailing ';'");
    ok(p == end, "param: all read");

    p = (const uint8_t *) "text";
    is_int(twofa_multipart_media_type(&p, p + 4, &type), -1,
           "type: no subtype");
    p = (const uint8_t *) "text/";
    is_int(twofa_multipart_media_type(&p, p + 5, &type), -1,
           "type: empty subtype");
    p = (const uint8_t *) "/plain";
    is_int(twofa_multipart_media_type(&p, p + 6, &type), -1,
           "type: empty type");
    p = (const uint8_t *) "";
    is_int(twofa_multipart_media_type(&p, p, &type), -1, "type: nothing");

    p = (const uint8_t *) " x=y";
    is_int(twofa_multipart_param(&p, p + 4, &name, &value), -1,
           "param: no ';'");
    p = (const uint8_t *) "; x=";
    is_int(twofa_multipart_param(&p, p + 4, &name, &value), -1,
           "param: empty value");
    p = (const uint8_t *) "; =y";
    is_int(twofa_multipart_param(&p, p + 4, &name, &value), -1,
           "param: empty name");
    p = (const uint8_t *) "; x=\"y";
    is_int(twofa_multipart_param(&p, p + 6, &name, &value), -1,
           "param: unterminated quote");
    p = (const uint8_t *) "; x=\"a\\b\"";
    is_int(twofa_multipart_param(&p, p + 9, &name, &value), -1,
           "param: backslash");
    p = (const uint8_t *) "; x=\"a\nb\"";
    is_int(twofa_multipart_param(&p, p + 9, &name, &value), -1,
           "param: control character");
    p = (const uint8_t *) "; x=\"\"";
    rc = twofa_multipart_param(&p, p + 6, &name, &value);
    ok(rc == 1 && value.data != NULL && value.len == 0,
       "param: empty quoted string is given, not NULL");

    ok(twofa_multipart_ieq(str("Content-TYPE"), "content-type"),
       "ieq: case");
    ok(!twofa_multipart_ieq(str("content-typ"), "content-type"),
       "ieq: shorter");
    ok(!twofa_multipart_ieq(str("content-types"), "content-type"),
       "ieq: longer");
    ok(twofa_multipart_utf8_charset(str("UTF-8"))
       && twofa_multipart_utf8_charset(str("Utf8")), "charset: UTF-8");
    ok(!twofa_multipart_utf8_charset(str("utf-16"))
       && !twofa_multipart_utf8_charset(str("")), "charset: others");
}


static void
test_boundary(void)
{
    twofa_multipart_str_t  b;

    ok(twofa_multipart_boundary_valid(str("XyZ")), "boundary: token");
    ok(twofa_multipart_boundary_valid(str("a b:c'()+_,-./=?")),
       "boundary: every bchar");
    ok(twofa_multipart_boundary_valid(str("123456789012345678901234567890"
                                          "123456789012345678901234567890"
                                          "1234567890")),
       "boundary: 70 characters");
    ok(!twofa_multipart_boundary_valid(str("123456789012345678901234567890"
                                           "123456789012345678901234567890"
                                           "12345678901")),
       "boundary: 71 characters");
    ok(!twofa_multipart_boundary_valid(str("")), "boundary: empty");
    ok(!twofa_multipart_boundary_valid(str("a ")),
       "boundary: ends in a space");
    ok(!twofa_multipart_boundary_valid(str("a<b")), "boundary: '<'");
    ok(!twofa_multipart_boundary_valid(str("a\"b")), "boundary: quote");

    b.data = (const uint8_t *) "a\0b";
    b.len = 3;
    ok(!twofa_multipart_boundary_valid(b), "boundary: NUL");
}


int
main(void)
{
    test_parts();
    test_stop();
    test_malformed();
    test_is_field();
    test_header_values();
    test_boundary();

    return done();
}
