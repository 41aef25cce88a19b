/*
 * twofa-edge: the app's session bound to the module's (twofa_bind).
 *
 * Holding the login response keeps the app's session from the client
 * only if the app issues a new one at login and every door into its
 * login goes through the held location.  Binding drops both conditions:
 * each login that passes or is released gets, beside the session cookie,
 * a bind cookie: a MAC of the session cookie and of the values of the
 * app's session cookies (twofa_app_cookie) the client will hold.  On a
 * bound location, app cookies that do not match a valid binding are
 * taken out of the request before it goes on: the app sees a client that
 * is signed out, whatever session id was signed in through another door
 * or kept from before the login.
 *
 * No Redis: the MAC is checked against the configured keys, and a
 * per-worker cache of bindings verified before makes the usual request a
 * compare of bytes.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"


#define NGX_HTTP_TWOFA_BIND_PREFIX  "bind:"


/*
 * A response that sets no cookie: a binding made "as this response
 * leaves the client" over it is the request's own (what is checked).
 */
static ngx_http_twofa_response_t  ngx_http_twofa_request_only;


static ngx_int_t ngx_http_twofa_bind_check(ngx_http_request_t *r,
    ngx_http_twofa_loc_conf_t *lcf);
static ngx_http_twofa_bind_entry_t *ngx_http_twofa_bind_slot(
    ngx_http_request_t *r, ngx_http_twofa_loc_conf_t *lcf, size_t *len,
    uint32_t *hash);
static ngx_uint_t ngx_http_twofa_bind_cached(ngx_http_request_t *r,
    ngx_http_twofa_loc_conf_t *lcf);
static void ngx_http_twofa_bind_remember(ngx_http_request_t *r,
    ngx_http_twofa_loc_conf_t *lcf, const twofa_session_t *s);
static ngx_int_t ngx_http_twofa_bind_string(ngx_http_request_t *r,
    ngx_http_twofa_loc_conf_t *lcf, ngx_str_t *session,
    ngx_http_twofa_response_t *resp, ngx_str_t *out);
static void ngx_http_twofa_will_hold(ngx_http_request_t *r,
    ngx_http_twofa_response_t *resp, ngx_str_t *name, ngx_str_t *value);
static ngx_int_t ngx_http_twofa_bind_set(ngx_http_request_t *r,
    ngx_http_twofa_loc_conf_t *lcf, ngx_str_t *session,
    ngx_http_twofa_response_t *resp);
static ngx_int_t ngx_http_twofa_bind_cookie_name(ngx_http_request_t *r,
    ngx_str_t *name);
static ngx_uint_t ngx_http_twofa_app_signed_out(ngx_http_request_t *r,
    ngx_http_twofa_loc_conf_t *lcf);
static ngx_int_t ngx_http_twofa_end_session(ngx_http_request_t *r);
static ngx_uint_t ngx_http_twofa_sets_app_cookie(ngx_http_request_t *r,
    ngx_http_twofa_loc_conf_t *lcf);
static ngx_int_t ngx_http_twofa_unbind(ngx_http_request_t *r,
    ngx_http_twofa_loc_conf_t *lcf);
static ngx_int_t ngx_http_twofa_app_cookies(ngx_http_request_t *r,
    ngx_http_twofa_loc_conf_t *lcf, ngx_uint_t strip, ngx_uint_t *ambiguous);
static ngx_uint_t ngx_http_twofa_app_cookie_name(
    ngx_http_twofa_loc_conf_t *lcf, u_char *name, size_t len,
    ngx_uint_t *exact);


/*
 * Preaccess, so that no access handler's NGX_OK (satisfy any) can skip
 * it: every bound location but a login one, whose body must be read
 * first (ngx_http_twofa_bind_login()).
 */

