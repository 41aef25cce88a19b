/*
 * Templates: any input compiled against the module's names.  What
 * compiles renders with any values, writing exactly render_len bytes;
 * with every value empty the page is never longer than its source, and a
 * source without "{{" renders as itself.  What does not compile says why.
 * HTML escaping of the input rides along: no special character is left,
 * and undoing the five entities gives the input back.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "twofa_tpl.h"


#define FUZZ_NVARS   25
#define FUZZ_CANARY  0x5a
#define FUZZ_GUARD   16


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/* The module's names (ngx_http_twofa_var_names); 2, 11, 12 are raw. */

static const char *const  fuzz_names[FUZZ_NVARS] = {
    "title", "issuer", "content", "user", "org", "action", "csrf", "error",
    "secret", "secret_grouped", "otpauth", "qr", "recovery_items", "return",
    "message", "status", "enrolled_at", "recovery_left", "required",
    "enabled", "enable_action", "disable_action", "heading", "link",
    "link_text"
};

#define FUZZ_RAW  (((uint64_t) 1 << 2) | ((uint64_t) 1 << 11) \
                   | ((uint64_t) 1 << 12))


static const char  fuzz_value[] = "<a href=\"?x=1&y='2'\">\xc3\xa9</a>";


/* Renders into a buffer of exactly render_len bytes and a guard. */

static size_t
fuzz_render(const twofa_tpl_t *tpl, const twofa_tpl_value_t *vars,
    const uint8_t *source, size_t source_len)
{
    char    *out;
    size_t   i, len;

    len = twofa_tpl_render_len(tpl, vars);

    out = malloc(len + FUZZ_GUARD);
    if (out == NULL) {
        abort();
    }

    memset(out, FUZZ_CANARY, len + FUZZ_GUARD);

    if (twofa_tpl_render(tpl, vars, out) != len) {
        abort();
    }

    for (i = len; i < len + FUZZ_GUARD; i++) {
        if ((unsigned char) out[i] != FUZZ_CANARY) {
            abort();
        }
    }

    if (source != NULL
        && (len != source_len || memcmp(out, source, len) != 0))
    {
        abort();
    }

    free(out);

    return len;
}


static int
fuzz_has_tag(const uint8_t *data, size_t size)
{
    size_t  i;

    for (i = 0; i + 1 < size; i++) {
        if (data[i] == '{' && data[i + 1] == '{') {
            return 1;
        }
    }

    return 0;
}


static void
fuzz_template(const uint8_t *data, size_t size)
{
    int                 plain;
    char                err[256];
    size_t              i;
    uint64_t            mask;
    twofa_tpl_t        *tpl;
    twofa_tpl_value_t   none[FUZZ_NVARS], all[FUZZ_NVARS], some[FUZZ_NVARS];

    plain = !fuzz_has_tag(data, size);

    memset(err, 'x', sizeof(err));

    tpl = twofa_tpl_compile((const char *) data, size, fuzz_names,
                            FUZZ_NVARS, FUZZ_RAW, err, sizeof(err));

    if (tpl == NULL) {
        /* only a tag can be wrong, and the reason is a whole string */
        if (plain || err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL)
        {
            abort();
        }

        return;
    }

    if (err[0] != '\0') {
        abort();
    }

    /* which values are set: a hash of the input, so the fuzzer steers */

    mask = 14695981039346656037ULL;

    for (i = 0; i < size; i++) {
        mask = (mask ^ data[i]) * 1099511628211ULL;
    }

    for (i = 0; i < FUZZ_NVARS; i++) {
        none[i].data = NULL;
        none[i].len = 0;

        all[i].data = fuzz_value;
        all[i].len = sizeof(fuzz_value) - 1;

        some[i] = ((mask >> i) & 1) ? all[i] : none[i];
    }

    if (fuzz_render(tpl, none, plain ? data : NULL, size) > size) {
        abort();
    }

    (void) fuzz_render(tpl, all, plain ? data : NULL, size);
    (void) fuzz_render(tpl, some, plain ? data : NULL, size);

    twofa_tpl_free(tpl);
}


static void
fuzz_escape(const uint8_t *data, size_t size)
{
    char        *out, *p, *end;
    size_t       i, j, len;
    const char  *entities[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&#x27;" };
    const char   chars[] = "&<>\"'";

    len = twofa_html_escaped_len((const char *) data, size);

    out = malloc(len + 1);
    if (out == NULL) {
        abort();
    }

    if (twofa_html_escape((const char *) data, size, out) != len) {
        abort();
    }

    p = out;
    end = out + len;

    for (i = 0; i < size; i++) {
        if (p == end) {
            abort();
        }

        if (*p == '<' || *p == '>' || *p == '"' || *p == '\'') {
            abort();
        }

        if (*p != '&') {
            if ((uint8_t) *p++ != data[i]) {
                abort();
            }

            continue;
        }

        for (j = 0; j < 5; j++) {
            if ((size_t) (end - p) >= strlen(entities[j])
                && memcmp(p, entities[j], strlen(entities[j])) == 0)
            {
                break;
            }
        }

        if (j == 5 || (uint8_t) chars[j] != data[i]) {
            abort();
        }

        p += strlen(entities[j]);
    }

    if (p != end) {
        abort();
    }

    free(out);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_template(data, size);
    fuzz_escape(data, size);

    return 0;
}
