/*
 * The page template engine (the language is in twofa_tpl.h).  Compiling
 * turns the source into a flat list of parts and checks everything that
 * can be wrong, so that rendering is a walk that cannot fail: each section
 * knows where it ends, and a section that is off is jumped over whole.
 */

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twofa_tpl.h"


typedef enum {
    TWOFA_TPL_TEXT = 0,
    TWOFA_TPL_ESCAPED,          /* {{name}} */
    TWOFA_TPL_RAW,              /* {{{name}}} */
    TWOFA_TPL_IF,               /* {{#name}} */
    TWOFA_TPL_UNLESS,           /* {{^name}} */
    TWOFA_TPL_END               /* {{/name}} */
} twofa_tpl_type_t;


typedef struct {
    twofa_tpl_type_t    type;
    size_t              var;    /* index of the name; not for TEXT */
    size_t              start;  /* TEXT: offset in the template's copy */
    size_t              len;    /* TEXT: its bytes */
    size_t              end;    /* IF, UNLESS: index of the matching END */
} twofa_tpl_part_t;


struct twofa_tpl_s {
    char               *text;   /* the copy of the source */
    twofa_tpl_part_t   *parts;
    size_t              nparts;
    size_t              cap;
};


/* What compiling one template needs to know and remember. */
typedef struct {
    twofa_tpl_t         *tpl;
    const char          *end;
    const char *const   *names;
    size_t               nnames;
    uint64_t             raw_allowed;
    size_t               open[TWOFA_TPL_DEPTH];    /* parts of sections */
    size_t               depth;
    char                *err;
    size_t               err_size;
} twofa_tpl_parser_t;


static const char *twofa_tpl_tag(twofa_tpl_parser_t *ps, const char *open);
static twofa_tpl_part_t *twofa_tpl_push(twofa_tpl_t *tpl,
    twofa_tpl_type_t type, size_t var);
static const char *twofa_tpl_find(const char *p, const char *end,
    const char *needle, size_t n);
static size_t twofa_tpl_lookup(twofa_tpl_parser_t *ps, const char *name,
    size_t len);
static void twofa_tpl_error(twofa_tpl_parser_t *ps, const char *fmt, ...);
static int twofa_tpl_len_arg(size_t len);
static size_t twofa_tpl_walk(const twofa_tpl_t *tpl,
    const twofa_tpl_value_t *vars, char *out);
static size_t twofa_tpl_add(size_t a, size_t b);
static const char *twofa_html_entity(unsigned char c, size_t *len);


twofa_tpl_t *
twofa_tpl_compile(const char *src, size_t len, const char *const *names,
    size_t nnames, uint64_t raw_allowed, char *err, size_t err_size)
{
    const char          *p, *open;
    twofa_tpl_t         *tpl;
    twofa_tpl_part_t    *part;
    twofa_tpl_parser_t   ps;

    memset(&ps, 0, sizeof(ps));
    ps.names = names;
    ps.nnames = nnames;
    ps.raw_allowed = raw_allowed;
    ps.err = err;
    ps.err_size = err_size;

    if (err != NULL && err_size > 0) {
        err[0] = '\0';
    }

    tpl = calloc(1, sizeof(twofa_tpl_t));
    if (tpl == NULL) {
        goto nomem;
    }

    ps.tpl = tpl;

    /* one byte more: an empty source still gets a real pointer */

    tpl->text = malloc(len + 1);
    if (tpl->text == NULL) {
        goto nomem;
    }

    if (len) {
        memcpy(tpl->text, src, len);
    }

    p = tpl->text;
    ps.end = p + len;

    while (p < ps.end) {

        open = twofa_tpl_find(p, ps.end, "{{", 2);

        if (open == NULL) {
            open = ps.end;
        }

        if (open > p) {
            part = twofa_tpl_push(tpl, TWOFA_TPL_TEXT, 0);
            if (part == NULL) {
                goto nomem;
            }

            part->start = (size_t) (p - tpl->text);
            part->len = (size_t) (open - p);
        }

        if (open == ps.end) {
            break;
        }

        p = twofa_tpl_tag(&ps, open);
        if (p == NULL) {
            goto failed;
        }
    }

    if (ps.depth) {
        part = &tpl->parts[ps.open[ps.depth - 1]];
        twofa_tpl_error(&ps, "section \"%s\" is not closed",
                        names[part->var]);
        goto failed;
    }

    return tpl;

nomem:

    twofa_tpl_error(&ps, "out of memory");

failed:

    twofa_tpl_free(tpl);

    return NULL;
}


