/*
 * One field of a login body: urlencoded, multipart and JSON bodies as
 * browsers and scripts send them, and every body an app might read
 * differently from the module (the field twice or under a variant name,
 * escapes, truncation, a Content-Type the body disagrees with).
 */

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "twofa_form.h"


#define FORM   "application/x-www-form-urlencoded"
#define MULTI  "multipart/form-data; boundary=XyZ"
#define JSON   "application/json"

#define CRLF   "\r\n"
#define PART(name, value)                                                    \
    "--XyZ" CRLF "Content-Disposition: form-data; name=\"" name "\"" CRLF    \
    CRLF value CRLF
#define CLOSE  "--XyZ--" CRLF


static const char *
status_name(twofa_form_status_t st)
{
    static const char  *names[] = {
        "FOUND", "ABSENT", "DUPLICATE", "MALFORMED", "TOO_LARGE",
        "UNSUPPORTED", "NO_MEMORY"
    };

    return (unsigned) st <= TWOFA_FORM_NO_MEMORY ? names[st] : "?";
}


/*
 * Two tests: the status, and the value (or *out_len 0 when there is
 * none).  Lengths are given so that bodies and values may hold NULs.
 */

static void
expect_n(const char *ct, const char *body, size_t body_len,
    const char *name, size_t out_size, twofa_form_status_t want,
    const char *value, size_t value_len, const char *what)
{
    char                 out[512];
    size_t               len;
    twofa_form_status_t  st;

    memset(out, 0x5a, sizeof(out));
    len = 12345;

    st = twofa_form_field(ct, strlen(ct), body, body_len, name, strlen(name),
                          out, out_size, &len);

    if (!ok(st == want, "%s: %s", what, status_name(want))) {
        diag("got %s", status_name(st));
    }

    if (want == TWOFA_FORM_FOUND) {
        if (!ok(st == want && len == value_len
                && memcmp(out, value, len) == 0, "%s: value", what))
        {
            diag("got %zu bytes '%.*s'", len,
                 (int) (len < sizeof(out) ? len : 0), out);
        }

    } else {
        ok(len == 0, "%s: no value", what);
    }
}


static void
expect(const char *ct, const char *body, const char *name,
    twofa_form_status_t want, const char *value, const char *what)
{
    expect_n(ct, body, strlen(body), name, 256, want, value,
             value != NULL ? strlen(value) : 0, what);
}


