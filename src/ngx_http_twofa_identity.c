/*
 * twofa-edge: who logs in, and whether the app took the password, for an
 * app that cannot be changed to say so in a header.
 *
 * The identity comes from twofa_user (a header of the app's response, or
 * a field of the login form through $twofa_form_NAME), brought to one
 * canonical spelling: the module may merge identities the app keeps
 * apart, never split what the app merges, or a password thief would
 * enroll an authenticator of their own under a variant spelling.  The
 * verdict comes from twofa_login_success (a cookie the app sets only on
 * success, a map of its status...), read like proxy_no_cache.
 *
 * Holding the app's response keeps its session from the client only if
 * the app hands out a new session at login: twofa_app_cookie names the
 * app's session cookies, and a login about to be held whose response
 * does not set a new value of each is refused, loudly.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"
#include "twofa_form.h"
#include "twofa_ident.h"


/* the most of a form field's raw value looked at: white space included */
#define NGX_HTTP_TWOFA_FIELD_MAX  1024

#define ngx_http_twofa_white(c)                                              \
    ((c) == ' ' || (c) == '\t' || (c) == '\r' || (c) == '\n'                \
     || (c) == '\v' || (c) == '\f')


static ngx_int_t ngx_http_twofa_canonical(ngx_http_request_t *r,
    ngx_str_t *value, ngx_uint_t lower, const char *what);
static ngx_int_t ngx_http_twofa_login_body(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *body);
static const char *ngx_http_twofa_app_cookie_unsafe(ngx_http_request_t *r,
    ngx_http_twofa_ctx_t *ctx, ngx_str_t *name);
static ngx_int_t ngx_http_twofa_keep(ngx_http_request_t *r, u_char *data,
    size_t len, ngx_str_t *value);


/*
 * In the login subrequest, while its upstream is attached (so that
 * $upstream_* is there): the verdict, then who.  ctx->user stays empty
 * when the password was not accepted; ctx->bad_identity is set when it
 * was and nobody usable is named, which refuses the login.
 */

ngx_int_t
ngx_http_twofa_identity_capture(ngx_http_request_t *r,
    ngx_http_twofa_ctx_t *ctx)
{
    ngx_int_t                   rc;
    ngx_str_t                   value;
    ngx_http_twofa_loc_conf_t  *lcf;

    lcf = ctx->lcf;

    if (lcf->login_success) {
        rc = ngx_http_test_predicates(r, lcf->login_success);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "twofa login success: %s",
                       rc == NGX_DECLINED ? "passed" : "not passed");

        if (rc == NGX_OK) {
            /* all empty or "0": the app refused the password */
            return NGX_OK;
        }
    }

    if (ngx_http_complex_value(r, lcf->user, &value) != NGX_OK) {
        return NGX_ERROR;
    }

    if (value.len == 0 && lcf->login_success == NULL) {
        /* the header style: no name, no login */
        return NGX_OK;
    }

    rc = ngx_http_twofa_canonical(r, &value, lcf->user_lower, "twofa_user");
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ctx->bad_identity = 1;
        return NGX_OK;
    }

    ctx->user = value;

    if (lcf->org) {
        if (ngx_http_complex_value(r, lcf->org, &value) != NGX_OK) {
            return NGX_ERROR;
        }

        if (value.len) {
            rc = ngx_http_twofa_canonical(r, &value, 0, "twofa_org");
            if (rc == NGX_ERROR) {
                return NGX_ERROR;
            }

            if (rc == NGX_DECLINED) {
                ngx_str_null(&ctx->user);
                ctx->bad_identity = 1;
                return NGX_OK;
            }

            ctx->org = value;
        }
    }

    if (ctx->org.len == 0) {
        ngx_str_set(&ctx->org, NGX_HTTP_TWOFA_DEFAULT_ORG);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa login identity \"%V\" of \"%V\"",
                   &ctx->user, &ctx->org);

    return NGX_OK;
}


/*
 * value into its canonical spelling, in place (a new buffer of the
 * pool).  NGX_DECLINED, logged: not a usable identity (not UTF-8, a
 * control character, empty, or longer than TWOFA_ID_MAX bytes once
 * canonical: what twofa_ident_valid() refuses).  Anything else is taken:
 * it is encoded wherever it goes (keys, cookies, URLs, JSON, logs).
 */

