/*
 * twofa-edge: the step-up gate.  A location with "twofa_gate" lets a
 * request through only with a session cookie from a login that passed a
 * second factor (within max_age).  The check is a MAC and two numbers:
 * no Redis, so any edge can do it and it costs microseconds.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"


static ngx_int_t ngx_http_twofa_gate_deny(ngx_http_request_t *r);


ngx_int_t
ngx_http_twofa_gate_handler(ngx_http_request_t *r)
{
    const twofa_session_t      *s;
    ngx_http_twofa_ctx_t       *ctx;
    ngx_http_twofa_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twofa_module);

    if (!tlcf->gate || r != r->main) {
        return NGX_DECLINED;
    }

    if (ngx_http_twofa_get_session(r, &s) == NGX_OK
        && (s->amr == TWOFA_AMR_TOTP || s->amr == TWOFA_AMR_RECOVERY)
        && (tlcf->gate_max_age == 0
            || (int64_t) ngx_time() - s->iat <= (int64_t) tlcf->gate_max_age))
    {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "twofa gate: passed \"%*s\"", s->user_len, s->user);
        ngx_http_twofa_count(NGX_HTTP_TWOFA_M_GATE_PASSED);
        return NGX_OK;
    }

    ctx = ngx_http_twofa_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->result = NGX_HTTP_TWOFA_RESULT_DENIED;
    ngx_http_twofa_count(NGX_HTTP_TWOFA_M_GATE_DENIED);

    ngx_http_finalize_request(r, ngx_http_twofa_gate_deny(r));

    return NGX_DONE;
}


/*
 * An HTML client goes to the verify page and comes back to this URI; a
 * JSON client gets 401 with the same URL.
 */

static ngx_int_t
ngx_http_twofa_gate_deny(ngx_http_request_t *r)
{
    u_char                     *p;
    size_t                      len;
    uintptr_t                   escape;
    ngx_str_t                   url, body;
    ngx_http_twofa_srv_conf_t  *tscf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    len = r->uri.len + (r->args.len ? 1 + r->args.len : 0);

    escape = 2 * ngx_escape_uri(NULL, r->uri.data, r->uri.len,
                                NGX_ESCAPE_URI_COMPONENT)
             + 2 * ngx_escape_uri(NULL, r->args.data, r->args.len,
                                  NGX_ESCAPE_URI_COMPONENT)
             + (r->args.len ? 2 : 0);

    url.len = tscf->pages_url.len + sizeof("verify?return=") - 1 + len
              + escape;
    url.data = ngx_pnalloc(r->pool, url.len);
    if (url.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(url.data, tscf->pages_url.data, tscf->pages_url.len);
    p = ngx_cpymem(p, "verify?return=", sizeof("verify?return=") - 1);
    p = (u_char *) ngx_escape_uri(p, r->uri.data, r->uri.len,
                                  NGX_ESCAPE_URI_COMPONENT);

    if (r->args.len) {
        p = ngx_cpymem(p, "%3F", 3);
        p = (u_char *) ngx_escape_uri(p, r->args.data, r->args.len,
                                      NGX_ESCAPE_URI_COMPONENT);
    }

    url.len = p - url.data;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "twofa gate: no recent second factor, sent to \"%V\"",
                  &url);

    if (!ngx_http_twofa_wants_json(r)) {
        return ngx_http_twofa_redirect(r, &url);
    }

    if (ngx_http_twofa_json_string(r->pool, &url, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    url = body;

    body.len = sizeof("{\"error\":\"step_up\",\"url\":}") - 1 + url.len;
    body.data = ngx_pnalloc(r->pool, body.len);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body.data, "{\"error\":\"step_up\",\"url\":%V}", &url);
    body.len = p - body.data;

    return ngx_http_twofa_send(r, NGX_HTTP_UNAUTHORIZED, 1, &body);
}
