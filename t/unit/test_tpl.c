/*
 * Templates: every construct, the escaping of each special character, raw
 * output allowed and refused, nested sections and the nesting limit, each
 * compile error and its message, render_len against the bytes written,
 * and the pages of templates/ with the names the module gives them.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "twofa_tpl.h"


/* The module's names, in its order (ngx_http_twofa_var_names). */

enum {
    V_TITLE = 0, V_ISSUER, V_CONTENT, V_USER, V_ORG, V_ACTION, V_CSRF,
    V_ERROR, V_SECRET, V_SECRET_GROUPED, V_OTPAUTH, V_QR, V_RECOVERY_ITEMS,
    V_RETURN, V_MESSAGE, V_STATUS, V_ENROLLED_AT, V_RECOVERY_LEFT,
    V_REQUIRED, V_ENABLED, V_ENABLE_ACTION, V_DISABLE_ACTION, V_HEADING,
    V_LINK, V_LINK_TEXT, V_COUNT
};

static const char *const  var_names[V_COUNT] = {
    "title", "issuer", "content", "user", "org", "action", "csrf", "error",
    "secret", "secret_grouped", "otpauth", "qr", "recovery_items", "return",
    "message", "status", "enrolled_at", "recovery_left", "required",
    "enabled", "enable_action", "disable_action", "heading", "link",
    "link_text"
};

#define BIT(i)       ((uint64_t) 1 << (i))
#define RAW_CAPABLE  (BIT(V_CONTENT) | BIT(V_QR) | BIT(V_RECOVERY_ITEMS))

/* Bytes after the output that render must leave alone. */
#define CANARY_LEN   16
#define CANARY       0x5a


static twofa_tpl_value_t  vars[V_COUNT];


static void
set(size_t var, const char *value)
{
    vars[var].data = value;
    vars[var].len = value ? strlen(value) : 0;
}


static void
clear_vars(void)
{
    memset(vars, 0, sizeof(vars));
}


static twofa_tpl_t *
compile_str(const char *src, char *err, size_t err_size)
{
    return twofa_tpl_compile(src, strlen(src), var_names, V_COUNT,
                             RAW_CAPABLE, err, err_size);
}


/*
 * The rendered page, NUL terminated, malloc'd.  *exact says whether
 * render returned render_len and wrote those bytes and no more.
 */

static char *
render(const twofa_tpl_t *tpl, int *exact)
{
    char    *out;
    size_t   i, len, wrote;

    len = twofa_tpl_render_len(tpl, vars);

    out = malloc(len + CANARY_LEN);
    if (out == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(255);
    }

    memset(out, CANARY, len + CANARY_LEN);

    wrote = twofa_tpl_render(tpl, vars, out);

    *exact = (wrote == len);

    for (i = len; i < len + CANARY_LEN; i++) {
        if ((unsigned char) out[i] != CANARY) {
            *exact = 0;
        }
    }

    out[len] = '\0';

    return out;
}


/* Compiles src, renders it with the current vars, compares with want. */

static void
expect(const char *src, const char *want, const char *name)
{
    int           exact;
    char          err[256], *out;
    twofa_tpl_t  *tpl;

    tpl = compile_str(src, err, sizeof(err));

    if (!ok(tpl != NULL, "%s: compiles", name)) {
        diag("error: %s", err);
        ok(0, "%s: renders", name);
        ok(0, "%s: render_len is what render wrote", name);
        return;
    }

    out = render(tpl, &exact);
    is_str(out, want, "%s: renders", name);
    ok(exact, "%s: render_len is what render wrote", name);

    free(out);
    twofa_tpl_free(tpl);
}


static void
expect_error(const char *src, const char *want, const char *name)
{
    char          err[256];
    twofa_tpl_t  *tpl;

    tpl = compile_str(src, err, sizeof(err));

    ok(tpl == NULL, "%s: refused", name);
    is_str(err, want, "%s: message", name);

    twofa_tpl_free(tpl);
}


static void
test_text(void)
{
    clear_vars();

    expect("", "", "empty template");
    expect("plain <b>text</b> & 'quotes' \"too\"",
           "plain <b>text</b> & 'quotes' \"too\"",
           "text is copied, not escaped");
    expect("a } b }} c { d }}} e", "a } b }} c { d }}} e",
           "stray closing braces are text");
    expect("caf\xc3\xa9 \xc2\xb7 \xe2\x80\xa6",
           "caf\xc3\xa9 \xc2\xb7 \xe2\x80\xa6", "UTF-8 text");
}