static ngx_int_t
ngx_http_twofa_canonical(ngx_http_request_t *r, ngx_str_t *value,
    ngx_uint_t lower, const char *what)
{
    u_char                *shown;
    size_t                 len;
    twofa_ident_status_t   st;
    u_char                 out[TWOFA_IDENT_MAX + 1];

    st = twofa_ident_canonical((const char *) value->data, value->len,
                               lower ? 1 : 0, (char *) out, sizeof(out),
                               &len);

    if (st == TWOFA_IDENT_NO_MEMORY) {
        return NGX_ERROR;
    }

    if (st == TWOFA_IDENT_OK
        && twofa_ident_valid((const char *) out, len))
    {
        return ngx_http_twofa_keep(r, out, len, value);
    }

    /* what the app or the client sent, made safe for the log */

    len = twofa_ident_log_escaped_len((const char *) value->data,
                                      value->len);

    shown = ngx_pnalloc(r->pool, len + 1);
    if (shown == NULL) {
        return NGX_ERROR;
    }

    twofa_ident_log_escape((const char *) value->data, value->len,
                           (char *) shown);
    shown[len] = '\0';

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "twofa: the login passed but %s \"%s\" names no usable "
                  "identity (%s; an identity is 1 to %d bytes of UTF-8 "
                  "without control characters); login refused", what,
                  shown,
                  (st == TWOFA_IDENT_OK || st == TWOFA_IDENT_TOO_LONG)
                  ? "too long" : twofa_ident_reason(st),
                  TWOFA_ID_MAX);

    return NGX_DECLINED;
}


/*
 * $twofa_form_NAME: the field of the login request's body (the main
 * request's, read before the login was proxied).  Empty, and a log line,
 * when the body gives no single clear value: two parsers reading one
 * body two ways is how an identity gets swapped.
 */

ngx_int_t
ngx_http_twofa_form_field(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
    u_char               *start;
    size_t                i, len;
    ngx_str_t             body, type;
    twofa_form_status_t   st;
    u_char                out[NGX_HTTP_TWOFA_FIELD_MAX];

    ngx_str_null(value);

    if (ngx_http_twofa_login_body(r, name, &body) != NGX_OK) {
        return NGX_ERROR;
    }

    if (body.len == 0) {
        return NGX_OK;
    }

    ngx_str_null(&type);

    if (r->main->headers_in.content_type) {
        type = r->main->headers_in.content_type->value;
    }

    st = twofa_form_field((const char *) type.data, type.len,
                          (const char *) body.data, body.len,
                          (const char *) name->data, name->len,
                          (char *) out, sizeof(out), &len);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa form field \"%V\": %s", name,
                   twofa_form_reason(st));

    if (st == TWOFA_FORM_NO_MEMORY) {
        return NGX_ERROR;
    }

    if (st == TWOFA_FORM_ABSENT) {
        return NGX_OK;
    }

    if (st != TWOFA_FORM_FOUND) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "twofa: $twofa_form_%V is empty: the login body "
                      "(\"%V\") gives no single clear value: %s",
                      name, &type, twofa_form_reason(st));
        return NGX_OK;
    }

    /*
     * Decoded, a value could carry CR LF into a header it is put in
     * (add_header, proxy_set_header).  White space at the ends goes (as
     * it would from an identity), any other control character refuses.
     */

    start = out;

    while (len && ngx_http_twofa_white(start[0])) {
        start++;
        len--;
    }

    while (len && ngx_http_twofa_white(start[len - 1])) {
        len--;
    }

    for (i = 0; i < len; i++) {
        if (start[i] < 0x20 || start[i] == 0x7f) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "twofa: $twofa_form_%V is empty: the field "
                          "carries a control character", name);
            return NGX_OK;
        }
    }

    return ngx_http_twofa_keep(r, start, len, value);
}


/* The main request's body, whole and in memory, or empty (logged). */

