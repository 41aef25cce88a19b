/*
 * One field of a login request's body.  Where parsers of the three body
 * types tolerate different things, this one refuses: a body the app may
 * read differently must give no identity at all.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <unicase.h>
#include <uninorm.h>
#include <unistr.h>

#include "twofa_form.h"
#include "twofa_util.h"
#include "twofa_multipart.h"


typedef enum {
    TWOFA_FORM_MEDIA_URLENCODED,
    TWOFA_FORM_MEDIA_MULTIPART,
    TWOFA_FORM_MEDIA_JSON
} twofa_form_media_t;

typedef enum {
    TWOFA_FORM_OTHER = 0,
    TWOFA_FORM_EXACT,
    TWOFA_FORM_ALIAS
} twofa_form_match_t;

typedef struct {
    const uint8_t        *name;
    size_t                name_len;
    uint8_t              *key;          /* the name's alias key */
    size_t                key_len;
    int                   cut;          /* "name[...]" is an alias too */
    uint8_t              *out;
    size_t                out_size;
    size_t                value_len;    /* of the first exact occurrence */
    unsigned              found;        /* exact occurrences */
    unsigned              aliases;      /* occurrences under another name */
    twofa_form_status_t   error;        /* MALFORMED, NO_MEMORY or FOUND */
} twofa_form_ctx_t;


static const char  *const twofa_form_reasons[] = {
    "found",
    "absent",
    "field given more than once, or under a variant name",
    "malformed body",
    "field value too large",
    "unsupported content type or charset",
    "out of memory"
};


const char *
twofa_form_reason(twofa_form_status_t st)
{
    return TWOFA_UTIL_TEXT(twofa_form_reasons, st, "unknown form status");
}


/* --- field names -------------------------------------------------------- */


static uint8_t
twofa_form_lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t) (c - 'A' + 'a') : c;
}


/*
 * The name as the most lenient app might read it: from a NUL on dropped
 * (C strings), ASCII white space at the ends dropped, case folded (with
 * NFKC when it is UTF-8 beyond ASCII: .NET folds U+017F to 's'), and
 * ' ', '.' and '[' as '_' (PHP).  With cut, only what comes before the
 * first '[' (PHP and Rails arrays: "user[]").  A malloc'd key, or NULL
 * when out of memory.
 */

static uint8_t *
twofa_form_key(const uint8_t *s, size_t len, int cut, size_t *key_len)
{
    size_t          i, n;
    uint8_t        *key;
    const uint8_t  *stop;
    int             ascii;

    stop = memchr(s, '\0', len);
    if (stop != NULL) {
        len = stop - s;
    }

    if (cut) {
        stop = memchr(s, '[', len);
        if (stop != NULL) {
            len = stop - s;
        }
    }

    while (len > 0 && strchr(" \t\r\n\v\f", s[0]) != NULL) {
        s++;
        len--;
    }

    while (len > 0 && strchr(" \t\r\n\v\f", s[len - 1]) != NULL) {
        len--;
    }

    ascii = 1;

    for (i = 0; i < len; i++) {
        if (s[i] >= 0x80) {
            ascii = 0;
            break;
        }
    }

    if (!ascii && u8_check(s, len) == NULL) {
        n = 0;
        key = u8_casefold(s, len, NULL, UNINORM_NFKC, NULL, &n);

        if (key == NULL) {
            return NULL;
        }

    } else {
        n = len;
        key = malloc(n + 1);

        if (key == NULL) {
            return NULL;
        }

        for (i = 0; i < n; i++) {
            key[i] = twofa_form_lower(s[i]);
        }
    }

    for (i = 0; i < n; i++) {
        if (key[i] == ' ' || key[i] == '.' || key[i] == '[') {
            key[i] = '_';
        }
    }

    *key_len = n;

    return key;
}


static int
twofa_form_key_is(twofa_form_ctx_t *ctx, const uint8_t *s, size_t len,
    int cut)
{
    int       same;
    size_t    n;
    uint8_t  *key;

    key = twofa_form_key(s, len, cut, &n);

    if (key == NULL) {
        ctx->error = TWOFA_FORM_NO_MEMORY;
        return 0;
    }

    same = (n == ctx->key_len && memcmp(key, ctx->key, n) == 0);

    free(key);

    return same;
}


