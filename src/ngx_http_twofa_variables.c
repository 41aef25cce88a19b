/*
 * twofa-edge: the variables $twofa_user, $twofa_org, $twofa_result and
 * $twofa_amr, for log_format and proxy_set_header; $twofa_form_NAME, a
 * field of the login request's body, for twofa_user.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"


static ngx_int_t ngx_http_twofa_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_twofa_amr_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_twofa_form_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_twofa_vars[] = {

    { ngx_string("twofa_user"), NULL, ngx_http_twofa_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("twofa_org"), NULL, ngx_http_twofa_variable,
      1, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("twofa_result"), NULL, ngx_http_twofa_variable,
      2, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("twofa_amr"), NULL, ngx_http_twofa_amr_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("twofa_form_"), NULL, ngx_http_twofa_form_variable,
      0, NGX_HTTP_VAR_PREFIX, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_twofa_result_names[] = {
    ngx_string(""),
    ngx_string("passed"),
    ngx_string("held"),
    ngx_string("enrolled"),
    ngx_string("verified"),
    ngx_string("failed"),
    ngx_string("locked"),
    ngx_string("expired"),
    ngx_string("denied"),
    ngx_string("error"),
    ngx_string("unsafe"),
    ngx_string("unbound")
};


ngx_int_t
ngx_http_twofa_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_twofa_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/*
 * $twofa_user and $twofa_org: who a login, page or admin request was
 * about; otherwise who the valid session cookie of the request names, so
 * the app (and the logs) can compare it with their own idea of the user on
 * every request, gated or not.  $twofa_result: what happened.
 */

static ngx_int_t
ngx_http_twofa_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ngx_str_t                    *s, from_session;
    ngx_http_twofa_ctx_t         *ctx;
    const twofa_session_t        *session;
    ngx_http_twofa_main_conf_t   *tmcf;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_twofa_module);

    s = NULL;

    if (ctx) {
        s = (data == 0) ? &ctx->user
            : (data == 1) ? &ctx->org
            : &ngx_http_twofa_result_names[ctx->result];
    }

    if ((s == NULL || s->len == 0) && data < 2) {
        tmcf = ngx_http_get_module_main_conf(r, ngx_http_twofa_module);

        if (tmcf->keys && ngx_http_twofa_get_session(r, &session) == NGX_OK) {
            if (data == 0) {
                from_session.data = (u_char *) session->user;
                from_session.len = session->user_len;

            } else {
                from_session.data = (u_char *) session->org;
                from_session.len = session->org_len;
            }

            /* the cache entry may be reused: keep a copy */

            v->data = ngx_pnalloc(r->pool, from_session.len);
            if (v->data == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(v->data, from_session.data, from_session.len);
            v->len = from_session.len;
            v->valid = 1;
            v->no_cacheable = 1;
            v->not_found = 0;

            return NGX_OK;
        }
    }

    if (s == NULL || s->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = s->data;

    return NGX_OK;
}


/*
 * How the bearer of the session cookie signed in: "pwd", "totp" or
 * "recovery"; empty without a valid cookie.  For the app (as a proxied
 * header) and for logs.
 */

static ngx_int_t
ngx_http_twofa_amr_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    const char                  *name;
    const twofa_session_t       *s;
    ngx_http_twofa_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_twofa_module);

    if (tmcf->keys == NULL || ngx_http_twofa_get_session(r, &s) != NGX_OK) {
        v->not_found = 1;
        return NGX_OK;
    }

    name = twofa_amr_name(s->amr);

    v->len = ngx_strlen(name);
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = (u_char *) name;

    return NGX_OK;
}


/* $twofa_form_NAME; data is the variable's whole name */

static ngx_int_t
ngx_http_twofa_form_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t  *var = (ngx_str_t *) data;

    ngx_str_t  name, value;

    name.data = var->data + sizeof("twofa_form_") - 1;
    name.len = var->len - (sizeof("twofa_form_") - 1);

    if (ngx_http_twofa_form_field(r, &name, &value) != NGX_OK) {
        return NGX_ERROR;
    }

    v->data = value.data;
    v->len = value.len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}