static void
test_urlencoded(void)
{
    expect(FORM, "username=alice&password=secret", "username",
           TWOFA_FORM_FOUND, "alice", "form: first field");
    expect(FORM, "password=s&username=al%69ce", "username",
           TWOFA_FORM_FOUND, "alice", "form: last field, %-escape");
    expect(FORM, "username=alice&password=secret", "password",
           TWOFA_FORM_FOUND, "secret", "form: another name");
    expect(FORM, "username=jos%C3%A9", "username", TWOFA_FORM_FOUND,
           "jos\xc3\xa9", "form: accented");
    expect(FORM, "username=%d0%b0%d0%bb%d0%b8%d1%81%d0%b0", "username",
           TWOFA_FORM_FOUND, "\xd0\xb0\xd0\xbb\xd0\xb8\xd1\x81\xd0\xb0",
           "form: Cyrillic, lower-case hex");
    expect(FORM, "username=\xd0\xb0\xd0\xbb\xd0\xb8\xd1\x81\xd0\xb0",
           "username", TWOFA_FORM_FOUND,
           "\xd0\xb0\xd0\xbb\xd0\xb8\xd1\x81\xd0\xb0",
           "form: raw UTF-8 (curl -d)");
    expect(FORM, "username=CORP%5Cjdoe", "username", TWOFA_FORM_FOUND,
           "CORP\\jdoe", "form: domain login");
    expect(FORM, "username=alice%40example.com", "username",
           TWOFA_FORM_FOUND, "alice@example.com", "form: e-mail");
    expect(FORM, "username=alice@example.com", "username",
           TWOFA_FORM_FOUND, "alice@example.com", "form: raw e-mail");
    expect(FORM, "username=+alice+smith+", "username", TWOFA_FORM_FOUND,
           " alice smith ", "form: '+' is a space");
    expect(FORM, "username=a%2Bb", "username", TWOFA_FORM_FOUND, "a+b",
           "form: %2B is '+'");
    expect(FORM, "us%65rname=bob", "username", TWOFA_FORM_FOUND, "bob",
           "form: name decoded");
    expect(FORM, "user+name=bob", "user name", TWOFA_FORM_FOUND, "bob",
           "form: '+' in a name");
    expect(FORM, "username=a=b", "username", TWOFA_FORM_FOUND, "a=b",
           "form: '=' in a value");
    expect(FORM, "username=", "username", TWOFA_FORM_FOUND, "",
           "form: empty value");
    expect(FORM, "a=1&username&b=2", "username", TWOFA_FORM_FOUND, "",
           "form: name without '='");
    expect(FORM, "&&username=alice&&", "username", TWOFA_FORM_FOUND, "alice",
           "form: empty pairs");
    expect(FORM, "x=1;username=alice", "username", TWOFA_FORM_FOUND, "alice",
           "form: after a ';'");
    expect_n(FORM, "username=a%00b", 14, "username", 256, TWOFA_FORM_FOUND,
             "a\0b", 3, "form: %00 given back raw");
    expect(FORM, "password=secret", "username", TWOFA_FORM_ABSENT, NULL,
           "form: absent");
    expect(FORM, "", "username", TWOFA_FORM_ABSENT, NULL, "form: empty body");
    expect(FORM, "usernam=alice&usernames=bob", "username",
           TWOFA_FORM_ABSENT, NULL, "form: near names are others");

    /* Twice, or once more under a name some app takes for it */

    expect(FORM, "username=alice&username=bob", "username",
           TWOFA_FORM_DUPLICATE, NULL, "form: twice");
    expect(FORM, "username=alice&password=x&username=alice", "username",
           TWOFA_FORM_DUPLICATE, NULL, "form: twice, same value");
    expect(FORM, "username=alice&us%65rname=bob", "username",
           TWOFA_FORM_DUPLICATE, NULL, "form: twice, once escaped");
    expect(FORM, "username=alice&Username=bob", "username",
           TWOFA_FORM_DUPLICATE, NULL, "form: other case (ASP.NET)");
    expect(FORM, "Username=bob", "username", TWOFA_FORM_DUPLICATE, NULL,
           "form: only under another case");
    expect(FORM, "username=alice&username[]=bob", "username",
           TWOFA_FORM_DUPLICATE, NULL, "form: PHP array");
    expect(FORM, "user_name=alice&user.name=bob", "user_name",
           TWOFA_FORM_DUPLICATE, NULL, "form: PHP '.' for '_'");
    expect(FORM, "user_name=alice&user+name=bob", "user_name",
           TWOFA_FORM_DUPLICATE, NULL, "form: PHP ' ' for '_'");
    expect(FORM, "username=alice&+username=bob", "username",
           TWOFA_FORM_DUPLICATE, NULL, "form: leading space");
    expect(FORM, "username=alice&username%00x=bob", "username",
           TWOFA_FORM_DUPLICATE, NULL, "form: NUL in a name");
    expect(FORM, "username=alice&u%C5%BFername=bob", "username",
           TWOFA_FORM_DUPLICATE, NULL, "form: long s (.NET folds it)");
    expect(FORM, "x=1;username=bob&username=alice", "username",
           TWOFA_FORM_DUPLICATE, NULL, "form: second after a ';'");
    expect(FORM, "session[email]=a&session[password]=b", "session[email]",
           TWOFA_FORM_FOUND, "a", "form: Rails-style name");

    /* Malformed, or a body of another type */

    expect(FORM, "username=alice;x=1", "username", TWOFA_FORM_MALFORMED,
           NULL, "form: value runs into a ';'");
    expect(FORM, "username=%zz", "username", TWOFA_FORM_MALFORMED, NULL,
           "form: bad escape");
    expect(FORM, "username=alice%4", "username", TWOFA_FORM_MALFORMED, NULL,
           "form: truncated escape");
    expect(FORM, "password=100%&username=alice", "username",
           TWOFA_FORM_MALFORMED, NULL, "form: bad escape in another field");
    expect(FORM, "username=jos\xc3\xa9&x=\xff", "username",
           TWOFA_FORM_MALFORMED, NULL, "form: raw bytes not UTF-8");
    expect(FORM, "username=jos%E9", "username", TWOFA_FORM_FOUND, "jos\xe9",
           "form: escaped Latin-1 given back raw");
    expect(FORM, "{\"username\":\"alice\"}", "username",
           TWOFA_FORM_MALFORMED, NULL, "form: JSON body");
    expect(FORM, PART("username", "alice") CLOSE, "username",
           TWOFA_FORM_MALFORMED, NULL, "form: multipart body");

    /* Sizes */

    expect_n(FORM, "username=alice", 14, "username", 4,
             TWOFA_FORM_TOO_LARGE, NULL, 0, "form: one byte short");
    expect_n(FORM, "username=alice", 14, "username", 5, TWOFA_FORM_FOUND,
             "alice", 5, "form: exact room");
    expect_n(FORM, "username=%61%6c%69%63%65", 24, "username", 5,
             TWOFA_FORM_FOUND, "alice", 5, "form: exact room, decoded");
    expect_n(FORM, "username=alice&username=b", 25, "username", 1,
             TWOFA_FORM_DUPLICATE, NULL, 0, "form: duplicate before size");
}