/*
 * One tag starting at `open` ("{{"): its part, and the checks of names,
 * raw use and nesting.  Returns where the text after it starts, or NULL
 * with the error set.
 */

static const char *
twofa_tpl_tag(twofa_tpl_parser_t *ps, const char *open)
{
    int                raw;
    size_t             nlen, var, delim;
    const char        *name, *close;
    twofa_tpl_type_t   type;
    twofa_tpl_part_t  *part, *section;

    raw = (open + 2 < ps->end && open[2] == '{');
    delim = raw ? 3 : 2;
    name = open + delim;

    close = twofa_tpl_find(name, ps->end, raw ? "}}}" : "}}", delim);
    if (close == NULL) {
        twofa_tpl_error(ps, "\"{{\" is not closed");
        return NULL;
    }

    type = raw ? TWOFA_TPL_RAW : TWOFA_TPL_ESCAPED;

    if (!raw && name < close) {
        switch (*name) {
        case '#': type = TWOFA_TPL_IF; name++; break;
        case '^': type = TWOFA_TPL_UNLESS; name++; break;
        case '/': type = TWOFA_TPL_END; name++; break;
        default: break;
        }
    }

    nlen = (size_t) (close - name);

    var = twofa_tpl_lookup(ps, name, nlen);
    if (var == ps->nnames) {
        twofa_tpl_error(ps, "unknown placeholder \"%.*s\"",
                        twofa_tpl_len_arg(nlen), name);
        return NULL;
    }

    if (raw && (var >= 64 || !(ps->raw_allowed & ((uint64_t) 1 << var)))) {
        twofa_tpl_error(ps, "\"{{{%.*s}}}\" would not be escaped; "
                        "use \"{{%.*s}}\"", twofa_tpl_len_arg(nlen), name,
                        twofa_tpl_len_arg(nlen), name);
        return NULL;
    }

    if ((type == TWOFA_TPL_IF || type == TWOFA_TPL_UNLESS)
        && ps->depth == TWOFA_TPL_DEPTH)
    {
        twofa_tpl_error(ps, "sections nest too deep");
        return NULL;
    }

    if (type == TWOFA_TPL_END
        && (ps->depth == 0
            || ps->tpl->parts[ps->open[ps->depth - 1]].var != var))
    {
        twofa_tpl_error(ps, "\"{{/%.*s}}\" closes no open section",
                        twofa_tpl_len_arg(nlen), name);
        return NULL;
    }

    part = twofa_tpl_push(ps->tpl, type, var);
    if (part == NULL) {
        twofa_tpl_error(ps, "out of memory");
        return NULL;
    }

    if (type == TWOFA_TPL_IF || type == TWOFA_TPL_UNLESS) {
        ps->open[ps->depth++] = ps->tpl->nparts - 1;

    } else if (type == TWOFA_TPL_END) {
        section = &ps->tpl->parts[ps->open[--ps->depth]];
        section->end = ps->tpl->nparts - 1;
    }

    return close + delim;
}


void
twofa_tpl_free(twofa_tpl_t *tpl)
{
    if (tpl == NULL) {
        return;
    }

    free(tpl->parts);
    free(tpl->text);
    free(tpl);
}


size_t
twofa_tpl_render_len(const twofa_tpl_t *tpl, const twofa_tpl_value_t *vars)
{
    return twofa_tpl_walk(tpl, vars, NULL);
}


size_t
twofa_tpl_render(const twofa_tpl_t *tpl, const twofa_tpl_value_t *vars,
    char *out)
{
    return twofa_tpl_walk(tpl, vars, out);
}


size_t
twofa_html_escaped_len(const char *src, size_t len)
{
    size_t  i, n, width;

    n = 0;

    for (i = 0; i < len; i++) {
        (void) twofa_html_entity((unsigned char) src[i], &width);
        n = twofa_tpl_add(n, width);
    }

    return n;
}


size_t
twofa_html_escape(const char *src, size_t len, char *out)
{
    char        *p;
    size_t       i, width;
    const char  *entity;

    p = out;

    for (i = 0; i < len; i++) {
        entity = twofa_html_entity((unsigned char) src[i], &width);

        if (entity == NULL) {
            *p++ = src[i];

        } else {
            memcpy(p, entity, width);
            p += width;
        }
    }

    return (size_t) (p - out);
}


