/*
 * twofa-edge: the small pieces of HTTP every part of the module uses:
 * the request's ctx and keys, headers, cookies, bodies and forms,
 * escaping, local return paths, and complete responses (pages, JSON,
 * redirects, 503) with the pages' security headers.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"
#include "twofa_ident.h"
#include "twofa_tpl.h"


static ngx_int_t ngx_http_twofa_html_escape(ngx_pool_t *pool, ngx_str_t *src,
    ngx_str_t *dst);


static ngx_table_elt_t *ngx_http_twofa_find_header(ngx_http_request_t *r,
    const char *name, size_t len, ngx_table_elt_t *after);


ngx_http_twofa_ctx_t *
ngx_http_twofa_get_ctx(ngx_http_request_t *r)
{
    ngx_http_twofa_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_twofa_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->main->pool, sizeof(ngx_http_twofa_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ngx_http_set_ctx(r->main, ctx, ngx_http_twofa_module);
    }

    return ctx;
}


/* What $twofa_result will say of this request. */

void
ngx_http_twofa_set_result(ngx_http_request_t *r,
    ngx_http_twofa_result_e result)
{
    ngx_http_twofa_ctx_t  *ctx;

    ctx = ngx_http_twofa_get_ctx(r);
    if (ctx != NULL) {
        ctx->result = result;
    }
}


/* A handler's own state, zeroed, kept as ctx->page: NULL, no memory. */

void *
ngx_http_twofa_new_page(ngx_http_request_t *r, size_t size)
{
    ngx_http_twofa_ctx_t  *ctx;

    ctx = ngx_http_twofa_get_ctx(r);
    if (ctx == NULL) {
        return NULL;
    }

    ctx->page = ngx_pcalloc(r->pool, size);

    return ctx->page;
}


/* the state ngx_http_twofa_new_page() made for this request's handler */

void *
ngx_http_twofa_page(ngx_http_request_t *r)
{
    ngx_http_twofa_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_twofa_module);

    return ctx->page;
}


/* handler(data) when pool is destroyed (a secret wiped, a buffer freed) */

ngx_int_t
ngx_http_twofa_on_cleanup(ngx_pool_t *pool, ngx_pool_cleanup_pt handler,
    void *data)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = handler;
    cln->data = data;

    return NGX_OK;
}


const twofa_key_t *
ngx_http_twofa_keys(ngx_http_request_t *r, size_t *n)
{
    ngx_http_twofa_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_twofa_module);

    *n = tmcf->keys->nelts;

    return tmcf->keys->elts;
}


ngx_table_elt_t *
ngx_http_twofa_push_header(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
    h->key.len = ngx_strlen(name);
    h->key.data = (u_char *) name;
    h->value = *value;
    h->lowcase_key = NULL;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return h;
}


static ngx_table_elt_t *
ngx_http_twofa_find_header(ngx_http_request_t *r, const char *name,
    size_t len, ngx_table_elt_t *after)
{
    ngx_uint_t                  passed;
    ngx_table_elt_t            *h;
    ngx_http_twofa_list_walk_t  walk;

    passed = (after == NULL);
    ngx_http_twofa_list_start(&walk, &r->headers_in.headers);

    for ( ;; ) {
        h = ngx_http_twofa_list_next(&walk, sizeof(ngx_table_elt_t));
        if (h == NULL) {
            break;
        }

        if (!passed) {
            passed = (h == after);
            continue;
        }

        if (h->key.len == len
            && ngx_strncasecmp(h->key.data, (u_char *) name, len) == 0)
        {
            return h;
        }
    }

    return NULL;
}


/*
 * One response header (name header, value line) when it is a Set-Cookie
 * of cookie name: NGX_OK and the value the client keeps, empty for a
 * deletion (an empty value, Max-Age of zero or less, an Expires in the
 * past); otherwise NGX_DECLINED.
 */