static twofa_form_match_t
twofa_form_match(twofa_form_ctx_t *ctx, const uint8_t *s, size_t len)
{
    if (len == ctx->name_len && memcmp(s, ctx->name, len) == 0) {
        return TWOFA_FORM_EXACT;
    }

    if (twofa_form_key_is(ctx, s, len, 0)) {
        return TWOFA_FORM_ALIAS;
    }

    if (ctx->cut && memchr(s, '[', len) != NULL
        && twofa_form_key_is(ctx, s, len, 1))
    {
        return TWOFA_FORM_ALIAS;
    }

    return TWOFA_FORM_OTHER;
}


/* An exact occurrence: the first one's value is kept. */

static void
twofa_form_take(twofa_form_ctx_t *ctx, const uint8_t *value, size_t len)
{
    ctx->found++;

    if (ctx->found == 1) {
        ctx->value_len = len;

        if (len > 0 && len <= ctx->out_size) {
            memcpy(ctx->out, value, len);
        }
    }
}


/* --- application/x-www-form-urlencoded --------------------------------- */


/* '+' and %XX decoded into out (NULL: only counted); 0 or -1. */

static int
twofa_form_unescape(const uint8_t *s, size_t len, uint8_t *out,
    size_t *out_len)
{
    size_t   i, n;
    uint8_t  c, hi, lo;

    static const char  hex[] = "0123456789abcdef";

    n = 0;

    for (i = 0; i < len; i++) {
        c = s[i];

        if (c == '%') {
            if (len - i < 3) {
                return -1;
            }

            hi = twofa_form_lower(s[i + 1]);
            lo = twofa_form_lower(s[i + 2]);

            if (hi == '\0' || lo == '\0' || strchr(hex, hi) == NULL
                || strchr(hex, lo) == NULL)
            {
                return -1;
            }

            c = (uint8_t) ((strchr(hex, hi) - hex) << 4
                           | (strchr(hex, lo) - hex));
            i += 2;

        } else if (c == '+') {
            c = ' ';
        }

        if (out != NULL) {
            out[n] = c;
        }

        n++;
    }

    *out_len = n;

    return 0;
}


/*
 * Pairs are split at '&' and, for some older parsers, at ';': a name
 * found after a ';' counts, and the field's value must not run into a
 * ';' (apps would disagree on where it ends).  Browsers escape both.
 */

static void
twofa_form_urlencoded(twofa_form_ctx_t *ctx, const uint8_t *body,
    size_t len)
{
    size_t               name_len, value_len;
    uint8_t             *scratch;
    const uint8_t       *p, *end, *seg, *eq, *value;
    twofa_form_match_t   m;

    /*
     * A JSON or multipart body sent under the wrong type.  And raw bytes
     * that are not UTF-8: Django then decodes the whole body as Latin-1,
     * the field too, which would make it another name than ours.
     */

    if ((len > 0 && (body[0] == '{' || body[0] == '['
                     || (len > 1 && body[0] == '-' && body[1] == '-')))
        || u8_check(body, len) != NULL)
    {
        ctx->error = TWOFA_FORM_MALFORMED;
        return;
    }

    scratch = malloc(len + 1);
    if (scratch == NULL) {
        ctx->error = TWOFA_FORM_NO_MEMORY;
        return;
    }

    p = body;
    end = body + len;

    while (p < end) {
        seg = p;

        while (p < end && *p != '&' && *p != ';') {
            p++;
        }

        eq = memchr(seg, '=', p - seg);
        value = (eq != NULL) ? eq + 1 : p;

        if (twofa_form_unescape(seg, (eq != NULL ? eq : p) - seg, scratch,
                                &name_len) != 0
            || twofa_form_unescape(value, p - value, NULL, &value_len) != 0)
        {
            ctx->error = TWOFA_FORM_MALFORMED;
            break;
        }

        if (p > seg) {
            m = twofa_form_match(ctx, scratch, name_len);

            if (m == TWOFA_FORM_EXACT) {
                if (p < end && *p == ';') {
                    ctx->error = TWOFA_FORM_MALFORMED;
                    break;
                }

                ctx->found++;

                if (ctx->found == 1) {
                    ctx->value_len = value_len;

                    if (value_len <= ctx->out_size) {
                        (void) twofa_form_unescape(value, p - value,
                                                   ctx->out, &value_len);
                    }
                }

            } else if (m == TWOFA_FORM_ALIAS) {
                ctx->aliases++;
            }

            if (ctx->error != TWOFA_FORM_FOUND) {
                break;
            }
        }

        if (p < end) {
            p++;
        }
    }

    free(scratch);
}