static void
test_escaped(void)
{
    clear_vars();

    set(V_USER, "alice");
    expect("<b>{{user}}</b>", "<b>alice</b>", "{{name}} plain value");
    expect("{{user}}{{user}}", "alicealice", "the same name twice");
    expect("{{user}}}", "alice}", "a third brace after {{name}} is text");

    set(V_USER, "&");
    expect("{{user}}", "&amp;", "escapes &");
    set(V_USER, "<");
    expect("{{user}}", "&lt;", "escapes <");
    set(V_USER, ">");
    expect("{{user}}", "&gt;", "escapes >");
    set(V_USER, "\"");
    expect("{{user}}", "&quot;", "escapes \"");
    set(V_USER, "'");
    expect("{{user}}", "&#x27;", "escapes '");

    set(V_USER, "<a href=\"x\">Tom & 'Jerry'</a>");
    expect("[{{user}}]",
           "[&lt;a href=&quot;x&quot;&gt;"
           "Tom &amp; &#x27;Jerry&#x27;&lt;/a&gt;]",
           "escapes a mix");

    set(V_USER, "caf\xc3\xa9 \xe2\x80\xa6 / = ` {}");
    expect("{{user}}", "caf\xc3\xa9 \xe2\x80\xa6 / = ` {}",
           "other bytes pass through");

    set(V_USER, "{{org}}");
    set(V_ORG, "no");
    expect("{{user}}", "{{org}}", "values are not expanded again");

    set(V_USER, NULL);
    expect("[{{user}}]", "[]", "an empty value renders nothing");
}


