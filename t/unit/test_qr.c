/*
 * QR SVG: rendered by rsvg-convert and read back by zbarimg, the text
 * must come back exactly; plus the markup the pages rely on.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "twofa_qr.h"


static char  tmpdir[] = "/tmp/twofa-qr-XXXXXX";


/* Runs cmd through the shell; its standard output into out. */

static int
run(const char *cmd, char *out, size_t size)
{
    int     status;
    FILE   *p;
    size_t  n;

    p = popen(cmd, "r");
    if (p == NULL) {
        return -1;
    }

    n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    status = pclose(p);

    return status;
}


static void
round_trip(const char *text, const char *name)
{
    int      status;
    char     cmd[512], path[256], got[4096];
    char    *svg;
    FILE    *f;
    size_t   len, svg_len;

    svg = twofa_qr_svg(text, strlen(text), "twofa-qr", &svg_len);

    if (!ok(svg != NULL && svg_len == strlen(svg), "%s: svg made", name)) {
        free(svg);
        return;
    }

    snprintf(path, sizeof(path), "%s/qr.svg", tmpdir);
    f = fopen(path, "w");
    if (f == NULL || fwrite(svg, 1, svg_len, f) != svg_len || fclose(f) != 0)
    {
        ok(0, "%s: write %s", name, path);
        free(svg);
        return;
    }

    free(svg);

    snprintf(cmd, sizeof(cmd), "rsvg-convert -w 600 -b white %s/qr.svg "
             "-o %s/qr.png 2>&1", tmpdir, tmpdir);
    status = run(cmd, got, sizeof(got));
    if (!is_int(status, 0, "%s: rsvg-convert (Debian librsvg2-bin)", name)) {
        diag("%s", got);
        return;
    }

    /* zbarimg complains on stderr about D-Bus when there is none. */

    snprintf(cmd, sizeof(cmd), "zbarimg --raw -q %s/qr.png 2>%s/zbar.err",
             tmpdir, tmpdir);
    status = run(cmd, got, sizeof(got));
    if (!is_int(status, 0, "%s: zbarimg (Debian zbar-tools) finds a code",
                name))
    {
        snprintf(cmd, sizeof(cmd), "cat %s/zbar.err", tmpdir);
        run(cmd, got, sizeof(got));
        diag("%s", got);
        return;
    }

    len = strlen(got);
    if (len > 0 && got[len - 1] == '\n') {
        got[len - 1] = '\0';
    }

    is_str(got, text, "%s: decodes to the exact text", name);
}


static void
test_round_trips(void)
{
    char  long_text[320];

    round_trip("hi", "short text");
    round_trip("otpauth://totp/Example:alice%40google.com"
               "?secret=JBSWY3DPEHPK3PXP&issuer=Example&algorithm=SHA1"
               "&digits=6&period=30", "otpauth URI");
    round_trip("otpauth://totp/ACME%20Contact%20Center"
               ":j.doe%2Bops%40acme.example?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
               "&issuer=ACME%20Contact%20Center&algorithm=SHA512&digits=8"
               "&period=60", "otpauth URI with escapes");

    snprintf(long_text, sizeof(long_text),
             "otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm=SHA256"
             "&digits=6&period=30",
             "Very%20Long%20Issuer%20Name%20Incorporated%20Worldwide",
             "firstname.lastname%2Bdepartment%40subsidiary.example.com",
             "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
             "GEZDGNBVGY3TQOJQ",
             "Very%20Long%20Issuer%20Name%20Incorporated%20Worldwide");
    ok(strlen(long_text) > 290, "long text is %zu characters",
       strlen(long_text));
    round_trip(long_text, "~300 character URI");
}


static void
test_markup(void)
{
    char    *svg;
    size_t   len;

    svg = twofa_qr_svg("hello", 5, "twofa-qr", &len);
    ok(svg != NULL, "markup: svg made");
    if (svg == NULL) {
        return;
    }

    ok(strncmp(svg, "<svg ", 5) == 0, "markup: starts with <svg");
    ok(strstr(svg, " id=\"twofa-qr\"") != NULL, "markup: id attribute");
    ok(strstr(svg, "xmlns=\"http://www.w3.org/2000/svg\"") != NULL,
       "markup: SVG namespace");
    /* "hello" fits version 1 (21 modules) + 2 x 4 quiet zone. */
    ok(strstr(svg, "viewBox=\"0 0 29 29\"") != NULL,
       "markup: viewBox in modules with the quiet zone");
    ok(strstr(svg, "shape-rendering=\"crispEdges\"") != NULL,
       "markup: crispEdges");
    ok(strstr(svg, "role=\"img\"") != NULL, "markup: role img");
    ok(strstr(svg, "aria-label=\"QR code\"") != NULL, "markup: aria-label");
    ok(strstr(svg, "<rect width=\"29\" height=\"29\" fill=\"#fff\"/>")
       != NULL, "markup: white background");
    ok(strstr(svg, "<path ") != NULL && strstr(strstr(svg, "<path ") + 1,
                                                "<path ") == NULL,
       "markup: one path");
    ok(strstr(svg, "d=\"M4 4h7v1h-7z") != NULL,
       "markup: first run is the top row of the finder pattern");
    ok(strstr(svg, " width=\"29\" height=\"29\" viewBox") == NULL
       && strncmp(svg, "<svg width", 10) != 0,
       "markup: no fixed size on the root");
    is_int(strcmp(svg + len - 6, "</svg>"), 0, "markup: ends with </svg>");
    free(svg);

    svg = twofa_qr_svg("hello", 5, NULL, &len);
    ok(svg != NULL && strstr(svg, " id=") == NULL, "markup: no id when NULL");
    free(svg);

    ok(twofa_qr_svg("hello", 5, "bad id", &len) == NULL, "id with a space");
    ok(twofa_qr_svg("hello", 5, "a\"b", &len) == NULL, "id with a quote");
    ok(twofa_qr_svg("hello", 5, "a<b", &len) == NULL, "id with '<'");
    ok(twofa_qr_svg("hello", 5, "", &len) == NULL, "empty id");
    ok(twofa_qr_svg("", 0, NULL, &len) == NULL, "empty text");

    svg = twofa_qr_svg("hello", 5, "Az09_-", &len);
    ok(svg != NULL, "id of [A-Za-z0-9_-] accepted");
    free(svg);

    /* Binary-safe: the length counts, not a NUL. */

    svg = twofa_qr_svg("a\0b", 3, NULL, &len);
    ok(svg != NULL, "text with a NUL byte");
    free(svg);
}


int
main(void)
{
    char  cmd[128];

    if (mkdtemp(tmpdir) == NULL) {
        ok(0, "temporary directory");
        return done();
    }

    test_round_trips();
    test_markup();

    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0) {
        diag("could not remove %s", tmpdir);
    }

    return done();
}