/* --- multipart/form-data (twofa_multipart.c) --------------------------- */


/*
 * Our field as a file, in another charset or transfer encoding: apps
 * read it each their own way, so the body is refused.
 */

static int
twofa_form_part(void *data, const twofa_multipart_part_t *part)
{
    twofa_form_ctx_t    *ctx;
    twofa_form_match_t   m;

    ctx = data;
    m = twofa_form_match(ctx, part->name.data, part->name.len);

    if (m == TWOFA_FORM_ALIAS) {
        ctx->aliases++;

    } else if (m == TWOFA_FORM_EXACT) {
        if (twofa_multipart_is_field(part)) {
            twofa_form_take(ctx, part->content.data, part->content.len);

        } else {
            ctx->error = TWOFA_FORM_MALFORMED;
        }
    }

    return ctx->error != TWOFA_FORM_FOUND;
}


static void
twofa_form_multipart(twofa_form_ctx_t *ctx, twofa_multipart_str_t boundary,
    const uint8_t *body, size_t len)
{
    if (twofa_multipart_parse(boundary, body, len, twofa_form_part, ctx)
        == TWOFA_MULTIPART_MALFORMED)
    {
        ctx->error = TWOFA_FORM_MALFORMED;
    }
}


/* --- application/json -------------------------------------------------- */


static twofa_form_status_t
twofa_form_json(twofa_form_ctx_t *ctx, const uint8_t *body, size_t len)
{
    void                *it;
    json_t              *root, *value;
    const char          *key;
    json_error_t         err;
    twofa_form_match_t   m;

    /* Without JSON_ALLOW_NUL jansson refuses "\u0000" in strings. */

    root = json_loadb((const char *) body, len, JSON_REJECT_DUPLICATES,
                      &err);

    if (root == NULL) {
        switch (json_error_code(&err)) {
        case json_error_duplicate_key:
            return TWOFA_FORM_DUPLICATE;
        case json_error_out_of_memory:
            return TWOFA_FORM_NO_MEMORY;
        default:
            return TWOFA_FORM_MALFORMED;
        }
    }

    if (!json_is_object(root)) {
        ctx->error = TWOFA_FORM_MALFORMED;
        goto done;
    }

    for (it = json_object_iter(root); it != NULL;
         it = json_object_iter_next(root, it))
    {
        key = json_object_iter_key(it);
        m = twofa_form_match(ctx, (const uint8_t *) key,
                             json_object_iter_key_len(it));

        if (m == TWOFA_FORM_EXACT) {
            value = json_object_iter_value(it);

            if (!json_is_string(value)) {
                ctx->error = TWOFA_FORM_MALFORMED;
                break;
            }

            twofa_form_take(ctx, (const uint8_t *) json_string_value(value),
                            json_string_length(value));

        } else if (m == TWOFA_FORM_ALIAS) {
            ctx->aliases++;
        }

        if (ctx->error != TWOFA_FORM_FOUND) {
            break;
        }
    }

done:

    json_decref(root);

    return ctx->error;
}



/* --- the field ---------------------------------------------------------- */


/*
 * The request's Content-Type: the kind of body and, for multipart, its
 * boundary.  FOUND when the body is of a kind this parser reads.
 */