static void
test_html_escape(void)
{
    char    out[64];
    size_t  i, n;

    static const struct {
        const char  *in;
        size_t       in_len;
        const char  *out;
        size_t       out_len;
    } cases[] = {
        { "&", 1, "&amp;", 5 },
        { "<", 1, "&lt;", 4 },
        { ">", 1, "&gt;", 4 },
        { "\"", 1, "&quot;", 6 },
        { "'", 1, "&#x27;", 6 },
        { "abc", 3, "abc", 3 },
        { "a\0b", 3, "a\0b", 3 },
        { "&&", 2, "&amp;&amp;", 10 },
        { "x<'y'>", 6, "x&lt;&#x27;y&#x27;&gt;", 22 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        is_int(twofa_html_escaped_len(cases[i].in, cases[i].in_len),
               cases[i].out_len, "html_escaped_len case %zu", i);

        memset(out, CANARY, sizeof(out));
        n = twofa_html_escape(cases[i].in, cases[i].in_len, out);

        ok(n == cases[i].out_len
           && memcmp(out, cases[i].out, cases[i].out_len) == 0
           && (unsigned char) out[cases[i].out_len] == CANARY,
           "html_escape case %zu writes exactly its length", i);
    }

    is_int(twofa_html_escaped_len(NULL, 0), 0, "html_escaped_len of nothing");
    is_int(twofa_html_escape(NULL, 0, out), 0, "html_escape of nothing");
}


static void
test_raw(void)
{
    char          err[256];
    twofa_tpl_t  *tpl;

    static const char *const  many[70] = {
        "n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9",
        "n10", "n11", "n12", "n13", "n14", "n15", "n16", "n17", "n18", "n19",
        "n20", "n21", "n22", "n23", "n24", "n25", "n26", "n27", "n28", "n29",
        "n30", "n31", "n32", "n33", "n34", "n35", "n36", "n37", "n38", "n39",
        "n40", "n41", "n42", "n43", "n44", "n45", "n46", "n47", "n48", "n49",
        "n50", "n51", "n52", "n53", "n54", "n55", "n56", "n57", "n58", "n59",
        "n60", "n61", "n62", "n63", "n64", "n65", "n66", "n67", "n68", "n69"
    };

    clear_vars();

    set(V_CONTENT, "<p class=\"x\">Tom & 'Jerry'</p>");
    expect("<main>{{{content}}}</main>",
           "<main><p class=\"x\">Tom & 'Jerry'</p></main>",
           "{{{content}}} is not escaped");
    expect("{{content}}",
           "&lt;p class=&quot;x&quot;&gt;Tom &amp; &#x27;Jerry&#x27;&lt;/p&gt;",
           "{{content}} is escaped");
    expect("{{{content}}}}", "<p class=\"x\">Tom & 'Jerry'</p>}",
           "a fourth brace after {{{name}}} is text");

    set(V_QR, "<svg/>");
    set(V_RECOVERY_ITEMS, "<li>a</li>");
    expect("{{{qr}}}{{{recovery_items}}}", "<svg/><li>a</li>",
           "{{{qr}}} and {{{recovery_items}}} are raw-capable");

    expect_error("{{{user}}}",
                 "\"{{{user}}}\" would not be escaped; use \"{{user}}\"",
                 "{{{user}}}: not raw-capable");
    expect_error("ok {{{error}}} then",
                 "\"{{{error}}}\" would not be escaped; use \"{{error}}\"",
                 "{{{error}}}: not raw-capable");

    tpl = twofa_tpl_compile("{{{content}}}", 13, var_names, V_COUNT, 0,
                            err, sizeof(err));
    ok(tpl == NULL, "raw_allowed 0: {{{content}}} refused");
    is_str(err, "\"{{{content}}}\" would not be escaped; use \"{{content}}\"",
           "raw_allowed 0: message");
    twofa_tpl_free(tpl);

    tpl = twofa_tpl_compile("{{{n63}}}", 9, many, 70, UINT64_MAX, err,
                            sizeof(err));
    ok(tpl != NULL, "names[63] can be raw-capable");
    twofa_tpl_free(tpl);

    tpl = twofa_tpl_compile("{{{n64}}}", 9, many, 70, UINT64_MAX, err,
                            sizeof(err));
    ok(tpl == NULL, "names[64] cannot be raw-capable");
    is_str(err, "\"{{{n64}}}\" would not be escaped; use \"{{n64}}\"",
           "names[64]: message");
    twofa_tpl_free(tpl);

    tpl = twofa_tpl_compile("{{n69}}", 7, many, 70, 0, err, sizeof(err));
    ok(tpl != NULL, "names past 64 can be {{escaped}}");
    twofa_tpl_free(tpl);
}


static void
test_sections(void)
{
    clear_vars();

    expect("a{{#error}}[{{error}}]{{/error}}b", "ab", "{{#name}} empty: off");
    expect("a{{^error}}none{{/error}}b", "anoneb", "{{^name}} empty: on");

    set(V_ERROR, "bad <code>");
    expect("a{{#error}}[{{error}}]{{/error}}b", "a[bad &lt;code&gt;]b",
           "{{#name}} set: on");
    expect("a{{^error}}none{{/error}}b", "ab", "{{^name}} set: off");

    set(V_ERROR, "0");
    expect("{{#error}}on{{/error}}", "on", "\"0\" is not empty");

    set(V_ENABLED, NULL);
    expect("{{^enabled}}enable{{/enabled}}{{#enabled}}disable{{/enabled}}",
           "enable", "either branch, value empty");
    set(V_ENABLED, "1");
    expect("{{^enabled}}enable{{/enabled}}{{#enabled}}disable{{/enabled}}",
           "disable", "either branch, value set");

    set(V_USER, "u");
    set(V_ORG, "o");
    expect("<{{#user}}U{{#org}}O{{/org}}{{^org}}-{{/org}}u{{/user}}>",
           "<UOu>", "nested: both set");
    set(V_ORG, NULL);
    expect("<{{#user}}U{{#org}}O{{/org}}{{^org}}-{{/org}}u{{/user}}>",
           "<U-u>", "nested: inner empty");
    set(V_USER, NULL);
    set(V_ORG, "o");
    expect("<{{#user}}U{{#org}}O{{/org}}{{^org}}-{{/org}}u{{/user}}>",
           "<>", "nested: outer off hides an inner that is on");
    expect("<{{^user}}{{#org}}[{{org}}]{{/org}}{{/user}}>", "<[o]>",
           "nested: {{^outer}} with {{#inner}}");

    set(V_USER, "u");
    expect("{{#user}}{{#user}}twice{{/user}}{{/user}}", "twice",
           "the same name nested in itself");
    expect("{{#user}}{{/user}}", "", "an empty section");
}


/* `levels` nested sections of "user" around "x", one after another n. */

static char *
nested(int levels, int times)
{
    int     i, t;
    char   *src, *p;
    size_t  size;

    size = (size_t) (levels * 20 + 2) * (size_t) times + 1;

    src = malloc(size);
    if (src == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(255);
    }

    p = src;

    for (t = 0; t < times; t++) {
        for (i = 0; i < levels; i++) {
            p += sprintf(p, "%s", (i % 2) ? "{{^org}}" : "{{#user}}");
        }

        *p++ = 'x';

        for (i = levels - 1; i >= 0; i--) {
            p += sprintf(p, "%s", (i % 2) ? "{{/org}}" : "{{/user}}");
        }
    }

    *p = '\0';

    return src;
}


static void
test_depth(void)
{
    char  *src;

    clear_vars();
    set(V_USER, "u");

    src = nested(TWOFA_TPL_DEPTH, 1);
    expect(src, "x", "8 sections deep: allowed and rendered");
    free(src);

    set(V_ORG, "o");
    src = nested(TWOFA_TPL_DEPTH, 1);
    expect(src, "", "8 sections deep, innermost off");
    free(src);

    src = nested(TWOFA_TPL_DEPTH + 1, 1);
    expect_error(src, "sections nest too deep", "9 sections deep");
    free(src);

    set(V_ORG, NULL);
    src = nested(1, 12);
    expect(src, "xxxxxxxxxxxx", "12 sections one after another");
    free(src);

    src = nested(TWOFA_TPL_DEPTH, 3);
    expect(src, "xxx", "three 8-deep nests one after another");
    free(src);
}


static void
test_errors(void)
{
    char          err[8];
    twofa_tpl_t  *tpl;

    expect_error("{{user", "\"{{\" is not closed", "{{ without }}");
    expect_error("text {{", "\"{{\" is not closed", "{{ at the end");
    expect_error("{{{content}}", "\"{{\" is not closed",
                 "{{{ closed by }} only");
    expect_error("{{user}", "\"{{\" is not closed", "{{ closed by }");
    expect_error("{{", "\"{{\" is not closed", "only {{");
    expect_error("{{{", "\"{{\" is not closed", "only {{{");

    expect_error("a {{nonsense}} b", "unknown placeholder \"nonsense\"",
                 "unknown name");
    expect_error("{{}}", "unknown placeholder \"\"", "empty name");
    expect_error("{{{}}}", "unknown placeholder \"\"", "empty raw name");
    expect_error("{{ user }}", "unknown placeholder \" user \"",
                 "spaces are part of the name");
    expect_error("{{User}}", "unknown placeholder \"User\"",
                 "names are case-sensitive");
    expect_error("{{#nonsense}}{{/nonsense}}",
                 "unknown placeholder \"nonsense\"", "unknown section name");
    expect_error("{{#}}{{/}}", "unknown placeholder \"\"",
                 "section without a name");
    expect_error("{{{#content}}}", "unknown placeholder \"#content\"",
                 "no sections in triple braces");
    expect_error("{{{{content}}}", "unknown placeholder \"{content\"",
                 "four opening braces");
    expect_error("{{user\n}}", "unknown placeholder \"user\n\"",
                 "a newline is part of the name");

    expect_error("{{/user}}", "\"{{/user}}\" closes no open section",
                 "a close with nothing open");
    expect_error("{{#user}}{{#org}}{{/user}}{{/org}}",
                 "\"{{/user}}\" closes no open section",
                 "sections crossing");
    expect_error("{{#user}}{{/user}}{{/user}}",
                 "\"{{/user}}\" closes no open section", "closed twice");

    expect_error("{{#enabled}}x", "section \"enabled\" is not closed",
                 "{{#name}} not closed");
    expect_error("{{^enabled}}x", "section \"enabled\" is not closed",
                 "{{^name}} not closed");
    expect_error("{{#user}}{{#org}}{{/org}}",
                 "section \"user\" is not closed", "outer not closed");
    expect_error("{{#user}}{{#org}}", "section \"org\" is not closed",
                 "the innermost open one is named");

    tpl = compile_str("{{nonsense}}", err, sizeof(err));
    ok(tpl == NULL && strlen(err) == sizeof(err) - 1
       && memcmp(err, "unknown", 7) == 0,
       "a small error buffer gets the message cut, NUL terminated");

    tpl = compile_str("{{nonsense}}", NULL, 0);
    ok(tpl == NULL, "no error buffer: still refused");

    err[0] = 'z';
    tpl = compile_str("{{nonsense}}", err, 0);
    ok(tpl == NULL && err[0] == 'z', "err_size 0: the buffer is untouched");

    err[0] = 'z';
    tpl = compile_str("fine {{user}}", err, sizeof(err));
    ok(tpl != NULL && err[0] == '\0', "success leaves an empty message");
    twofa_tpl_free(tpl);

    twofa_tpl_free(NULL);
    ok(1, "twofa_tpl_free(NULL) is harmless");
}


static void
test_lifetime(void)
{
    int           exact;
    char         *src, *out;
    twofa_tpl_t  *tpl;

    static const char  text[] = "<p>{{user}} in {{org}}</p>";

    clear_vars();
    set(V_USER, "a&b");
    set(V_ORG, "o");

    src = malloc(sizeof(text));
    if (src == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(255);
    }

    memcpy(src, text, sizeof(text));

    tpl = twofa_tpl_compile(src, sizeof(text) - 1, var_names, V_COUNT,
                            RAW_CAPABLE, NULL, 0);

    memset(src, '!', sizeof(text) - 1);
    free(src);

    ok(tpl != NULL, "compiled from a buffer freed right after");

    if (tpl == NULL) {
        ok(0, "renders without the source");
        ok(0, "renders twice the same");
        return;
    }

    out = render(tpl, &exact);
    is_str(out, "<p>a&amp;b in o</p>", "renders without the source");
    free(out);

    out = render(tpl, &exact);
    ok(exact && strcmp(out, "<p>a&amp;b in o</p>") == 0,
       "renders twice the same");
    free(out);

    twofa_tpl_free(tpl);
}


static void
test_sizes(void)
{
    int           exact;
    char         *value, *out, *p;
    size_t        i;
    twofa_tpl_t  *tpl;

    clear_vars();

    value = malloc(1000);
    if (value == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(255);
    }

    memset(value, '"', 1000);
    vars[V_USER].data = value;
    vars[V_USER].len = 1000;

    tpl = compile_str("{{user}}|{{{content}}}", NULL, 0);
    if (!ok(tpl != NULL, "compiles for the size test")) {
        free(value);
        return;
    }

    vars[V_CONTENT].data = value;
    vars[V_CONTENT].len = 1000;

    is_int(twofa_tpl_render_len(tpl, vars), 6000 + 1 + 1000,
           "render_len: 1000 quotes escaped, 1000 raw");

    out = render(tpl, &exact);
    ok(exact, "render_len is what render wrote (7001 bytes)");

    for (p = out, i = 0; i < 1000; i++, p += 6) {
        if (memcmp(p, "&quot;", 6) != 0) {
            break;
        }
    }

    ok(i == 1000 && *p == '|' && p[1] == '"' && p[1000] == '"',
       "the bytes are the escaped then the raw value");

    free(out);
    free(value);
    twofa_tpl_free(tpl);
}


/* ---- the real pages ---------------------------------------------------- */


static char *
read_template(const char *name, size_t *len)
{
    FILE        *f;
    char         path[4096], *data;
    long         size;
    const char  *file, *tail;

    /* templates/ beside t/, wherever this file was compiled from */

    file = __FILE__;
    tail = strstr(file, "t/unit/test_tpl.c");

    snprintf(path, sizeof(path), "%.*stemplates/%s",
             (int) (tail ? tail - file : 0), file, name);

    f = fopen(path, "rb");
    if (f == NULL) {
        diag("cannot open %s", path);
        return NULL;
    }

    data = NULL;

    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0
        && fseek(f, 0, SEEK_SET) == 0)
    {
        data = malloc(size + 1);

        if (data != NULL && fread(data, 1, size, f) == (size_t) size) {
            data[size] = '\0';
            *len = size;

        } else {
            free(data);
            data = NULL;
        }
    }

    fclose(f);

    return data;
}