static void
test_content_type(void)
{
    expect("Application/X-WWW-Form-URLEncoded; Charset=UTF-8",
           "username=alice", "username", TWOFA_FORM_FOUND, "alice",
           "type: case-insensitive, charset");
    expect(FORM ";charset=\"utf-8\"", "username=alice", "username",
           TWOFA_FORM_FOUND, "alice", "type: quoted charset");
    expect(FORM " ; charset=utf8 ;", "username=alice", "username",
           TWOFA_FORM_FOUND, "alice", "type: spaces, trailing ';'");
    expect(FORM "; charset=ISO-8859-1", "username=jos%E9", "username",
           TWOFA_FORM_UNSUPPORTED, NULL, "type: Latin-1");
    expect(FORM "; charset=utf-7", "username=+AGEAbABpAGMAZQ-", "username",
           TWOFA_FORM_UNSUPPORTED, NULL, "type: UTF-7");
    expect(FORM "; charset=us-ascii", "username=alice", "username",
           TWOFA_FORM_UNSUPPORTED, NULL, "type: US-ASCII");
    expect(FORM "; charset=utf-8; charset=utf-8", "username=alice",
           "username", TWOFA_FORM_MALFORMED, NULL, "type: charset twice");
    expect(FORM "; charset", "username=alice", "username",
           TWOFA_FORM_MALFORMED, NULL, "type: parameter without value");
    expect(FORM "; charset=\"utf-8", "username=alice", "username",
           TWOFA_FORM_MALFORMED, NULL, "type: unterminated quote");
    expect(FORM " charset=utf-8", "username=alice", "username",
           TWOFA_FORM_MALFORMED, NULL, "type: parameter without ';'");
    expect("text/plain", "username=alice", "username",
           TWOFA_FORM_UNSUPPORTED, NULL, "type: text/plain");
    expect("application/x-www-form-urlencodedx", "username=alice",
           "username", TWOFA_FORM_UNSUPPORTED, NULL, "type: longer name");
    expect("multipart/mixed; boundary=XyZ", PART("username", "alice") CLOSE,
           "username", TWOFA_FORM_UNSUPPORTED, NULL, "type: multipart/mixed");
    expect("", "username=alice", "username", TWOFA_FORM_UNSUPPORTED, NULL,
           "type: none");
    expect("application", "username=alice", "username",
           TWOFA_FORM_UNSUPPORTED, NULL, "type: no subtype");
}


