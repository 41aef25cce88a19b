/*
 * twofa-edge: the pages' answers, each as HTML (a template) or JSON for
 * a client that asks for it: enroll, verify, recovery codes, settings,
 * messages (expired, locked, unknown key), redirects between pages.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"
#include "twofa_base32.h"
#include "twofa_qr.h"


static ngx_int_t ngx_http_twofa_show_enroll_json(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_uint_t status, ngx_str_t *b32,
    ngx_str_t *uri);
static ngx_int_t ngx_http_twofa_page_url(ngx_http_request_t *r,
    const char *route, ngx_str_t *url);
static ngx_int_t ngx_http_twofa_show_settings_json(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_uint_t status);
static void ngx_http_twofa_page_vars(ngx_http_twofa_page_t *pg,
    ngx_str_t *vars);
static ngx_int_t ngx_http_twofa_show_page(ngx_http_request_t *r,
    twofa_tpl_t *tpl, const char *title, const char *action, ngx_str_t *vars,
    ngx_uint_t status);


static ngx_str_t  ngx_http_twofa_invalid_code =
    ngx_string("That code is not valid. Check your app and try again.");


ngx_int_t
ngx_http_twofa_show_invalid(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    if (pg->json) {
        return ngx_http_twofa_send_json(r, NGX_HTTP_UNAUTHORIZED,
                                   "{\"error\":\"invalid_code\"}");
    }

    pg->error = ngx_http_twofa_invalid_code;

    switch (pg->route->id) {

    case NGX_HTTP_TWOFA_ROUTE_ENROLL:
        return ngx_http_twofa_show_enroll(r, pg, NGX_HTTP_UNAUTHORIZED);

    case NGX_HTTP_TWOFA_ROUTE_SETTINGS_DISABLE:
        return ngx_http_twofa_show_settings(r, pg, NGX_HTTP_UNAUTHORIZED);

    default:
        return ngx_http_twofa_show_verify(r, pg, NGX_HTTP_UNAUTHORIZED);
    }
}


static ngx_int_t
ngx_http_twofa_page_url(ngx_http_request_t *r, const char *route,
    ngx_str_t *url)
{
    size_t                      len;
    ngx_http_twofa_srv_conf_t  *tscf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    len = ngx_strlen(route);

    url->data = ngx_pnalloc(r->pool, tscf->pages_url.len + len);
    if (url->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ngx_cpymem(url->data, tscf->pages_url.data,
                          tscf->pages_url.len),
               route, len);

    url->len = tscf->pages_url.len + len;

    return NGX_OK;
}


/* 303 to another page (a step-up's return path goes along). */