/* A fragment for a test's name: TAP names are one line. */

static const char *
one_line(const char *s)
{
    size_t       n;
    static char  buf[256];

    for (n = 0; *s != '\0' && n < sizeof(buf) - 3; s++) {
        if (*s == '\n') {
            buf[n++] = '\\';
            buf[n++] = 'n';

        } else {
            buf[n++] = *s;
        }
    }

    buf[n] = '\0';

    return buf;
}


/* Compiles templates/<name>, renders it, checks the bytes and the text. */

static void
expect_page(const char *name, const char *const *want, const char *const *not)
{
    int           exact;
    char          err[256], *src, *out;
    size_t        len;
    twofa_tpl_t  *tpl;

    src = read_template(name, &len);
    if (!ok(src != NULL, "%s: read", name)) {
        return;
    }

    tpl = twofa_tpl_compile(src, len, var_names, V_COUNT, RAW_CAPABLE,
                            err, sizeof(err));
    free(src);

    if (!ok(tpl != NULL, "%s: compiles with the module's names", name)) {
        diag("error: %s", err);
        return;
    }

    out = render(tpl, &exact);
    ok(exact, "%s: render_len is what render wrote", name);

    for ( /* void */ ; *want != NULL; want++) {
        if (!ok(strstr(out, *want) != NULL, "%s: has %s", name,
                one_line(*want)))
        {
            diag("rendered: %s", out);
        }
    }

    for ( /* void */ ; *not != NULL; not++) {
        ok(strstr(out, *not) == NULL, "%s: has no %s", name,
           one_line(*not));
    }

    free(out);
    twofa_tpl_free(tpl);
}