/*
 * One walk for both passes, so that the length and the bytes cannot
 * disagree: with out NULL it only counts.
 */

static size_t
twofa_tpl_walk(const twofa_tpl_t *tpl, const twofa_tpl_value_t *vars,
    char *out)
{
    size_t                    i, n, width;
    const twofa_tpl_part_t   *part;
    const twofa_tpl_value_t  *value;

    n = 0;

    for (i = 0; i < tpl->nparts; i++) {
        part = &tpl->parts[i];
        value = (part->type == TWOFA_TPL_TEXT) ? NULL : &vars[part->var];

        switch (part->type) {

        case TWOFA_TPL_TEXT:
            width = part->len;

            if (out != NULL) {
                memcpy(out + n, tpl->text + part->start, width);
            }

            break;

        case TWOFA_TPL_RAW:
            width = value->len;

            if (out != NULL && width) {
                memcpy(out + n, value->data, width);
            }

            break;

        case TWOFA_TPL_ESCAPED:
            width = (out != NULL)
                    ? twofa_html_escape(value->data, value->len, out + n)
                    : twofa_html_escaped_len(value->data, value->len);
            break;

        case TWOFA_TPL_IF:
        case TWOFA_TPL_UNLESS:
            if ((value->len != 0) != (part->type == TWOFA_TPL_IF)) {
                /* off: on to the END, which the loop steps past */
                i = part->end;
            }

            continue;

        default: /* TWOFA_TPL_END */
            continue;
        }

        n = twofa_tpl_add(n, width);
    }

    return n;
}


static twofa_tpl_part_t *
twofa_tpl_push(twofa_tpl_t *tpl, twofa_tpl_type_t type, size_t var)
{
    size_t             cap;
    twofa_tpl_part_t  *parts, *part;

    if (tpl->nparts == tpl->cap) {
        cap = tpl->cap ? tpl->cap * 2 : 32;

        if (cap > SIZE_MAX / sizeof(twofa_tpl_part_t)) {
            return NULL;
        }

        parts = realloc(tpl->parts, cap * sizeof(twofa_tpl_part_t));
        if (parts == NULL) {
            return NULL;
        }

        tpl->parts = parts;
        tpl->cap = cap;
    }

    part = &tpl->parts[tpl->nparts++];
    memset(part, 0, sizeof(twofa_tpl_part_t));
    part->type = type;
    part->var = var;

    return part;
}


/* The first needle (n bytes) wholly inside [p, end), or NULL. */

static const char *
twofa_tpl_find(const char *p, const char *end, const char *needle, size_t n)
{
    const char  *c;

    while ((size_t) (end - p) >= n) {
        c = memchr(p, needle[0], (size_t) (end - p) - n + 1);
        if (c == NULL) {
            return NULL;
        }

        if (memcmp(c, needle, n) == 0) {
            return c;
        }

        p = c + 1;
    }

    return NULL;
}


/* The index of the name, or nnames when it is none of them. */

static size_t
twofa_tpl_lookup(twofa_tpl_parser_t *ps, const char *name, size_t len)
{
    size_t  i;

    for (i = 0; i < ps->nnames; i++) {
        if (strlen(ps->names[i]) == len
            && memcmp(ps->names[i], name, len) == 0)
        {
            break;
        }
    }

    return i;
}


static void
twofa_tpl_error(twofa_tpl_parser_t *ps, const char *fmt, ...)
{
    va_list  ap;

    if (ps->err == NULL || ps->err_size == 0) {
        return;
    }

    va_start(ap, fmt);
    (void) vsnprintf(ps->err, ps->err_size, fmt, ap);
    va_end(ap);
}


/* A length for "%.*s"; the message is cut to err_size anyway. */

static int
twofa_tpl_len_arg(size_t len)
{
    return len > INT_MAX ? INT_MAX : (int) len;
}


/* Sizes add up to SIZE_MAX at most: no allocation satisfies that. */

static size_t
twofa_tpl_add(size_t a, size_t b)
{
    return (a > SIZE_MAX - b) ? SIZE_MAX : a + b;
}


static const char *
twofa_html_entity(unsigned char c, size_t *len)
{
    switch (c) {
    case '&': *len = 5; return "&amp;";
    case '<': *len = 4; return "&lt;";
    case '>': *len = 4; return "&gt;";
    case '"': *len = 6; return "&quot;";
    case '\'': *len = 6; return "&#x27;";
    default: *len = 1; return NULL;
    }
}