static void
test_multipart(void)
{
    expect(MULTI, PART("username", "alice") PART("password", "s") CLOSE,
           "username", TWOFA_FORM_FOUND, "alice", "multipart: first part");
    expect(MULTI, PART("password", "s") PART("username", "alice") CLOSE,
           "username", TWOFA_FORM_FOUND, "alice", "multipart: last part");
    expect(MULTI, PART("username", "\xd0\xb0\xd0\xbb\xd0\xb8\xd1\x81\xd0\xb0")
           CLOSE, "username", TWOFA_FORM_FOUND,
           "\xd0\xb0\xd0\xbb\xd0\xb8\xd1\x81\xd0\xb0", "multipart: Cyrillic");
    expect(MULTI, PART("username", "CORP\\jdoe") CLOSE, "username",
           TWOFA_FORM_FOUND, "CORP\\jdoe", "multipart: domain login");
    expect(MULTI, PART("username", "") CLOSE, "username", TWOFA_FORM_FOUND,
           "", "multipart: empty value");
    expect(MULTI, PART("note", "line 1" CRLF "line 2")
           PART("username", "a" CRLF "b") CLOSE, "username",
           TWOFA_FORM_FOUND, "a" CRLF "b", "multipart: CRLF in values");
    expect(MULTI, "--XyZ" CRLF "Content-Disposition: form-data; name=username"
           CRLF CRLF "alice" CRLF CLOSE, "username", TWOFA_FORM_FOUND,
           "alice", "multipart: unquoted name");
    expect(MULTI, "--XyZ" CRLF "content-disposition:FORM-DATA;NAME=\"username\""
           CRLF "Content-Type: text/plain; charset=UTF-8" CRLF
           "Content-Transfer-Encoding: 8bit" CRLF "X-Other: y" CRLF CRLF
           "alice" CRLF CLOSE, "username", TWOFA_FORM_FOUND, "alice",
           "multipart: header case, type, encoding");
    expect(MULTI, CRLF CRLF PART("username", "alice") CLOSE CRLF, "username",
           TWOFA_FORM_FOUND, "alice", "multipart: empty lines around");
    expect(MULTI, PART("username", "alice") "--XyZ--", "username",
           TWOFA_FORM_FOUND, "alice", "multipart: no CRLF after the close");
    expect(MULTI, "--XyZ" CRLF "Content-Disposition: form-data; "
           "name=\"avatar\"; filename=\"a.png\"" CRLF
           "Content-Type: image/png" CRLF CRLF "\x89PNG" CRLF
           PART("username", "alice") CLOSE, "username", TWOFA_FORM_FOUND,
           "alice", "multipart: a file part besides");
    expect(MULTI, "--XyZ" CRLF CRLF "no headers" CRLF "--XyZ" CRLF CRLF
           PART("username", "alice") CLOSE, "username", TWOFA_FORM_FOUND,
           "alice", "multipart: parts without headers");
    expect("multipart/form-data; boundary=\"----WebKitFormBoundary7MA4YWx\"",
           "------WebKitFormBoundary7MA4YWx" CRLF
           "Content-Disposition: form-data; name=\"username\"" CRLF CRLF
           "alice" CRLF "------WebKitFormBoundary7MA4YWx--" CRLF, "username",
           TWOFA_FORM_FOUND, "alice", "multipart: browser boundary, quoted");
    expect("Multipart/Form-Data; charset=utf-8; boundary=\"a b:c\"",
           "--a b:c" CRLF "Content-Disposition: form-data; name=\"username\""
           CRLF CRLF "alice" CRLF "--a b:c--", "username", TWOFA_FORM_FOUND,
           "alice", "multipart: boundary with space and colon");
    expect(MULTI, PART("password", "s") CLOSE, "username", TWOFA_FORM_ABSENT,
           NULL, "multipart: absent");
    expect(MULTI, "--XyZ--" CRLF, "username", TWOFA_FORM_ABSENT, NULL,
           "multipart: no parts");

    /* Twice, or under a variant name */

    expect(MULTI, PART("username", "alice") PART("username", "bob") CLOSE,
           "username", TWOFA_FORM_DUPLICATE, NULL, "multipart: twice");
    expect(MULTI, PART("username", "alice") PART("USERNAME", "bob") CLOSE,
           "username", TWOFA_FORM_DUPLICATE, NULL, "multipart: other case");
    expect(MULTI, PART("username", "alice") PART("username[]", "bob") CLOSE,
           "username", TWOFA_FORM_DUPLICATE, NULL, "multipart: PHP array");

    /* Truncated or ambiguous */

    expect(MULTI, PART("username", "alice"), "username",
           TWOFA_FORM_MALFORMED, NULL, "multipart: no closing boundary");
    expect(MULTI, "--XyZ" CRLF "Content-Disposition: form-data; name=\"user",
           "username", TWOFA_FORM_MALFORMED, NULL,
           "multipart: cut in a header");
    expect(MULTI, "--XyZ" CRLF "Content-Disposition: form-data; "
           "name=\"username\"" CRLF CRLF "alice", "username",
           TWOFA_FORM_MALFORMED, NULL, "multipart: cut in the value");
    expect(MULTI, PART("username", "alice") "--XyZ", "username",
           TWOFA_FORM_MALFORMED, NULL, "multipart: cut after a delimiter");
    expect(MULTI, "", "username", TWOFA_FORM_MALFORMED, NULL,
           "multipart: empty body");
    expect(MULTI, "--XyZ\nContent-Disposition: form-data; name=\"username\""
           "\n\nalice\n--XyZ--\n", "username", TWOFA_FORM_MALFORMED, NULL,
           "multipart: LF line ends");
    expect(MULTI, PART("password", "x\n--XyZ" CRLF "Content-Disposition: "
           "form-data; name=\"username\"" CRLF CRLF "bob")
           PART("username", "alice") CLOSE, "username", TWOFA_FORM_MALFORMED,
           NULL, "multipart: a bare-LF delimiter hidden in a value");
    expect(MULTI, "--XyZ  " CRLF "Content-Disposition: form-data; "
           "name=\"username\"" CRLF CRLF "alice" CRLF CLOSE, "username",
           TWOFA_FORM_MALFORMED, NULL, "multipart: transport padding");
    expect(MULTI, "--XyZ" CRLF "Content-Disposition: form-data; "
           "name=\"username\"" CRLF CRLF "alice--XyZ--" CRLF, "username",
           TWOFA_FORM_MALFORMED, NULL, "multipart: delimiter without CRLF");
    expect(MULTI, PART("username", "alice") "--XyZx" CRLF CLOSE, "username",
           TWOFA_FORM_MALFORMED, NULL, "multipart: longer boundary line");
    expect(MULTI, PART("username", "alice") CLOSE PART("username", "bob")
           CLOSE, "username", TWOFA_FORM_MALFORMED, NULL,
           "multipart: parts after the close");
    expect(MULTI, "preamble" CRLF PART("username", "alice") CLOSE,
           "username", TWOFA_FORM_MALFORMED, NULL, "multipart: preamble");
    expect(MULTI, PART("username", "alice") CLOSE "epilogue", "username",
           TWOFA_FORM_MALFORMED, NULL, "multipart: epilogue");
    expect(MULTI, "Content-Disposition: form-data; name=\"username\"" CRLF
           CRLF "mallory" CRLF PART("username", "alice") CLOSE, "username",
           TWOFA_FORM_MALFORMED, NULL,
           "multipart: a part in the preamble (Django reads it)");
    expect(MULTI, PART("username", "alice") CLOSE "Content-Disposition: "
           "form-data; name=\"username\"" CRLF CRLF "mallory", "username",
           TWOFA_FORM_MALFORMED, NULL,
           "multipart: a part in the epilogue (Django reads it)");
    expect(MULTI, "x--XyZ" CRLF "Content-Disposition: form-data; "
           "name=\"username\"" CRLF CRLF "alice" CRLF CLOSE, "username",
           TWOFA_FORM_MALFORMED, NULL, "multipart: preamble without CRLF");
    expect(MULTI, "--XyZ" CRLF "Content-Disposition: form-data;" CRLF
           " name=\"username\"" CRLF CRLF "alice" CRLF CLOSE, "username",
           TWOFA_FORM_MALFORMED, NULL, "multipart: folded header");
    expect(MULTI, "--XyZ" CRLF "Content-Disposition : form-data; "
           "name=\"username\"" CRLF CRLF "alice" CRLF CLOSE, "username",
           TWOFA_FORM_MALFORMED, NULL, "multipart: space before colon");
    expect(MULTI, "--XyZ" CRLF "Content-Disposition: form-data; "
           "name=\"username\"" CRLF "Content-Disposition: form-data; "
           "name=\"x\"" CRLF CRLF "alice" CRLF CLOSE, "username",
           TWOFA_FORM_MALFORMED, NULL, "multipart: disposition twice");
    expect(MULTI, "--XyZ" CRLF "Content-Disposition: form-data; "
           "name=\"username\"; name=\"x\"" CRLF CRLF "alice" CRLF CLOSE,
           "username", TWOFA_FORM_MALFORMED, NULL, "multipart: name twice");
    expect(MULTI, "--XyZ" CRLF "Content-Disposition: form-data; "
           "name*=UTF-8''username" CRLF CRLF "alice" CRLF CLOSE, "username",
           TWOFA_FORM_MALFORMED, NULL, "multipart: name*");
    expect(MULTI, "--XyZ" CRLF "Content-Disposition: form-data; "
           "name=\"user\\\"name\"" CRLF CRLF "alice" CRLF CLOSE, "username",
           TWOFA_FORM_MALFORMED, NULL, "multipart: backslash in a name");
    expect(MULTI, "--XyZ" CRLF "Content-Disposition: form-data; "
           "name=\"username\"; filename=\"\"" CRLF CRLF "alice" CRLF CLOSE,
           "username", TWOFA_FORM_MALFORMED, NULL,
           "multipart: the field as a file");
    expect(MULTI, "--XyZ" CRLF "Content-Disposition: attachment; "
           "name=\"username\"" CRLF CRLF "alice" CRLF CLOSE, "username",
           TWOFA_FORM_MALFORMED, NULL, "multipart: not form-data");
    expect(MULTI, "--XyZ" CRLF "Content-Disposition: form-data; "
           "name=\"username\"" CRLF "Content-Transfer-Encoding: base64"
           CRLF CRLF "YWxpY2U=" CRLF CLOSE, "username", TWOFA_FORM_MALFORMED,
           NULL, "multipart: base64 transfer encoding");
    expect(MULTI, "--XyZ" CRLF "Content-Disposition: form-data; "
           "name=\"username\"" CRLF "Content-Type: text/plain; "
           "charset=iso-8859-1" CRLF CRLF "jos\xe9" CRLF CLOSE, "username",
           TWOFA_FORM_MALFORMED, NULL, "multipart: part in Latin-1");
    expect(MULTI, "--XyZ" CRLF "Content-Disposition: form-data; "
           "name=\"username\"" CRLF "no colon" CRLF CRLF "alice" CRLF CLOSE,
           "username", TWOFA_FORM_MALFORMED, NULL,
           "multipart: header without colon");
    expect(MULTI, "--XyZ" CRLF "Content-Disposition: form-data; "
           "name=\"username\"" CRLF "alice" CRLF CLOSE, "username",
           TWOFA_FORM_MALFORMED, NULL, "multipart: no blank line");
    expect(MULTI, "username=alice", "username", TWOFA_FORM_MALFORMED, NULL,
           "multipart: urlencoded body");
    expect(MULTI, "{\"username\":\"alice\"}", "username",
           TWOFA_FORM_MALFORMED, NULL, "multipart: JSON body");
    expect("multipart/form-data", PART("username", "alice") CLOSE,
           "username", TWOFA_FORM_MALFORMED, NULL, "multipart: no boundary");
    expect("multipart/form-data; boundary=\"\"", "--" CRLF, "username",
           TWOFA_FORM_MALFORMED, NULL, "multipart: empty boundary");
    expect("multipart/form-data; boundary=a; boundary=b", "--a--",
           "username", TWOFA_FORM_MALFORMED, NULL,
           "multipart: boundary twice");
    expect("multipart/form-data; boundary=\"a<b\"", "--a<b--", "username",
           TWOFA_FORM_MALFORMED, NULL, "multipart: bad boundary character");
    expect("multipart/form-data; boundary=\"a \"", "--a --", "username",
           TWOFA_FORM_MALFORMED, NULL, "multipart: boundary ends in space");
    expect("multipart/form-data; boundary=12345678901234567890123456789"
           "012345678901234567890123456789012345678901",
           "--12345678901234567890123456789012345678901234567890123456789"
           "012345678901--", "username", TWOFA_FORM_MALFORMED, NULL,
           "multipart: 71-character boundary");

    expect_n(MULTI, PART("username", "alice") CLOSE,
             strlen(PART("username", "alice") CLOSE), "username", 4,
             TWOFA_FORM_TOO_LARGE, NULL, 0, "multipart: too large");
    expect_n(MULTI, PART("username", "a\0b") CLOSE,
             sizeof(PART("username", "a\0b") CLOSE) - 1, "username", 256,
             TWOFA_FORM_FOUND, "a\0b", 3, "multipart: NUL given back raw");
}