ngx_int_t
ngx_http_twofa_bind_handler(ngx_http_request_t *r)
{
    ngx_http_twofa_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_twofa_module);

    /* the module's own locations never reach the app */

    if (!lcf->bind || lcf->login || lcf->pages || lcf->admin || lcf->metrics
        || r != r->main)
    {
        return NGX_DECLINED;
    }

    /* the usual request: the very cookies verified before */

    if (ngx_http_twofa_bind_cached(r, lcf)
        || ngx_http_twofa_app_cookies(r, lcf, 0, NULL) == 0
        || ngx_http_twofa_bind_check(r, lcf) == NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (ngx_http_twofa_unbind(r, lcf) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


/*
 * A bound login location, its body read: unbound app cookies go on only
 * with a login attempt (the identity field present; the app may want its
 * pre-login session), so a session signed in through another door cannot
 * act through the login URL either.  The header style names the user only
 * in the answer: there a POST counts as an attempt.
 */

ngx_int_t
ngx_http_twofa_bind_login(ngx_http_request_t *r,
    ngx_http_twofa_loc_conf_t *lcf)
{
    ngx_str_t  user;

    if (!lcf->bind || ngx_http_twofa_app_cookies(r, lcf, 0, NULL) == 0
        || ngx_http_twofa_bind_check(r, lcf) == NGX_OK)
    {
        return NGX_OK;
    }

    if (lcf->user_from_form) {
        if (ngx_http_complex_value(r, lcf->user, &user) != NGX_OK) {
            return NGX_ERROR;
        }

        if (user.len) {
            return NGX_OK;
        }

    } else if (r->method == NGX_HTTP_POST) {
        return NGX_OK;
    }

    return ngx_http_twofa_unbind(r, lcf);
}


/*
 * The bind cookie over the session cookie just set and the app cookies
 * the client will hold: of a login that passed (resp: the app's response,
 * as captured) or was released (resp: the held response); or, resp NULL,
 * of a session made anew for a signed-in user (a step-up, enrollment),
 * only when the request's app cookies were bound to the session before.
 */

ngx_int_t
ngx_http_twofa_bind_session(ngx_http_request_t *r,
    ngx_http_twofa_response_t *resp)
{
    ngx_http_twofa_ctx_t       *ctx;
    ngx_http_twofa_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_twofa_module);

    if (!lcf->bind) {
        return NGX_OK;
    }

    ctx = ngx_http_twofa_get_ctx(r);
    if (ctx == NULL || ctx->session_cookie.len == 0) {
        return NGX_ERROR;
    }

    if (resp == NULL && ngx_http_twofa_bind_check(r, lcf) != NGX_OK) {
        return NGX_OK;
    }

    return ngx_http_twofa_bind_set(r, lcf, &ctx->session_cookie, resp);
}


/*
 * The header filter's part, on the main request of a bound location: an
 * app that rotates its session is bound again, but only for a request
 * whose app cookies were bound, or a new app session that appears beside
 * a module session the client happens to hold would be bound to it.  An
 * app that signs the client out (it will hold no app cookie) ends the
 * module's session too: it would otherwise name the user to the gate and
 * to $twofa_user for hours after the app's logout.
 */

ngx_int_t
ngx_http_twofa_bind_rotated(ngx_http_request_t *r)
{
    ngx_str_t                   session;
    ngx_http_twofa_loc_conf_t  *lcf;
    ngx_http_twofa_srv_conf_t  *tscf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_twofa_module);
    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    /* rare: the response touches an app cookie, so ask again */

    if (!lcf->bind || lcf->login || lcf->pages || lcf->admin || lcf->metrics
        || !ngx_http_twofa_sets_app_cookie(r, lcf)
        || ngx_http_twofa_bind_check(r, lcf) != NGX_OK
        || ngx_http_twofa_get_cookie(r, &tscf->cookie.name, &session)
           != NGX_OK)
    {
        return NGX_OK;
    }

    if (ngx_http_twofa_app_signed_out(r, lcf)) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "twofa bind: the app signed out, so does the module");

        return ngx_http_twofa_end_session(r);
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa bind: the app's session changed, bound again");

    return ngx_http_twofa_bind_set(r, lcf, &session, NULL);
}


/* NGX_OK when the request's app cookies are bound to its valid session */