ngx_int_t
ngx_http_twofa_set_cookie_value(ngx_str_t *header, ngx_str_t *line,
    ngx_str_t *name, ngx_str_t *value)
{
    u_char  *p, *end, *start, *stop;
    time_t   expires;

    if (header->len != sizeof("Set-Cookie") - 1
        || ngx_strncasecmp(header->data, (u_char *) "Set-Cookie",
                           sizeof("Set-Cookie") - 1)
           != 0)
    {
        return NGX_DECLINED;
    }

    p = line->data;
    end = p + line->len;

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    if ((size_t) (end - p) <= name->len
        || p[name->len] != '='
        || ngx_strncmp(p, name->data, name->len) != 0)
    {
        return NGX_DECLINED;
    }

    value->data = p + name->len + 1;
    stop = ngx_strlchr(value->data, end, ';');
    value->len = (stop ? stop : end) - value->data;

    /* the attributes: a deletion leaves the client without the cookie */

    p = value->data + value->len;

    while (p < end) {

        while (p < end && (*p == ';' || *p == ' ' || *p == '\t')) {
            p++;
        }

        start = p;
        stop = ngx_strlchr(p, end, ';');
        p = stop ? stop : end;

        if (p - start > 8
            && ngx_strncasecmp(start, (u_char *) "max-age=", 8) == 0
            && (start[8] == '-' || ngx_atoi(start + 8, p - start - 8) == 0))
        {
            value->len = 0;
        }

        if (p - start > 8
            && ngx_strncasecmp(start, (u_char *) "expires=", 8) == 0)
        {
            expires = ngx_parse_http_time(start + 8, p - start - 8);

            if (expires != NGX_ERROR && expires <= ngx_time()) {
                value->len = 0;
            }
        }
    }

    return NGX_OK;
}


/*
 * The Cookie headers nginx collected, one by one: start with prev NULL
 * and *i 0.  NULL after the last.
 */

ngx_table_elt_t *
ngx_http_twofa_cookie_header(ngx_http_request_t *r, ngx_table_elt_t *prev,
    ngx_uint_t *i)
{
#if (nginx_version >= 1023000)
    return prev ? prev->next : r->headers_in.cookie;
#else
    ngx_table_elt_t  **hs;

    hs = r->headers_in.cookies.elts;

    return (*i < r->headers_in.cookies.nelts) ? hs[(*i)++] : NULL;
#endif
}


/*
 * The next pair of a Cookie header value from *pos (left after it): the
 * whole pair, and its name (up to '=', or all of it).  0 at the end.
 * memchr: a session cookie is long, and this runs per request.
 */

ngx_uint_t
ngx_http_twofa_cookie_pair(u_char **pos, u_char *end, ngx_str_t *pair,
    ngx_str_t *name)
{
    u_char  *p, *semi, *eq;

    p = *pos;

    while (p < end && (*p == ' ' || *p == ';' || *p == '\t')) {
        p++;
    }

    if (p == end) {
        *pos = p;
        return 0;
    }

    semi = memchr(p, ';', end - p);

    pair->data = p;
    pair->len = (semi ? semi : end) - p;

    eq = memchr(p, '=', pair->len);

    name->data = p;
    name->len = eq ? (size_t) (eq - p) : pair->len;

    *pos = p + pair->len;

    return 1;
}


/*
 * The value of cookie `name` from every Cookie header.  Our own cookie
 * names are fixed or checked tokens, so a plain scan is exact.
 */