static void
test_json(void)
{
    expect(JSON, "{\"username\":\"alice\",\"password\":\"s\"}", "username",
           TWOFA_FORM_FOUND, "alice", "json: member");
    expect(JSON "; charset=UTF-8", " { \"password\" : \"s\" ,\n"
           " \"username\" : \"alice\" } \n", "username", TWOFA_FORM_FOUND,
           "alice", "json: white space, charset");
    expect(JSON, "{\"username\":\"\\u0430\\u043b\\u0438\\u0441\\u0430\"}",
           "username", TWOFA_FORM_FOUND,
           "\xd0\xb0\xd0\xbb\xd0\xb8\xd1\x81\xd0\xb0", "json: \\u escapes");
    expect(JSON, "{\"username\":\"Jos\xc3\xa9\"}", "username",
           TWOFA_FORM_FOUND, "Jos\xc3\xa9", "json: raw UTF-8");
    expect(JSON, "{\"username\":\"CORP\\\\jdoe\"}", "username",
           TWOFA_FORM_FOUND, "CORP\\jdoe", "json: escaped backslash");
    expect(JSON, "{\"\\u0075sername\":\"alice\"}", "username",
           TWOFA_FORM_FOUND, "alice", "json: escaped name");
    expect(JSON, "{\"username\":\"\",\"x\":{\"username\":1}}", "username",
           TWOFA_FORM_FOUND, "", "json: nested member does not count");
    expect(JSON, "{\"user\":{\"username\":\"alice\"}}", "username",
           TWOFA_FORM_ABSENT, NULL, "json: only nested");
    expect(JSON, "{}", "username", TWOFA_FORM_ABSENT, NULL,
           "json: empty object");

    expect(JSON, "{\"username\":\"alice\",\"username\":\"bob\"}", "username",
           TWOFA_FORM_DUPLICATE, NULL, "json: duplicate key");
    expect(JSON, "{\"username\":\"alice\",\"\\u0075sername\":\"bob\"}",
           "username", TWOFA_FORM_DUPLICATE, NULL,
           "json: duplicate key, escaped");
    expect(JSON, "{\"username\":\"alice\",\"UserName\":\"bob\"}", "username",
           TWOFA_FORM_DUPLICATE, NULL, "json: other case");

    expect(JSON, "{\"username\":{\"name\":\"alice\"}}", "username",
           TWOFA_FORM_MALFORMED, NULL, "json: object value");
    expect(JSON, "{\"username\":[\"alice\"]}", "username",
           TWOFA_FORM_MALFORMED, NULL, "json: array value");
    expect(JSON, "{\"username\":42}", "username", TWOFA_FORM_MALFORMED, NULL,
           "json: number value");
    expect(JSON, "{\"username\":null}", "username", TWOFA_FORM_MALFORMED,
           NULL, "json: null value");
    expect(JSON, "{\"username\":true}", "username", TWOFA_FORM_MALFORMED,
           NULL, "json: boolean value");
    expect(JSON, "{\"username\":\"a\\u0000b\"}", "username",
           TWOFA_FORM_MALFORMED, NULL, "json: NUL in a string");
    expect(JSON, "{\"username\":\"jos\xe9\"}", "username",
           TWOFA_FORM_MALFORMED, NULL, "json: invalid UTF-8");
    expect(JSON, "[{\"username\":\"alice\"}]", "username",
           TWOFA_FORM_MALFORMED, NULL, "json: array at the top");
    expect(JSON, "\"alice\"", "username", TWOFA_FORM_MALFORMED, NULL,
           "json: string at the top");
    expect(JSON, "{\"username\":\"alice\"", "username", TWOFA_FORM_MALFORMED,
           NULL, "json: truncated");
    expect(JSON, "{\"username\":\"alice\"} x", "username",
           TWOFA_FORM_MALFORMED, NULL, "json: trailing garbage");
    expect(JSON, "{\"username\":\"alice\"}{}", "username",
           TWOFA_FORM_MALFORMED, NULL, "json: two documents");
    expect(JSON, "{'username':'alice'}", "username", TWOFA_FORM_MALFORMED,
           NULL, "json: single quotes");
    expect(JSON, "", "username", TWOFA_FORM_MALFORMED, NULL,
           "json: empty body");
    expect(JSON, "username=alice", "username", TWOFA_FORM_MALFORMED, NULL,
           "json: urlencoded body");
    expect(JSON, PART("username", "alice") CLOSE, "username",
           TWOFA_FORM_MALFORMED, NULL, "json: multipart body");
    expect(JSON "; charset=utf-16", "{\"username\":\"alice\"}", "username",
           TWOFA_FORM_UNSUPPORTED, NULL, "json: UTF-16 charset");

    expect_n(JSON, "{\"username\":\"alice\"}", 20, "username", 4,
             TWOFA_FORM_TOO_LARGE, NULL, 0, "json: too large");
    expect_n(JSON, "{\"username\":\"alice\"}", 20, "username", 5,
             TWOFA_FORM_FOUND, "alice", 5, "json: exact room");
}