ngx_int_t
ngx_http_twofa_go(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    const char *route)
{
    u_char     *p;
    uintptr_t   n;
    ngx_str_t   url, full;

    if (ngx_http_twofa_page_url(r, route, &url) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (pg->return_to.len && pg->hold.len == 0) {
        n = ngx_escape_uri(NULL, pg->return_to.data, pg->return_to.len,
                           NGX_ESCAPE_URI_COMPONENT);

        full.len = url.len + sizeof("?return=") - 1 + pg->return_to.len
                   + 2 * n;
        full.data = ngx_pnalloc(r->pool, full.len);
        if (full.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_cpymem(full.data, url.data, url.len);
        p = ngx_cpymem(p, "?return=", sizeof("?return=") - 1);
        p = (u_char *) ngx_escape_uri(p, pg->return_to.data,
                                      pg->return_to.len,
                                      NGX_ESCAPE_URI_COMPONENT);
        full.len = p - full.data;
        url = full;
    }

    return ngx_http_twofa_redirect(r, &url);
}


ngx_int_t
ngx_http_twofa_show_enroll(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    ngx_uint_t status)
{
    int                         n;
    char                       *svg;
    size_t                      svg_len;
    ngx_str_t                   vars[NGX_HTTP_TWOFA_V_COUNT];
    ngx_str_t                   b32, grouped, uri;
    ngx_http_twofa_srv_conf_t  *tscf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    b32.len = twofa_base32_encoded_len(NGX_HTTP_TWOFA_SECRET_SIZE);
    b32.data = ngx_pnalloc(r->pool, b32.len + 1);
    grouped.data = ngx_pnalloc(r->pool, 2 * b32.len + 1);
    uri.data = ngx_pnalloc(r->pool, 1024);

    if (b32.data == NULL || grouped.data == NULL || uri.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (twofa_base32_encode(pg->secret, NGX_HTTP_TWOFA_SECRET_SIZE,
                            (char *) b32.data, b32.len + 1)
        < 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = twofa_base32_group((const char *) b32.data, b32.len, 4,
                           (char *) grouped.data, 2 * b32.len + 1);
    if (n < 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    grouped.len = n;

    n = twofa_otpauth_uri((const char *) tscf->issuer.data, tscf->issuer.len,
                          (const char *) pg->user.data, pg->user.len,
                          (const char *) b32.data, b32.len, TWOFA_SHA1, 6, 30,
                          (char *) uri.data, 1024);
    if (n < 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    uri.len = n;

    if (pg->json) {
        return ngx_http_twofa_show_enroll_json(r, pg, status, &b32, &uri);
    }

    svg = twofa_qr_svg((const char *) uri.data, uri.len, "twofa-qr",
                       &svg_len);
    if (svg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_twofa_on_cleanup(r->pool, free, svg) != NGX_OK) {
        free(svg);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_twofa_page_vars(pg, vars);
    vars[NGX_HTTP_TWOFA_V_SECRET] = b32;
    vars[NGX_HTTP_TWOFA_V_SECRET_GROUPED] = grouped;
    vars[NGX_HTTP_TWOFA_V_OTPAUTH] = uri;
    vars[NGX_HTTP_TWOFA_V_QR].data = (u_char *) svg;
    vars[NGX_HTTP_TWOFA_V_QR].len = svg_len;

    return ngx_http_twofa_show_page(r, tscf->templates->enroll,
                                    "Set up two-factor authentication",
                                    "enroll", vars, status);
}


static ngx_int_t
ngx_http_twofa_show_enroll_json(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_uint_t status, ngx_str_t *b32,
    ngx_str_t *uri)
{
    ngx_str_t  js, ju, jc;

    if (status == NGX_HTTP_UNAUTHORIZED) {
        return ngx_http_twofa_send_json(r, status,
                                        "{\"error\":\"invalid_code\"}");
    }

    if (ngx_http_twofa_json_string(r->pool, b32, &js) != NGX_OK
        || ngx_http_twofa_json_string(r->pool, uri, &ju) != NGX_OK
        || ngx_http_twofa_json_string(r->pool, &pg->csrf, &jc) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_twofa_send_json(r, status,
                                    "{\"step\":\"enroll\",\"secret\":%V,"
                                    "\"otpauth\":%V,\"csrf\":%V}",
                                    &js, &ju, &jc);
}


ngx_int_t
ngx_http_twofa_show_verify(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    ngx_uint_t status)
{
    ngx_str_t                   vars[NGX_HTTP_TWOFA_V_COUNT], jc;
    ngx_http_twofa_srv_conf_t  *tscf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    if (pg->json) {
        if (ngx_http_twofa_json_string(r->pool, &pg->csrf, &jc) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_twofa_send_json(r, status,
                                   "{\"step\":\"verify\",\"csrf\":%V}", &jc);
    }

    ngx_http_twofa_page_vars(pg, vars);
    vars[NGX_HTTP_TWOFA_V_RETURN] = pg->return_to;

    return ngx_http_twofa_show_page(r, tscf->templates->verify,
                                    "Two-factor authentication",
                                    "verify", vars, status);
}


ngx_int_t
ngx_http_twofa_show_recovery(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    u_char                     *p;
    ngx_str_t                   vars[NGX_HTTP_TWOFA_V_COUNT], items;
    ngx_str_t                   url, ju, jc;
    ngx_uint_t                  i;
    ngx_http_twofa_srv_conf_t  *tscf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    if (ngx_http_twofa_page_url(r, pg->hold.len ? "continue" : "settings",
                                &url)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the codes are [a-z2-7-]: nothing to escape in HTML or JSON */

    items.data = ngx_pnalloc(r->pool, TWOFA_RECOVERY_COUNT
                                      * (sizeof("<li><code></code></li>\n")
                                         + TWOFA_RECOVERY_LEN + 3));
    if (items.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = items.data;

    if (pg->json) {
        for (i = 0; i < TWOFA_RECOVERY_COUNT; i++) {
            p = ngx_sprintf(p, "%s\"%s\"", i ? "," : "", pg->recovery[i]);
        }

        items.len = p - items.data;

        if (ngx_http_twofa_json_string(r->pool, &url, &ju) != NGX_OK
            || ngx_http_twofa_json_string(r->pool, &pg->csrf, &jc) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_twofa_send_json(r, NGX_HTTP_OK,
                                   "{\"step\":\"recovery\","
                                   "\"recovery_codes\":[%V],\"url\":%V,"
                                   "\"csrf\":%V}", &items, &ju, &jc);
    }

    for (i = 0; i < TWOFA_RECOVERY_COUNT; i++) {
        p = ngx_sprintf(p, "<li><code>%s</code></li>\n", pg->recovery[i]);
    }

    items.len = p - items.data;

    ngx_http_twofa_page_vars(pg, vars);
    vars[NGX_HTTP_TWOFA_V_RECOVERY_ITEMS] = items;
    vars[NGX_HTTP_TWOFA_V_ACTION] = url;

    return ngx_http_twofa_show_page(r, tscf->templates->recovery,
                                    "Recovery codes",
                                    NULL, vars, NGX_HTTP_OK);
}


ngx_int_t
ngx_http_twofa_show_settings(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    ngx_uint_t status)
{
    u_char                     *p;
    ngx_tm_t                    tm;
    ngx_str_t                   vars[NGX_HTTP_TWOFA_V_COUNT];
    ngx_http_twofa_srv_conf_t  *tscf;

    if (pg->json) {
        return ngx_http_twofa_show_settings_json(r, pg, status);
    }

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    ngx_http_twofa_page_vars(pg, vars);
    vars[NGX_HTTP_TWOFA_V_MESSAGE] = pg->message;

    if (pg->state.enabled) {
        ngx_str_set(&vars[NGX_HTTP_TWOFA_V_STATUS], "On");
        ngx_str_set(&vars[NGX_HTTP_TWOFA_V_ENABLED], "1");

    } else {
        ngx_str_set(&vars[NGX_HTTP_TWOFA_V_STATUS], "Off");
    }

    if (pg->state.require) {
        ngx_str_set(&vars[NGX_HTTP_TWOFA_V_REQUIRED], "1");
    }

    if (pg->state.enabled && pg->state.enrolled_at > 0) {
        ngx_gmtime((time_t) pg->state.enrolled_at, &tm);

        p = ngx_pnalloc(r->pool, sizeof("2026-01-01"));
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        vars[NGX_HTTP_TWOFA_V_ENROLLED_AT].data = p;
        vars[NGX_HTTP_TWOFA_V_ENROLLED_AT].len =
            ngx_sprintf(p, "%4d-%02d-%02d", tm.ngx_tm_year, tm.ngx_tm_mon,
                        tm.ngx_tm_mday) - p;
    }

    if (pg->state.enabled) {
        p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        vars[NGX_HTTP_TWOFA_V_RECOVERY_LEFT].data = p;
        vars[NGX_HTTP_TWOFA_V_RECOVERY_LEFT].len =
            ngx_sprintf(p, "%ui", pg->state.recovery_left) - p;
    }

    /* back to the app: where users sign in is a safe place to go */
    vars[NGX_HTTP_TWOFA_V_LINK] = tscf->login_url;
    ngx_str_set(&vars[NGX_HTTP_TWOFA_V_LINK_TEXT], "Back to the application");

    if (ngx_http_twofa_page_url(r, "settings/enable",
                                &vars[NGX_HTTP_TWOFA_V_ENABLE_ACTION])
        != NGX_OK
        || ngx_http_twofa_page_url(r, "settings/disable",
                                   &vars[NGX_HTTP_TWOFA_V_DISABLE_ACTION])
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_twofa_show_page(r, tscf->templates->settings,
                                    "Two-factor settings",
                                    NULL, vars, status);
}


ngx_int_t
ngx_http_twofa_show_message(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    ngx_uint_t status, const char *error, const char *heading,
    const char *message, ngx_uint_t link_login)
{
    ngx_str_t                   vars[NGX_HTTP_TWOFA_V_COUNT], title;
    ngx_http_twofa_srv_conf_t  *tscf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    if (pg->json) {
        return ngx_http_twofa_send_json(r, status, "{\"error\":\"%s\"}", error);
    }

    ngx_memzero(vars, sizeof(vars));

    vars[NGX_HTTP_TWOFA_V_HEADING].data = (u_char *) heading;
    vars[NGX_HTTP_TWOFA_V_HEADING].len = ngx_strlen(heading);
    vars[NGX_HTTP_TWOFA_V_MESSAGE].data = (u_char *) message;
    vars[NGX_HTTP_TWOFA_V_MESSAGE].len = ngx_strlen(message);

    if (link_login) {
        vars[NGX_HTTP_TWOFA_V_LINK] = tscf->login_url;
        ngx_str_set(&vars[NGX_HTTP_TWOFA_V_LINK_TEXT], "Sign in again");
    }

    title = vars[NGX_HTTP_TWOFA_V_HEADING];

    return ngx_http_twofa_render(r, tscf->templates->message, &title, vars,
                                 status);
}


ngx_int_t
ngx_http_twofa_show_expired(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    ngx_http_twofa_ctx_t  *ctx;

    ctx = ngx_http_twofa_get_ctx(r);
    if (ctx && ctx->result == NGX_HTTP_TWOFA_RESULT_NONE) {
        ctx->result = NGX_HTTP_TWOFA_RESULT_EXPIRED;
    }

    if (pg->hold.len
        && ngx_http_twofa_set_hold_cookie(r, NULL, 0) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_twofa_show_message(r, pg, NGX_HTTP_UNAUTHORIZED,
                                       "expired", "Sign-in expired",
                                       "This sign-in is no longer valid. "
                                       "Please sign in again.", 1);
}


/* Disable refused: the org requires 2FA. */

ngx_int_t
ngx_http_twofa_show_required(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    pg->state.require = 1;

    if (pg->json) {
        return ngx_http_twofa_send_json(r, NGX_HTTP_FORBIDDEN,
                                        "{\"error\":\"required\"}");
    }

    ngx_str_set(&pg->error, "Your organisation requires two-factor "
                "authentication, so it cannot be turned off.");

    return ngx_http_twofa_show_settings(r, pg, NGX_HTTP_FORBIDDEN);
}


/*
 * A hold sealed with a key this edge does not have (a fleet in the middle
 * of a key rollout): 409, nothing used up; another edge, or this one once
 * it has the key, can finish the sign-in.
 */

ngx_int_t
ngx_http_twofa_show_unopened(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    ngx_http_twofa_ctx_t  *ctx;

    ctx = ngx_http_twofa_get_ctx(r);
    if (ctx) {
        ctx->result = NGX_HTTP_TWOFA_RESULT_ERROR;
    }

    return ngx_http_twofa_show_message(r, pg, NGX_HTTP_CONFLICT,
                                       "unknown_key", "Please try again",
                                       "This sign-in was started on a "
                                       "server with a newer key. Please try "
                                       "again in a moment.", 0);
}


ngx_int_t
ngx_http_twofa_show_locked(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    ngx_msec_t ttl)
{
    u_char                *p;
    time_t                 secs;
    ngx_str_t              v;
    ngx_http_twofa_ctx_t  *ctx;

    ctx = ngx_http_twofa_get_ctx(r);
    if (ctx) {
        ctx->result = NGX_HTTP_TWOFA_RESULT_LOCKED;
    }

    secs = (time_t) ((ttl + 999) / 1000);
    if (secs < 1) {
        secs = 1;
    }

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v.data = p;
    v.len = ngx_sprintf(p, "%T", secs) - p;

    if (ngx_http_twofa_push_header(r, "Retry-After", &v) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (pg->json) {
        return ngx_http_twofa_send_json(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                   "{\"error\":\"locked\",\"retry_after\":%T}",
                                   secs);
    }

    return ngx_http_twofa_show_message(r, pg, NGX_HTTP_TOO_MANY_REQUESTS,
                                       "locked", "Too many attempts",
                                       "Too many wrong codes. Wait a few "
                                       "minutes, then try again.", 0);
}


static ngx_int_t
ngx_http_twofa_show_settings_json(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_uint_t status)
{
    ngx_str_t  jc;

    if (status == NGX_HTTP_UNAUTHORIZED) {
        return ngx_http_twofa_send_json(r, status,
                                        "{\"error\":\"invalid_code\"}");
    }

    if (ngx_http_twofa_json_string(r->pool, &pg->csrf, &jc) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_twofa_send_json(r, status,
                                    "{\"step\":\"settings\",\"enabled\":%s,"
                                    "\"required\":%s,\"enrolled_at\":%L,"
                                    "\"recovery_left\":%ui,\"csrf\":%V}",
                                    pg->state.enabled ? "true" : "false",
                                    pg->state.require ? "true" : "false",
                                    pg->state.enrolled_at,
                                    pg->state.recovery_left, &jc);
}


/* What every form page shows: who, their org, the form's token, an error. */

static void
ngx_http_twofa_page_vars(ngx_http_twofa_page_t *pg, ngx_str_t *vars)
{
    ngx_memzero(vars, sizeof(ngx_str_t) * NGX_HTTP_TWOFA_V_COUNT);

    vars[NGX_HTTP_TWOFA_V_USER] = pg->user;
    vars[NGX_HTTP_TWOFA_V_ORG] = pg->org;
    vars[NGX_HTTP_TWOFA_V_CSRF] = pg->csrf;
    vars[NGX_HTTP_TWOFA_V_ERROR] = pg->error;
}


/* A template page; its form posts to the page "action" when given. */

static ngx_int_t
ngx_http_twofa_show_page(ngx_http_request_t *r, twofa_tpl_t *tpl,
    const char *title, const char *action, ngx_str_t *vars, ngx_uint_t status)
{
    ngx_str_t  heading;

    if (action
        && ngx_http_twofa_page_url(r, action, &vars[NGX_HTTP_TWOFA_V_ACTION])
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    heading.data = (u_char *) title;
    heading.len = ngx_strlen(title);

    return ngx_http_twofa_render(r, tpl, &heading, vars, status);
}