static twofa_form_status_t
twofa_form_content_type(const char *content_type, size_t ct_len,
    twofa_form_media_t *kind, twofa_multipart_str_t *boundary)
{
    int                     rc, has_charset;
    const uint8_t          *p, *end;
    twofa_multipart_str_t   media, pname, pvalue;

    if (content_type == NULL || ct_len == 0) {
        return TWOFA_FORM_UNSUPPORTED;
    }

    p = (const uint8_t *) content_type;
    end = p + ct_len;

    if (twofa_multipart_media_type(&p, end, &media) != 0) {
        return TWOFA_FORM_UNSUPPORTED;
    }

    if (twofa_multipart_ieq(media, "application/x-www-form-urlencoded")) {
        *kind = TWOFA_FORM_MEDIA_URLENCODED;

    } else if (twofa_multipart_ieq(media, "multipart/form-data")) {
        *kind = TWOFA_FORM_MEDIA_MULTIPART;

    } else if (twofa_multipart_ieq(media, "application/json")) {
        *kind = TWOFA_FORM_MEDIA_JSON;

    } else {
        return TWOFA_FORM_UNSUPPORTED;
    }

    /* Django decodes fields in the charset the request names. */

    has_charset = 0;
    memset(boundary, 0, sizeof(*boundary));

    while ((rc = twofa_multipart_param(&p, end, &pname, &pvalue)) == 1) {
        if (twofa_multipart_ieq(pname, "charset")) {
            if (has_charset++) {
                return TWOFA_FORM_MALFORMED;
            }

            if (!twofa_multipart_utf8_charset(pvalue)) {
                return TWOFA_FORM_UNSUPPORTED;
            }

        } else if (*kind == TWOFA_FORM_MEDIA_MULTIPART
                   && twofa_multipart_ieq(pname, "boundary"))
        {
            if (boundary->data != NULL) {
                return TWOFA_FORM_MALFORMED;
            }

            *boundary = pvalue;
        }
    }

    if (rc != 0) {
        return TWOFA_FORM_MALFORMED;
    }

    if (*kind == TWOFA_FORM_MEDIA_MULTIPART
        && !twofa_multipart_boundary_valid(*boundary))
    {
        return TWOFA_FORM_MALFORMED;
    }

    return TWOFA_FORM_FOUND;
}


twofa_form_status_t
twofa_form_field(const char *content_type, size_t ct_len, const char *body,
    size_t body_len, const char *name, size_t name_len, char *out,
    size_t out_size, size_t *out_len)
{
    const uint8_t          *b;
    twofa_form_ctx_t        ctx;
    twofa_form_media_t      kind;
    twofa_form_status_t     st;
    twofa_multipart_str_t   boundary;

    *out_len = 0;

    if (name == NULL) {
        return TWOFA_FORM_ABSENT;
    }

    st = twofa_form_content_type(content_type, ct_len, &kind, &boundary);
    if (st != TWOFA_FORM_FOUND) {
        return st;
    }

    memset(&ctx, 0, sizeof(ctx));
    ctx.name = (const uint8_t *) name;
    ctx.name_len = name_len;
    ctx.cut = (memchr(name, '[', name_len) == NULL);
    ctx.out = (uint8_t *) out;
    ctx.out_size = out_size;
    ctx.error = TWOFA_FORM_FOUND;

    ctx.key = twofa_form_key(ctx.name, name_len, 0, &ctx.key_len);
    if (ctx.key == NULL) {
        return TWOFA_FORM_NO_MEMORY;
    }

    b = (const uint8_t *) body;

    switch (kind) {

    case TWOFA_FORM_MEDIA_URLENCODED:
        twofa_form_urlencoded(&ctx, b, body_len);
        st = ctx.error;
        break;

    case TWOFA_FORM_MEDIA_MULTIPART:
        twofa_form_multipart(&ctx, boundary, b, body_len);
        st = ctx.error;
        break;

    default:
        st = twofa_form_json(&ctx, b, body_len);
        break;
    }

    free(ctx.key);

    if (st != TWOFA_FORM_FOUND) {
        return st;
    }

    if (ctx.found > 1 || ctx.aliases > 0) {
        return TWOFA_FORM_DUPLICATE;
    }

    if (ctx.found == 0) {
        return TWOFA_FORM_ABSENT;
    }

    if (ctx.value_len > out_size) {
        return TWOFA_FORM_TOO_LARGE;
    }

    *out_len = ctx.value_len;

    return TWOFA_FORM_FOUND;
}