static void
test_pages(void)
{
    static const char *const  none[] = { NULL };

    clear_vars();
    set(V_TITLE, "Sign in");
    set(V_ISSUER, "Acme & Co");
    set(V_CONTENT, "<h1>Hi</h1>");
    set(V_USER, "alice<script>");
    set(V_ACTION, "/2fa/verify");
    set(V_CSRF, "tok\"en");
    set(V_QR, "<svg id=\"q\"/>");
    set(V_SECRET_GROUPED, "ABCD EFGH");
    set(V_RECOVERY_ITEMS, "<li>code-1</li>");
    set(V_HEADING, "Gone");
    set(V_MESSAGE, "It's over");
    set(V_STATUS, "on");
    set(V_ENABLE_ACTION, "/2fa/enable");
    set(V_DISABLE_ACTION, "/2fa/disable");
    set(V_LINK, "/login?a=1&b=2");
    set(V_LINK_TEXT, "Back");

    {
        static const char *const  want[] = {
            "<title>Sign in \xc2\xb7 Acme &amp; Co</title>",
            "<main>\n<h1>Hi</h1>\n</main>", NULL
        };

        expect_page("layout.html", want, none);
    }

    {
        static const char *const  want[] = {
            "<strong>alice&lt;script&gt;</strong>",
            "<div class=\"qr\"><svg id=\"q\"/></div>", ">ABCD EFGH</code>",
            "action=\"/2fa/verify\"", "value=\"tok&quot;en\"", NULL
        };
        static const char *const  not[] = { "twofa-error", NULL };

        expect_page("enroll.html", want, not);
    }

    set(V_ERROR, "That code is not valid.");
    set(V_RETURN, "/app?x=<1>");

    {
        static const char *const  want[] = {
            "id=\"twofa-error\">That code is not valid.</p>",
            "name=\"return\" value=\"/app?x=&lt;1&gt;\"", NULL
        };

        expect_page("verify.html", want, none);
    }

    set(V_ERROR, NULL);
    set(V_RETURN, NULL);

    {
        static const char *const  not[] = {
            "twofa-error", "name=\"return\"", NULL
        };

        expect_page("verify.html", none, not);
    }

    {
        static const char *const  want[] = {
            "<ol class=\"codes\" id=\"twofa-recovery\">\n<li>code-1</li>\n",
            NULL
        };

        expect_page("recovery.html", want, none);
    }

    {
        static const char *const  want[] = {
            "action=\"/2fa/enable\"", "<dd id=\"twofa-status\">on</dd>",
            NULL
        };
        static const char *const  not[] = {
            "/2fa/disable", "Since", "Recovery codes left", "requires",
            NULL
        };

        expect_page("settings.html", want, not);
    }

    set(V_ENABLED, "1");
    set(V_REQUIRED, "1");
    set(V_ENROLLED_AT, "2024-01-02");
    set(V_RECOVERY_LEFT, "7");

    {
        static const char *const  want[] = {
            "action=\"/2fa/disable\"", "<dd>2024-01-02</dd>", "<dd>7</dd>",
            "requires two-factor", NULL
        };
        static const char *const  not[] = { "/2fa/enable", NULL };

        expect_page("settings.html", want, not);
    }

    {
        static const char *const  want[] = {
            "<h1>Gone</h1>", "<p role=\"alert\">It&#x27;s over</p>",
            "<a href=\"/login?a=1&amp;b=2\">Back</a>", NULL
        };

        expect_page("message.html", want, none);
    }

    set(V_LINK, NULL);

    {
        static const char *const  not[] = { "<a ", "Back", NULL };

        expect_page("message.html", none, not);
    }
}


int
main(void)
{
    test_text();
    test_escaped();
    test_html_escape();
    test_raw();
    test_sections();
    test_depth();
    test_errors();
    test_lifetime();
    test_sizes();
    test_pages();

    return done();
}