static ngx_int_t
ngx_http_twofa_bind_check(ngx_http_request_t *r,
    ngx_http_twofa_loc_conf_t *lcf)
{
    size_t                        n;
    ngx_str_t                     name, token, session, binding;
    ngx_uint_t                    ambiguous;
    const twofa_key_t            *keys;
    const twofa_session_t        *s;
    ngx_http_twofa_srv_conf_t    *tscf;
    ngx_http_twofa_main_conf_t   *tmcf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);
    tmcf = ngx_http_get_module_main_conf(r, ngx_http_twofa_module);

    ambiguous = 0;

    if (tmcf->bindings == NULL
        || ngx_http_twofa_app_cookies(r, lcf, 0, &ambiguous) < 0
        || ambiguous
        || ngx_http_twofa_bind_cookie_name(r, &name) != NGX_OK
        || ngx_http_twofa_get_cookie(r, &name, &token) != NGX_OK
        || token.len != TWOFA_CSRF_LEN
        || ngx_http_twofa_get_session(r, &s) != NGX_OK
        || ngx_http_twofa_get_cookie(r, &tscf->cookie.name, &session)
           != NGX_OK
        || ngx_http_twofa_bind_string(r, lcf, &session,
                                      &ngx_http_twofa_request_only, &binding)
           != NGX_OK)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "twofa bind: no valid session or bind cookie%s",
                       ambiguous ? " (app cookie spelled twice)" : "");
        return NGX_DECLINED;
    }

    keys = ngx_http_twofa_keys(r, &n);

    if (!twofa_csrf_check(keys, n, (const char *) binding.data, binding.len,
                          (const char *) token.data, token.len))
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "twofa bind: app cookies not bound to the session");
        return NGX_DECLINED;
    }

    ngx_http_twofa_bind_remember(r, lcf, s);

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa bind: bound");

    return NGX_OK;
}


/*
 * The per-worker cache: the exact bytes of the request's Cookie headers
 * that were verified as bound, on this location, with the session they
 * carried (expiry and revocation are checked again at every use).  A
 * keep-alive client sends the same cookies request after request, so the
 * usual bound request costs a hash of a few bytes and one compare.  The
 * slot comes from the last bytes, where the bind token's MAC is as good
 * as random; a crafted request only misses, what is stored was verified.
 */

static ngx_http_twofa_bind_entry_t *
ngx_http_twofa_bind_slot(ngx_http_request_t *r,
    ngx_http_twofa_loc_conf_t *lcf, size_t *len, uint32_t *hash)
{
    u_char                      *p;
    ngx_uint_t                   i;
    ngx_table_elt_t             *h;
    ngx_http_twofa_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_twofa_module);

    if (tmcf->bindings == NULL) {
        return NULL;
    }

    *len = 0;
    *hash = 2166136261u;
    i = 0;

    for (h = ngx_http_twofa_cookie_header(r, NULL, &i);
         h;
         h = ngx_http_twofa_cookie_header(r, h, &i))
    {
        *len += h->value.len + 1;

        for (p = h->value.data + h->value.len - ngx_min(h->value.len, 8);
             p < h->value.data + h->value.len;
             p++)
        {
            *hash = (*hash ^ *p) * 16777619u;
        }
    }

    if (*len == 0 || *len > NGX_HTTP_TWOFA_BIND_CACHE_MAX) {
        return NULL;
    }

    *hash ^= (uint32_t) (uintptr_t) lcf;

    return &tmcf->bindings[*hash & (NGX_HTTP_TWOFA_BIND_CACHE - 1)];
}


static ngx_uint_t
ngx_http_twofa_bind_cached(ngx_http_request_t *r,
    ngx_http_twofa_loc_conf_t *lcf)
{
    u_char                       *p;
    size_t                        len;
    uint32_t                      hash;
    ngx_uint_t                    i, same;
    ngx_table_elt_t              *h;
    ngx_http_twofa_main_conf_t   *tmcf;
    ngx_http_twofa_bind_entry_t  *e;

    e = ngx_http_twofa_bind_slot(r, lcf, &len, &hash);

    if (e == NULL || e->len != len || e->hash != hash || e->lcf != lcf) {
        return 0;
    }

    same = 1;
    p = e->cookies;
    i = 0;

    for (h = ngx_http_twofa_cookie_header(r, NULL, &i);
         h;
         h = ngx_http_twofa_cookie_header(r, h, &i))
    {
        same &= twofa_ct_equal(p, h->value.data, h->value.len);
        p += h->value.len + 1;
    }

    if (!same || e->session.exp <= (int64_t) ngx_time()) {
        return 0;
    }

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_twofa_module);

    if (ngx_http_twofa_revoked(tmcf->revocations, &e->session)) {
        e->len = 0;
        return 0;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa bind: bound (cached)");

    return 1;
}