static ngx_int_t
ngx_http_twofa_login_body(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *body)
{
    u_char                    *p;
    size_t                     len;
    ngx_chain_t               *cl;
    ngx_http_request_body_t   *rb;

    ngx_str_null(body);

    rb = r->main->request_body;

    if (rb == NULL || rb->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = rb->bufs; cl; cl = cl->next) {
        if (cl->buf->in_file || rb->rest) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "twofa: $twofa_form_%V is empty: the login body "
                          "is not whole in memory (larger than "
                          "client_body_buffer_size)", name);
            return NGX_OK;
        }

        len += cl->buf->last - cl->buf->pos;
    }

    if (rb->bufs->next == NULL) {
        body->data = rb->bufs->buf->pos;
        body->len = len;
        return NGX_OK;
    }

    body->data = ngx_pnalloc(r->pool, len);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    p = body->data;

    for (cl = rb->bufs; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    body->len = len;

    return NGX_OK;
}


/*
 * Before a login is decided: NGX_OK when the app's response gives the
 * client a new value of each twofa_app_cookie (or binding makes it moot),
 * NGX_DECLINED, the cookie and why in ctx, when holding it would leave a
 * session the client already holds signed in.
 */

ngx_int_t
ngx_http_twofa_app_cookies_rotated(ngx_http_request_t *r,
    ngx_http_twofa_ctx_t *ctx)
{
    ngx_str_t   *names;
    ngx_uint_t   i;
    const char  *why;

    /* bound, a session id the app keeps is worth nothing alone */

    if (ctx->lcf->app_cookies == NULL || ctx->lcf->bind) {
        return NGX_OK;
    }

    names = ctx->lcf->app_cookies->elts;

    for (i = 0; i < ctx->lcf->app_cookies->nelts; i++) {

        why = ngx_http_twofa_app_cookie_unsafe(r, ctx, &names[i]);

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "twofa app cookie \"%V\": %s", &names[i],
                       why ? why : "new");

        if (why) {
            ctx->unsafe_cookie = &names[i];
            ctx->unsafe_why = why;
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* A login that needed the second factor and could not be held. */

void
ngx_http_twofa_log_unsafe(ngx_http_request_t *r, ngx_http_twofa_ctx_t *ctx)
{
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "twofa: the app's session cookie \"%V\" %s at the login "
                  "of \"%V\" of \"%V\": the session the client already "
                  "holds may be signed in without the second factor; the "
                  "login is refused, not held (twofa_app_cookie; see "
                  "twofa_bind in the README)", ctx->unsafe_cookie,
                  ctx->unsafe_why, ngx_http_twofa_shown(r, &ctx->user),
                  ngx_http_twofa_shown(r, &ctx->org));
}


/* NULL when the response sets a new value of cookie name; else why not */

static const char *
ngx_http_twofa_app_cookie_unsafe(ngx_http_request_t *r,
    ngx_http_twofa_ctx_t *ctx, ngx_str_t *name)
{
    ngx_str_t                 value, v, sent;
    ngx_uint_t                i, found;
    ngx_http_twofa_header_t  *h;

    h = ctx->response.headers.elts;
    found = 0;
    ngx_str_null(&value);

    /* the last Set-Cookie of the name is what the client keeps */

    for (i = 0; i < ctx->response.headers.nelts; i++) {
        if (ngx_http_twofa_set_cookie_value(&h[i].name, &h[i].value, name,
                                            &v)
            == NGX_OK)
        {
            found = 1;
            value = v;
        }
    }

    if (!found) {
        return "is not set by the login response";
    }

    if (value.len == 0) {
        return "is deleted by the login response";
    }

    if (ngx_http_twofa_get_cookie(r, name, &sent) == NGX_OK
        && sent.len == value.len
        && ngx_strncmp(sent.data, value.data, value.len) == 0)
    {
        return "keeps the value the login request carried";
    }

    return NULL;
}


/* data (on the stack) into value, for the rest of the request */

static ngx_int_t
ngx_http_twofa_keep(ngx_http_request_t *r, u_char *data, size_t len,
    ngx_str_t *value)
{
    value->data = ngx_pnalloc(r->pool, len);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(value->data, data, len);
    value->len = len;

    return NGX_OK;
}