ngx_int_t
ngx_http_twofa_get_cookie(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
    u_char           *p, *end;
    ngx_str_t         pair, n;
    ngx_uint_t        i;
    ngx_table_elt_t  *h;

    i = 0;

    for (h = ngx_http_twofa_cookie_header(r, NULL, &i);
         h;
         h = ngx_http_twofa_cookie_header(r, h, &i))
    {
        p = h->value.data;
        end = p + h->value.len;

        while (ngx_http_twofa_cookie_pair(&p, end, &pair, &n)) {

            if (n.len != name->len || n.len == pair.len
                || ngx_strncmp(n.data, name->data, name->len) != 0)
            {
                continue;
            }

            value->data = n.data + n.len + 1;
            value->len = pair.len - n.len - 1;

            while (value->len && value->data[value->len - 1] == ' ') {
                value->len--;
            }

            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_http_twofa_set_cookie(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value, ngx_str_t *path, ngx_str_t *domain,
    ngx_str_t *samesite, ngx_flag_t secure, time_t max_age)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   v;

    len = name->len + 1 + value->len
          + sizeof("; Path=") - 1 + path->len
          + sizeof("; Domain=") - 1 + domain->len
          + sizeof("; Max-Age=") - 1 + NGX_TIME_T_LEN
          + sizeof("; HttpOnly; Secure; SameSite=") - 1 + samesite->len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v.data = p;

    p = ngx_sprintf(p, "%V=%V; Path=%V", name, value, path);

    if (domain->len) {
        p = ngx_sprintf(p, "; Domain=%V", domain);
    }

    p = ngx_sprintf(p, "; Max-Age=%T; HttpOnly", max_age);

    if (secure) {
        p = ngx_cpymem(p, "; Secure", sizeof("; Secure") - 1);
    }

    p = ngx_sprintf(p, "; SameSite=%V", samesite);

    v.len = p - v.data;

    if (ngx_http_twofa_push_header(r, "Set-Cookie", &v) == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* 1 when the client asked for JSON (Accept: application/json). */

ngx_uint_t
ngx_http_twofa_wants_json(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    for (h = ngx_http_twofa_find_header(r, "Accept", 6, NULL);
         h;
         h = ngx_http_twofa_find_header(r, "Accept", 6, h))
    {
        if (ngx_strlcasestrn(h->value.data, h->value.data + h->value.len,
                             (u_char *) "application/json", 16 - 1)
            != NULL)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * Reads a small form or JSON body (at most `max` bytes) into one buffer,
 * then calls the handler.  A larger body: 413.
 */

ngx_int_t
ngx_http_twofa_read_body(ngx_http_request_t *r, size_t max,
    ngx_http_client_body_handler_pt handler)
{
    ngx_http_twofa_ctx_t  *ctx;

    ctx = ngx_http_twofa_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->headers_in.content_length_n > (off_t) max) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "twofa: request body of %O bytes refused",
                      r->headers_in.content_length_n);
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    ctx->body_max = max;
    r->request_body_in_single_buf = 1;

    return ngx_http_read_client_request_body(r, handler);
}


/*
 * The usual opening of the module's content handlers: with a body to read
 * (read), posted runs once it is in; without, the body is discarded and
 * start runs now.  The request lives on until a callback finalizes it.
 */

ngx_int_t
ngx_http_twofa_with_body(ngx_http_request_t *r, ngx_uint_t read, size_t max,
    ngx_http_client_body_handler_pt posted,
    ngx_http_client_body_handler_pt start)
{
    ngx_int_t  rc;

    if (read) {
        rc = ngx_http_twofa_read_body(r, max, posted);
        return (rc >= NGX_HTTP_SPECIAL_RESPONSE) ? rc : NGX_DONE;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    r->main->count++;

    start(r);

    return NGX_DONE;
}


/*
 * The body just read, as one string in ctx->body: NGX_OK, or the status
 * to answer (413 too big, 500).
 */

ngx_int_t
ngx_http_twofa_body(ngx_http_request_t *r)
{
    u_char                *p;
    size_t                 len;
    ngx_buf_t             *b;
    ngx_chain_t           *cl;
    ngx_http_twofa_ctx_t  *ctx;

    ctx = ngx_http_twofa_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_null(&ctx->body);

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        }

        if (ngx_buf_in_memory(b)) {
            len += b->last - b->pos;
        }
    }

    if (len > ctx->body_max) {
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->body.data = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
        }
    }

    *p = '\0';
    ctx->body.len = len;

    return NGX_OK;
}


/*
 * The value of `name` in an application/x-www-form-urlencoded body,
 * decoded ('+' and %XX).  NGX_DECLINED when absent.
 */

ngx_int_t
ngx_http_twofa_form_value(ngx_http_request_t *r, ngx_str_t *body,
    const char *name, ngx_str_t *value)
{
    u_char  *p, *end, *start, *dst, *src;
    size_t   len;

    len = ngx_strlen(name);
    p = body->data;
    end = p + body->len;

    while (p < end) {
        start = p;

        while (p < end && *p != '&') {
            p++;
        }

        if ((size_t) (p - start) > len && start[len] == '='
            && ngx_strncmp(start, name, len) == 0)
        {
            start += len + 1;

            value->data = ngx_pnalloc(r->pool, (p - start) + 1);
            if (value->data == NULL) {
                return NGX_ERROR;
            }

            for (src = start, dst = value->data; src < p; src++) {
                *dst++ = (*src == '+') ? ' ' : *src;
            }

            src = value->data;
            end = dst;
            dst = value->data;

            ngx_unescape_uri(&dst, &src, end - src, 0);

            value->len = dst - value->data;
            return NGX_OK;
        }

        if ((size_t) (p - start) == len && ngx_strncmp(start, name, len) == 0)
        {
            ngx_str_null(value);
            return NGX_OK;
        }

        p++;
    }

    return NGX_DECLINED;
}


/* HTML-escaped copy (& < > " '), by the core's one escaping function. */

static ngx_int_t
ngx_http_twofa_html_escape(ngx_pool_t *pool, ngx_str_t *src, ngx_str_t *dst)
{
    size_t  len;

    len = twofa_html_escaped_len((const char *) src->data, src->len);

    dst->data = ngx_pnalloc(pool, len ? len : 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    dst->len = twofa_html_escape((const char *) src->data, src->len,
                                 (char *) dst->data);

    return NGX_OK;
}


/* A JSON string literal, quotes included, in the request's pool. */

ngx_int_t
ngx_http_twofa_json_string(ngx_pool_t *pool, ngx_str_t *src, ngx_str_t *dst)
{
    u_char  *p;
    size_t   len;

    len = ngx_escape_json(NULL, src->data, src->len);

    p = ngx_pnalloc(pool, src->len + len + 2);
    if (p == NULL) {
        return NGX_ERROR;
    }

    dst->data = p;
    *p++ = '"';
    p = (u_char *) ngx_escape_json(p, src->data, src->len);
    *p++ = '"';
    dst->len = p - dst->data;

    return NGX_OK;
}


/*
 * An identity (or any bytes) for a log line, inside double quotes, as
 * twofa_ident_log_escape() makes it: a '"' or '\\' in it can neither
 * end the quotes nor fake a field, and UTF-8 stays readable.  The value
 * itself when nothing needs escaping; without memory a placeholder (a
 * log line is no reason to fail a request).
 */

ngx_str_t *
ngx_http_twofa_shown(ngx_http_request_t *r, ngx_str_t *s)
{
    size_t      len;
    ngx_str_t  *shown;

    static ngx_str_t  no_memory = ngx_string("(no memory to show it)");

    len = twofa_ident_log_escaped_len((const char *) s->data, s->len);

    if (len == s->len) {
        return s;
    }

    shown = ngx_palloc(r->pool, sizeof(ngx_str_t));
    if (shown == NULL) {
        return &no_memory;
    }

    shown->data = ngx_pnalloc(r->pool, len);
    if (shown->data == NULL) {
        return &no_memory;
    }

    shown->len = twofa_ident_log_escape((const char *) s->data, s->len,
                                        (char *) shown->data);

    return shown;
}


/*
 * A local path to return to after a step-up: '/' first, not "//" or "/\"
 * (another host to browsers), no control characters or backslashes.
 * Anything else becomes "/": never an open redirect.
 */

void
ngx_http_twofa_local_path(ngx_str_t *in, ngx_str_t *out)
{
    u_char  *p;

    if (in->len == 0 || in->len > 2048 || in->data[0] != '/'
        || (in->len > 1 && (in->data[1] == '/' || in->data[1] == '\\')))
    {
        goto root;
    }

    for (p = in->data; p < in->data + in->len; p++) {
        if (*p <= ' ' || *p >= 0x7f || *p == '\\') {
            goto root;
        }
    }

    *out = *in;
    return;

root:

    ngx_str_set(out, "/");
}


/*
 * Sends a complete page or JSON document with the headers every response
 * of the pages carries.  Returns what ngx_http_output_filter() returned,
 * for ngx_http_finalize_request().
 */

ngx_int_t
ngx_http_twofa_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_uint_t json, ngx_str_t *body)
{
    ngx_str_t  v;

    static ngx_str_t  csp = ngx_string(
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'");

    r->headers_out.status = status;
    r->headers_out.content_length_n = body->len;

    if (json) {
        ngx_str_set(&r->headers_out.content_type, "application/json");

    } else {
        ngx_str_set(&r->headers_out.content_type, "text/html; charset=utf-8");
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    ngx_str_set(&v, "no-store");
    if (ngx_http_twofa_push_header(r, "Cache-Control", &v) == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&v, "nosniff");
    if (ngx_http_twofa_push_header(r, "X-Content-Type-Options", &v) == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&v, "no-referrer");
    if (ngx_http_twofa_push_header(r, "Referrer-Policy", &v) == NULL) {
        return NGX_ERROR;
    }

    if (!json) {
        if (ngx_http_twofa_push_header(r, "Content-Security-Policy", &csp)
            == NULL)
        {
            return NGX_ERROR;
        }

        ngx_str_set(&v, "DENY");
        if (ngx_http_twofa_push_header(r, "X-Frame-Options", &v) == NULL) {
            return NGX_ERROR;
        }
    }

    return ngx_http_twofa_send_body(r, body);
}


/* The header as set, then the body from memory (or none). */

ngx_int_t
ngx_http_twofa_send_body(ngx_http_request_t *r, ngx_str_t *body)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only || body->len == 0) {
        if (body->len == 0 && rc == NGX_OK && !r->header_only) {
            return ngx_http_send_special(r, NGX_HTTP_LAST);
        }

        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * A JSON document made with nginx's printf (%V, %s, %ui...); the caller
 * escapes what needs it.  Our documents are small: 4 KiB bounds them.
 */

ngx_int_t
ngx_http_twofa_send_json(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ...)
{
    u_char     *p;
    va_list     args;
    ngx_str_t   body;

    body.data = ngx_pnalloc(r->pool, NGX_HTTP_TWOFA_JSON_MAX);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(body.data, body.data + NGX_HTTP_TWOFA_JSON_MAX, fmt,
                      args);
    va_end(args);

    body.len = p - body.data;

    return ngx_http_twofa_send(r, status, 1, &body);
}


/* 303 See Other to a local URI, with a small page for old clients. */

ngx_int_t
ngx_http_twofa_redirect(ngx_http_request_t *r, ngx_str_t *uri)
{
    u_char           *p;
    ngx_str_t         body, escaped;
    ngx_table_elt_t  *h;

    h = ngx_http_twofa_push_header(r, "Location", uri);
    if (h == NULL) {
        return NGX_ERROR;
    }

    r->headers_out.location = h;

    if (ngx_http_twofa_html_escape(r->pool, uri, &escaped) != NGX_OK) {
        return NGX_ERROR;
    }

    body.len = sizeof("<!doctype html><title>See Other</title>"
                      "<p><a href=\"\">Continue</a></p>\n") - 1
               + escaped.len;

    body.data = ngx_pnalloc(r->pool, body.len);
    if (body.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(body.data, "<!doctype html><title>See Other</title>"
                    "<p><a href=\"%V\">Continue</a></p>\n", &escaped);

    body.len = p - body.data;

    return ngx_http_twofa_send(r, NGX_HTTP_SEE_OTHER, 0, &body);
}


/*
 * Ends a request that waited for Redis (its read handler tested the
 * connection meanwhile).
 */

void
ngx_http_twofa_done(ngx_http_request_t *r, ngx_int_t rc)
{
    r->read_event_handler = ngx_http_block_reading;
    ngx_http_finalize_request(r, rc);
}


/* 503 when Redis gives no answer: a page, or JSON. */

ngx_int_t
ngx_http_twofa_unavailable(ngx_http_request_t *r)
{
    ngx_str_t   body, v;

    ngx_str_set(&v, "5");
    if (ngx_http_twofa_push_header(r, "Retry-After", &v) == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_twofa_wants_json(r)) {
        ngx_str_set(&body, "{\"error\":\"unavailable\"}");
        return ngx_http_twofa_send(r, NGX_HTTP_SERVICE_UNAVAILABLE, 1, &body);
    }

    ngx_str_set(&body,
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width\">"
        "<title>Sign-in unavailable</title>"
        "<h1>Sign-in is unavailable</h1>"
        "<p>Two-factor sign-in cannot be checked right now. "
        "Please try again in a moment.</p>\n");

    return ngx_http_twofa_send(r, NGX_HTTP_SERVICE_UNAVAILABLE, 0, &body);
}
