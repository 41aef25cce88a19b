/*
 * twofa-edge: the two cookies of the module.  The session cookie (made
 * after a login passes or is released; verified with a per-worker cache
 * and the revocation table, no Redis) and the hold cookie (the token of
 * a held login, read by the pages only).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"


static ngx_str_t  ngx_http_twofa_hold_cookie_name =
    ngx_string(NGX_HTTP_TWOFA_HOLD_COOKIE);


static ngx_str_t  ngx_http_twofa_lax = ngx_string("Lax");


/* The hold token from its cookie, when it has the right shape. */

ngx_int_t
ngx_http_twofa_get_hold_token(ngx_http_request_t *r, ngx_str_t *token)
{
    u_char  *p;

    if (ngx_http_twofa_get_cookie(r, &ngx_http_twofa_hold_cookie_name, token)
        != NGX_OK
        || token->len != NGX_HTTP_TWOFA_HOLD_TOKEN_LEN)
    {
        ngx_str_null(token);
        return NGX_DECLINED;
    }

    for (p = token->data; p < token->data + token->len; p++) {
        if (!(ngx_http_twofa_isalnum(*p) || *p == '-' || *p == '_')) {
            ngx_str_null(token);
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * The session from the session cookie, when it verifies: a pointer into
 * this worker's cache, good until its next lookup (keep a copy to keep
 * it).  A cookie verified before is found there: the same bytes (compared
 * in constant time) said the same thing then, so only expiry is checked
 * again.  Keys change only with a reload, which starts new workers with
 * empty caches.
 */

ngx_int_t
ngx_http_twofa_get_session(ngx_http_request_t *r, const twofa_session_t **s)
{
    size_t                           n;
    uint32_t                         hash;
    ngx_str_t                        value;
    const twofa_key_t               *keys;
    twofa_cookie_status_t            rc;
    ngx_http_twofa_srv_conf_t       *tscf;
    ngx_http_twofa_main_conf_t      *tmcf;
    ngx_http_twofa_session_entry_t  *e;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);
    tmcf = ngx_http_get_module_main_conf(r, ngx_http_twofa_module);

    if (tmcf->sessions == NULL
        || ngx_http_twofa_get_cookie(r, &tscf->cookie.name, &value) != NGX_OK
        || value.len == 0 || value.len > TWOFA_COOKIE_MAX)
    {
        return NGX_DECLINED;
    }

    /*
     * The slot: FNV-1a of the last characters of the cookie, its MAC, as
     * good as random.  Crafted ones only miss: what is stored was verified.
     */

    hash = 2166136261u;

    for (n = value.len - ngx_min(value.len, 8); n < value.len; n++) {
        hash = (hash ^ value.data[n]) * 16777619u;
    }

    e = &tmcf->sessions[hash & (NGX_HTTP_TWOFA_SESSION_CACHE - 1)];

    if (e->hash == hash && e->len == value.len
        && twofa_ct_equal(e->cookie, value.data, value.len))
    {
        if (e->session.exp <= (int64_t) ngx_time()) {
            e->len = 0;
            return NGX_DECLINED;
        }

        if (ngx_http_twofa_revoked(tmcf->revocations, &e->session)) {
            return NGX_DECLINED;
        }

        *s = &e->session;
        return NGX_OK;
    }

    keys = ngx_http_twofa_keys(r, &n);

    /* the slot is taken over: it holds this cookie only if it verifies */

    e->len = 0;

    rc = twofa_cookie_verify(keys, n, (const char *) value.data, value.len,
                             (int64_t) ngx_time(), &e->session);

    if (rc != TWOFA_COOKIE_OK) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "twofa: session cookie refused (%d)", (int) rc);
        return NGX_DECLINED;
    }

    e->hash = hash;
    e->len = value.len;
    ngx_memcpy(e->cookie, value.data, value.len);

    if (ngx_http_twofa_revoked(tmcf->revocations, &e->session)) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "twofa: session cookie revoked");
        return NGX_DECLINED;
    }

    *s = &e->session;

    return NGX_OK;
}


/* Set-Cookie of a new session for org/user, authenticated by amr. */

ngx_int_t
ngx_http_twofa_set_session(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, twofa_amr_t amr)
{
    return ngx_http_twofa_set_session_at(r, org, user, amr,
                                         (int64_t) ngx_time());
}


/* The same, issued at a given time (see ngx_http_twofa_revoked()). */

ngx_int_t
ngx_http_twofa_set_session_at(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, twofa_amr_t amr, int64_t iat)
{
    int                          len;
    size_t                       n;
    int64_t                      stamp;
    ngx_str_t                    value;
    twofa_session_t              s;
    const twofa_key_t           *keys;
    ngx_http_twofa_ctx_t        *ctx;
    ngx_http_twofa_srv_conf_t   *tscf;
    ngx_http_twofa_main_conf_t  *tmcf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);
    tmcf = ngx_http_get_module_main_conf(r, ngx_http_twofa_module);

    if (org->len > TWOFA_ID_MAX || user->len > TWOFA_ID_MAX) {
        return NGX_ERROR;
    }

    /* a session made after a revocation of the same second outlives it */

    stamp = ngx_http_twofa_revocation(tmcf->revocations, org->data, org->len,
                                      user->data, user->len);
    if (iat <= stamp) {
        iat = stamp + 1;
    }

    ngx_memzero(&s, sizeof(twofa_session_t));
    ngx_memcpy(s.org, org->data, org->len);
    s.org_len = org->len;
    ngx_memcpy(s.user, user->data, user->len);
    s.user_len = user->len;
    s.iat = iat;
    s.exp = s.iat + tscf->cookie.max_age;
    s.amr = amr;

    value.data = ngx_pnalloc(r->pool, TWOFA_COOKIE_MAX + 1);
    if (value.data == NULL) {
        return NGX_ERROR;
    }

    keys = ngx_http_twofa_keys(r, &n);

    len = twofa_cookie_encode(&keys[0], &s, (char *) value.data,
                              TWOFA_COOKIE_MAX + 1);
    if (len < 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "twofa: cannot encode the session cookie");
        return NGX_ERROR;
    }

    value.len = len;

    /* what a binding made in this request covers (twofa_bind) */

    ctx = ngx_http_twofa_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->session_cookie = value;

    return ngx_http_twofa_set_cookie(r, &tscf->cookie.name, &value,
                                     &tscf->cookie.path,
                                     &tscf->cookie.domain,
                                     &tscf->cookie.samesite,
                                     tscf->cookie.secure,
                                     tscf->cookie.max_age);
}


/* The hold cookie: only the pages read it; max_age 0 clears it. */

ngx_int_t
ngx_http_twofa_set_hold_cookie(ngx_http_request_t *r, ngx_str_t *token,
    time_t max_age)
{
    ngx_str_t                   empty;
    ngx_http_twofa_srv_conf_t  *tscf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    ngx_str_null(&empty);

    return ngx_http_twofa_set_cookie(r, &ngx_http_twofa_hold_cookie_name,
                                     token ? token : &empty,
                                     &tscf->pages_url, &tscf->cookie.domain,
                                     &ngx_http_twofa_lax,
                                     tscf->cookie.secure, max_age);
}