static void
test_deep_and_large(void)
{
    char    *body, out[16];
    size_t   i, n, len;

    /* Deep nesting in another member: refused or parsed, never a crash. */

    n = 100000;
    body = malloc(2 * n + 64);

    if (body == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(255);
    }

    len = (size_t) sprintf(body, "{\"username\":\"alice\",\"x\":");

    for (i = 0; i < n; i++) {
        body[len++] = '[';
    }

    for (i = 0; i < n; i++) {
        body[len++] = ']';
    }

    body[len++] = '}';

    is_int(twofa_form_field(JSON, strlen(JSON), body, len, "username", 8,
                            out, sizeof(out), &n),
           TWOFA_FORM_MALFORMED, "json: 100000 nested arrays refused");

    /* A long run of '-' against the boundary search. */

    memset(body, '-', 200000);
    is_int(twofa_form_field(MULTI, strlen(MULTI), body, 200000, "username",
                            8, out, sizeof(out), &n),
           TWOFA_FORM_MALFORMED, "multipart: 200000 dashes");

    free(body);
}


static void
test_reasons(void)
{
    int          distinct;
    size_t       i, j;
    const char  *r[TWOFA_FORM_NO_MEMORY + 1];

    distinct = 1;

    for (i = 0; i <= TWOFA_FORM_NO_MEMORY; i++) {
        r[i] = twofa_form_reason((twofa_form_status_t) i);

        for (j = 0; j < i; j++) {
            if (r[i] == NULL || strcmp(r[i], r[j]) == 0) {
                distinct = 0;
            }
        }
    }

    ok(distinct, "distinct reasons");
    is_str(twofa_form_reason(TWOFA_FORM_MALFORMED), "malformed body",
           "reason of MALFORMED");
    is_str(twofa_form_reason((twofa_form_status_t) 99),
           "unknown form status", "reason of a bad status");
}


int
main(void)
{
    test_urlencoded();
    test_content_type();
    test_multipart();
    test_json();
    test_deep_and_large();
    test_reasons();

    return done();
}