static void
ngx_http_twofa_bind_remember(ngx_http_request_t *r,
    ngx_http_twofa_loc_conf_t *lcf, const twofa_session_t *s)
{
    u_char                       *p;
    size_t                        len;
    uint32_t                      hash;
    ngx_uint_t                    i;
    ngx_table_elt_t              *h;
    ngx_http_twofa_bind_entry_t  *e;

    e = ngx_http_twofa_bind_slot(r, lcf, &len, &hash);

    if (e == NULL) {
        return;
    }

    p = e->cookies;
    i = 0;

    for (h = ngx_http_twofa_cookie_header(r, NULL, &i);
         h;
         h = ngx_http_twofa_cookie_header(r, h, &i))
    {
        p = ngx_cpymem(p, h->value.data, h->value.len);
        *p++ = '\0';
    }

    e->hash = hash;
    e->len = len;
    e->lcf = lcf;
    e->session = *s;
}


/*
 * What the bind cookie MACs: "bind:", the session cookie, then each app
 * cookie as "\nNAME=VALUE" (empty when the client holds none), in the
 * order of twofa_app_cookie.  Cookie values hold no newline.
 */

static ngx_int_t
ngx_http_twofa_bind_string(ngx_http_request_t *r,
    ngx_http_twofa_loc_conf_t *lcf, ngx_str_t *session,
    ngx_http_twofa_response_t *resp, ngx_str_t *out)
{
    u_char      *p;
    size_t       len;
    ngx_str_t   *names, *values;
    ngx_uint_t   i, n;

    names = lcf->app_cookies->elts;
    n = lcf->app_cookies->nelts;

    values = ngx_palloc(r->pool, n * sizeof(ngx_str_t));
    if (values == NULL) {
        return NGX_ERROR;
    }

    len = sizeof(NGX_HTTP_TWOFA_BIND_PREFIX) - 1 + session->len;

    for (i = 0; i < n; i++) {
        ngx_http_twofa_will_hold(r, resp, &names[i], &values[i]);
        len += 2 + names[i].len + values[i].len;
    }

    out->data = ngx_pnalloc(r->pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(out->data, NGX_HTTP_TWOFA_BIND_PREFIX,
                   sizeof(NGX_HTTP_TWOFA_BIND_PREFIX) - 1);
    p = ngx_cpymem(p, session->data, session->len);

    for (i = 0; i < n; i++) {
        *p++ = '\n';
        p = ngx_cpymem(p, names[i].data, names[i].len);
        *p++ = '=';
        p = ngx_cpymem(p, values[i].data, values[i].len);
    }

    out->len = p - out->data;

    return NGX_OK;
}


/*
 * The value of app cookie name the client holds once this response is
 * in: the last Set-Cookie of the name in resp (a captured or held
 * response) or, without resp, in this request's own response headers;
 * else the one the request carried.  Empty: none, or deleted.
 */

static void
ngx_http_twofa_will_hold(ngx_http_request_t *r,
    ngx_http_twofa_response_t *resp, ngx_str_t *name, ngx_str_t *value)
{
    ngx_str_t                    v;
    ngx_uint_t                   i, found;
    ngx_table_elt_t             *h;
    ngx_http_twofa_header_t     *hd;
    ngx_http_twofa_list_walk_t   walk;

    found = 0;

    if (resp) {
        hd = resp->headers.elts;

        for (i = 0; i < resp->headers.nelts; i++) {
            if (ngx_http_twofa_set_cookie_value(&hd[i].name, &hd[i].value,
                                                name, &v)
                == NGX_OK)
            {
                *value = v;
                found = 1;
            }
        }

    } else {
        ngx_http_twofa_list_start(&walk, &r->headers_out.headers);

        for ( ;; ) {
            h = ngx_http_twofa_list_next(&walk, sizeof(ngx_table_elt_t));
            if (h == NULL) {
                break;
            }

            if (h->hash
                && ngx_http_twofa_set_cookie_value(&h->key, &h->value,
                                                   name, &v)
                   == NGX_OK)
            {
                *value = v;
                found = 1;
            }
        }
    }

    if (!found && ngx_http_twofa_get_cookie(r, name, value) != NGX_OK) {
        ngx_str_null(value);
    }
}


static ngx_int_t
ngx_http_twofa_bind_set(ngx_http_request_t *r,
    ngx_http_twofa_loc_conf_t *lcf, ngx_str_t *session,
    ngx_http_twofa_response_t *resp)
{
    size_t                      n;
    ngx_str_t                   name, binding, token;
    const twofa_key_t          *keys;
    ngx_http_twofa_srv_conf_t  *tscf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    if (ngx_http_twofa_bind_cookie_name(r, &name) != NGX_OK
        || ngx_http_twofa_bind_string(r, lcf, session, resp, &binding)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    token.data = ngx_pnalloc(r->pool, TWOFA_CSRF_LEN + 1);
    if (token.data == NULL) {
        return NGX_ERROR;
    }

    keys = ngx_http_twofa_keys(r, &n);

    if (twofa_csrf_token(&keys[0], (const char *) binding.data, binding.len,
                         (char *) token.data)
        != 0)
    {
        return NGX_ERROR;
    }

    token.len = TWOFA_CSRF_LEN;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa bind: cookie \"%V\" set", &name);

    return ngx_http_twofa_set_cookie(r, &name, &token, &tscf->cookie.path,
                                     &tscf->cookie.domain,
                                     &tscf->cookie.samesite,
                                     tscf->cookie.secure,
                                     tscf->cookie.max_age);
}


/* 1 when, once this response is in, the client holds no app cookie */

static ngx_uint_t
ngx_http_twofa_app_signed_out(ngx_http_request_t *r,
    ngx_http_twofa_loc_conf_t *lcf)
{
    ngx_str_t   *names, value;
    ngx_uint_t   i;

    names = lcf->app_cookies->elts;

    for (i = 0; i < lcf->app_cookies->nelts; i++) {
        ngx_http_twofa_will_hold(r, NULL, &names[i], &value);

        if (value.len) {
            return 0;
        }
    }

    return 1;
}


/* The session and bind cookies cleared on the client. */

static ngx_int_t
ngx_http_twofa_end_session(ngx_http_request_t *r)
{
    ngx_str_t                   name, empty;
    ngx_http_twofa_srv_conf_t  *tscf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    ngx_str_null(&empty);

    if (ngx_http_twofa_bind_cookie_name(r, &name) != NGX_OK
        || ngx_http_twofa_set_cookie(r, &tscf->cookie.name, &empty,
                                     &tscf->cookie.path, &tscf->cookie.domain,
                                     &tscf->cookie.samesite,
                                     tscf->cookie.secure, 0)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_twofa_set_cookie(r, &name, &empty, &tscf->cookie.path,
                                     &tscf->cookie.domain,
                                     &tscf->cookie.samesite,
                                     tscf->cookie.secure, 0);
}


/* The session cookie's name and "_bind": a __Host- prefix carries over. */

static ngx_int_t
ngx_http_twofa_bind_cookie_name(ngx_http_request_t *r, ngx_str_t *name)
{
    ngx_http_twofa_srv_conf_t  *tscf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    if (tscf->bind_cookie.len == 0) {
        tscf->bind_cookie.len = tscf->cookie.name.len + sizeof("_bind") - 1;
        tscf->bind_cookie.data = ngx_pnalloc(ngx_cycle->pool,
                                             tscf->bind_cookie.len);
        if (tscf->bind_cookie.data == NULL) {
            tscf->bind_cookie.len = 0;
            return NGX_ERROR;
        }

        ngx_memcpy(ngx_cpymem(tscf->bind_cookie.data, tscf->cookie.name.data,
                              tscf->cookie.name.len),
                   "_bind", sizeof("_bind") - 1);
    }

    *name = tscf->bind_cookie;

    return NGX_OK;
}


static ngx_uint_t
ngx_http_twofa_sets_app_cookie(ngx_http_request_t *r,
    ngx_http_twofa_loc_conf_t *lcf)
{
    ngx_str_t                   *names, v;
    ngx_uint_t                   i;
    ngx_table_elt_t             *h;
    ngx_http_twofa_list_walk_t   walk;

    names = lcf->app_cookies->elts;

    ngx_http_twofa_list_start(&walk, &r->headers_out.headers);

    for ( ;; ) {
        h = ngx_http_twofa_list_next(&walk, sizeof(ngx_table_elt_t));
        if (h == NULL) {
            return 0;
        }

        for (i = 0; h->hash && i < lcf->app_cookies->nelts; i++) {
            if (ngx_http_twofa_set_cookie_value(&h->key, &h->value,
                                                &names[i], &v)
                == NGX_OK)
            {
                return 1;
            }
        }
    }
}


/* The app cookies out of the request: the app sees a signed-out client. */

static ngx_int_t
ngx_http_twofa_unbind(ngx_http_request_t *r, ngx_http_twofa_loc_conf_t *lcf)
{
    ngx_http_twofa_ctx_t  *ctx;

    ctx = ngx_http_twofa_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->result = NGX_HTTP_TWOFA_RESULT_UNBOUND;
    ngx_http_twofa_count(NGX_HTTP_TWOFA_M_UNBOUND);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "twofa: app cookies not bound to a valid session were "
                  "removed from the request (twofa_bind)");

    if (ngx_http_twofa_app_cookies(r, lcf, 1, NULL) == NGX_ERROR) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The request's Cookie headers, pair by pair: how many pairs name an app
 * cookie, and with strip those pairs taken out.  A name counts in every
 * spelling some app reads as it (white space around it, %XX, another
 * case, PHP's "." or " " for "_" and "name[...]"), and *ambiguous is set
 * when one is spelled so or comes twice: the MAC covers the exact pair
 * this module reads, and the app must not read another.
 */

static ngx_int_t
ngx_http_twofa_app_cookies(ngx_http_request_t *r,
    ngx_http_twofa_loc_conf_t *lcf, ngx_uint_t strip, ngx_uint_t *ambiguous)
{
    u_char           *p, *end, *out, *o;
    ngx_int_t         found;
    ngx_str_t         pair, name;
    ngx_uint_t        i, exact, seen;
    ngx_table_elt_t  *h;

    found = 0;
    seen = 0;
    i = 0;

    for (h = ngx_http_twofa_cookie_header(r, NULL, &i);
         h;
         h = ngx_http_twofa_cookie_header(r, h, &i))
    {
        out = NULL;
        o = NULL;

        if (strip) {
            out = ngx_pnalloc(r->pool, h->value.len);
            if (out == NULL) {
                return NGX_ERROR;
            }

            o = out;
        }

        p = h->value.data;
        end = p + h->value.len;

        while (ngx_http_twofa_cookie_pair(&p, end, &pair, &name)) {

            if (ngx_http_twofa_app_cookie_name(lcf, name.data, name.len,
                                               &exact))
            {
                found++;

                if ((!exact || seen++) && ambiguous) {
                    *ambiguous = 1;
                }

                continue;
            }

            if (strip) {
                if (o != out) {
                    *o++ = ';';
                }

                o = ngx_cpymem(o, pair.data, pair.len);
            }
        }

        if (strip) {
            h->value.data = out;
            h->value.len = o - out;
        }
    }

    return found;
}


/*
 * 1 when name (len bytes, as the pair spells it) is an app cookie in any
 * spelling an app may read as it; *exact: spelled exactly so.
 */

static ngx_uint_t
ngx_http_twofa_app_cookie_name(ngx_http_twofa_loc_conf_t *lcf, u_char *name,
    size_t len, ngx_uint_t *exact)
{
    u_char      *p, *end, c;
    size_t       n;
    ngx_str_t   *names;
    ngx_uint_t   i;
    u_char       folded[NGX_HTTP_TWOFA_COOKIE_NAME_MAX];

    names = lcf->app_cookies->elts;

    for (i = 0; i < lcf->app_cookies->nelts; i++) {
        if (names[i].len == len
            && ngx_strncmp(names[i].data, name, len) == 0)
        {
            *exact = 1;
            return 1;
        }
    }

    *exact = 0;

    /* folded: trimmed, %XX decoded, lower case, "." and " " as "_" */

    p = name;
    end = name + len;
    n = 0;

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }

    while (p < end && n < sizeof(folded)) {
        c = *p++;

        if (c == '%' && end - p >= 2
            && ngx_hextoi(p, 2) != NGX_ERROR)
        {
            c = (u_char) ngx_hextoi(p, 2);
            p += 2;
        }

        if (c == '[') {
            break;
        }

        if (c == '.' || c == ' ') {
            c = '_';
        }

        folded[n++] = ngx_tolower(c);
    }

    for (i = 0; i < lcf->app_cookies->nelts; i++) {
        if (names[i].len == n
            && ngx_strncasecmp(names[i].data, folded, n) == 0)
        {
            return 1;
        }
    }

    return 0;
}
