/*
 * twofa-edge: holding a login response until the second factor.
 *
 * On a location with "twofa_login on" and the app's own proxy_pass, the
 * precontent handler of the main request reads the body, then runs the
 * location once more as a subrequest: that subrequest proxies the login
 * to the app as usual, and this module's header and body filters capture
 * its response (status, headers, body) instead of sending it.  Back in the
 * main request, one Redis script decides and, when a second factor is
 * needed, stores the sealed response as a hold, all before the client
 * hears anything.  The client then gets either the app's response (plus
 * the session cookie) or the challenge.
 *
 * Why a subrequest: the operator's configuration stays nginx's own (the
 * location keeps proxy_pass and every proxy_* directive), the response is
 * complete before anything is decided, and nothing of it can leak to the
 * client early, which a header filter on the main request could not
 * promise once the upstream starts sending.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"
#include "twofa_base64.h"
#include "twofa_slot.h"


#define NGX_HTTP_TWOFA_LOGIN_START      0
#define NGX_HTTP_TWOFA_LOGIN_BODY       1   /* reading the request body */
#define NGX_HTTP_TWOFA_LOGIN_PROXY      2   /* the subrequest runs */
#define NGX_HTTP_TWOFA_LOGIN_DECIDE     3   /* waiting for Redis */
#define NGX_HTTP_TWOFA_LOGIN_DECIDED    4


static void ngx_http_twofa_login_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_twofa_login_proxy(ngx_http_request_t *r,
    ngx_http_twofa_ctx_t *ctx);
static ngx_int_t ngx_http_twofa_login_proxied(ngx_http_request_t *r, void *data,
    ngx_int_t rc);
static ngx_int_t ngx_http_twofa_login_hold_token(ngx_http_request_t *r,
    ngx_http_twofa_ctx_t *ctx);
static ngx_int_t ngx_http_twofa_login_decide(ngx_http_request_t *r,
    ngx_http_twofa_ctx_t *ctx);
static void ngx_http_twofa_login_decided(ngx_http_request_t *r,
    ngx_http_twofa_store_reply_t *reply);
static ngx_int_t ngx_http_twofa_login_respond(ngx_http_request_t *r,
    ngx_http_twofa_ctx_t *ctx);
static ngx_int_t ngx_http_twofa_login_challenge(ngx_http_request_t *r,
    ngx_http_twofa_ctx_t *ctx);
static ngx_int_t ngx_http_twofa_login_finish(ngx_http_request_t *r,
    ngx_int_t rc);


ngx_int_t
ngx_http_twofa_login_handler(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_http_twofa_ctx_t       *ctx;
    ngx_http_twofa_loc_conf_t  *tlcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twofa_module);

    if (!tlcf->login) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_twofa_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa login phase %ui", ctx->phase);

    switch (ctx->phase) {

    case NGX_HTTP_TWOFA_LOGIN_START:

        ctx->phase = NGX_HTTP_TWOFA_LOGIN_BODY;

        /* the subrequest sends the body that the main request read */

        rc = ngx_http_read_client_request_body(r,
                                           ngx_http_twofa_login_body_handler);
        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        ngx_http_finalize_request(r, NGX_DONE);
        return NGX_DONE;

    case NGX_HTTP_TWOFA_LOGIN_BODY:
        return ngx_http_twofa_login_proxy(r, ctx);

    case NGX_HTTP_TWOFA_LOGIN_PROXY:

        if (ctx->subrequest == NULL || !ctx->subrequest->done) {
            return NGX_AGAIN;
        }

        return ngx_http_twofa_login_decide(r, ctx);

    case NGX_HTTP_TWOFA_LOGIN_DECIDE:
        return NGX_AGAIN;

    default: /* NGX_HTTP_TWOFA_LOGIN_DECIDED */
        return ngx_http_twofa_login_respond(r, ctx);
    }
}


static void
ngx_http_twofa_login_body_handler(ngx_http_request_t *r)
{
    r->preserve_body = 1;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


static ngx_int_t
ngx_http_twofa_login_proxy(ngx_http_request_t *r, ngx_http_twofa_ctx_t *ctx)
{
    ngx_http_request_t  *sr;

    ctx->proxied.handler = ngx_http_twofa_login_proxied;
    ctx->proxied.data = ctx;

    if (ngx_array_init(&ctx->response.headers, r->pool, 16,
                       sizeof(ngx_http_twofa_header_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->lcf = ngx_http_get_module_loc_conf(r, ngx_http_twofa_module);
    ctx->last_body = &ctx->response.body;

    /* bound: unbound app cookies go to the app with a login attempt only */

    if (ngx_http_twofa_bind_login(r, ctx->lcf) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_subrequest(r, &r->uri, &r->args, &sr, &ctx->proxied,
                            NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the same request once more, as the app must see it */

    sr->method = r->method;
    sr->method_name = r->method_name;

    /* the capture reads buffers, never files */
    sr->filter_need_in_memory = 1;

    ngx_http_set_ctx(sr, ctx, ngx_http_twofa_module);

    ctx->subrequest = sr;
    ctx->phase = NGX_HTTP_TWOFA_LOGIN_PROXY;

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_twofa_login_proxied(ngx_http_request_t *r, void *data, ngx_int_t rc)
{
    ngx_http_twofa_ctx_t *ctx = data;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa login proxied s:%ui rc:%i",
                   r->headers_out.status, rc);

    ctx->subrequest_rc = rc;

    return rc;
}


/* A new hold's token: random, and in a cluster marked with its slot. */

static ngx_int_t
ngx_http_twofa_login_hold_token(ngx_http_request_t *r,
    ngx_http_twofa_ctx_t *ctx)
{
    u_char                       raw[NGX_HTTP_TWOFA_HOLD_TOKEN_SIZE];
    ngx_http_twofa_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_twofa_module);

    if (twofa_random(raw, sizeof(raw)) != 0) {
        return NGX_ERROR;
    }

    ctx->hold_token.data = ngx_pnalloc(r->pool,
                                       NGX_HTTP_TWOFA_HOLD_TOKEN_LEN + 1);
    if (ctx->hold_token.data == NULL) {
        return NGX_ERROR;
    }

    if (twofa_base64url_encode(raw, sizeof(raw),
                               (char *) ctx->hold_token.data,
                               NGX_HTTP_TWOFA_HOLD_TOKEN_LEN + 1)
        != NGX_HTTP_TWOFA_HOLD_TOKEN_LEN)
    {
        return NGX_ERROR;
    }

    ctx->hold_token.len = NGX_HTTP_TWOFA_HOLD_TOKEN_LEN;

    /*
     * In a cluster the hold lives in the slot of its org, with the org's
     * keys: the token says which, for the requests that carry only it
     * (192 random bits, 18 of them replaced).
     */

    if (tmcf->cluster) {
        twofa_slot_mark_token((char *) ctx->hold_token.data,
                              twofa_slot_of_org((const char *) ctx->org.data,
                                                ctx->org.len));
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_twofa_login_decide(ngx_http_request_t *r, ngx_http_twofa_ctx_t *ctx)
{
    ngx_int_t   rc;
    ngx_str_t   hold;

    if (ctx->too_big) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "twofa: the login response is larger than "
                      "twofa_hold_max_size %uz; refused",
                      ctx->lcf->hold_max_size);
        ctx->result = NGX_HTTP_TWOFA_RESULT_ERROR;
        ngx_http_twofa_count(NGX_HTTP_TWOFA_M_LOGIN_REFUSED);
        return NGX_HTTP_BAD_GATEWAY;
    }

    if (!ctx->captured || !ctx->body_done) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "twofa: the login subrequest ended without a "
                      "complete response (rc:%i)", ctx->subrequest_rc);
        ctx->result = NGX_HTTP_TWOFA_RESULT_ERROR;
        ngx_http_twofa_count(NGX_HTTP_TWOFA_M_LOGIN_REFUSED);
        return NGX_HTTP_BAD_GATEWAY;
    }

    if (ctx->bad_identity) {
        /* logged where it was read */
        ctx->result = NGX_HTTP_TWOFA_RESULT_ERROR;
        ngx_http_twofa_count(NGX_HTTP_TWOFA_M_LOGIN_REFUSED);
        return NGX_HTTP_BAD_GATEWAY;
    }

    if (ctx->user.len == 0) {
        /* the app did not accept the password: its answer, unchanged */
        ctx->phase = NGX_HTTP_TWOFA_LOGIN_DECIDED;
        ctx->reply.rc = NGX_OK;
        ctx->reply.outcome = NGX_HTTP_TWOFA_DONE;
        ctx->no_session = 1;
        return ngx_http_twofa_login_respond(r, ctx);
    }

    if (ngx_http_twofa_login_hold_token(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_twofa_hold_encode(r, ctx, &hold) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->phase = NGX_HTTP_TWOFA_LOGIN_DECIDE;

    /* a response that must not be held is known before Redis decides */

    rc = ngx_http_twofa_store_login(r, &ctx->org, &ctx->user,
                                    &ctx->hold_token, &hold,
                                    ngx_http_twofa_app_cookies_rotated(r, ctx)
                                    == NGX_OK,
                                    ngx_http_twofa_login_decided);

    if (rc == NGX_ERROR) {
        ctx->result = NGX_HTTP_TWOFA_RESULT_ERROR;
        ngx_http_twofa_count(NGX_HTTP_TWOFA_M_LOGIN_ERROR);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        /* no connection: no answer, as a timeout */
        ctx->phase = NGX_HTTP_TWOFA_LOGIN_DECIDED;
        ctx->reply.rc = NGX_ERROR;
        return ngx_http_twofa_login_respond(r, ctx);
    }

    /* a client that goes away meanwhile ends the request at once */
    r->read_event_handler = ngx_http_test_reading;

    return NGX_AGAIN;
}


static void
ngx_http_twofa_login_decided(ngx_http_request_t *r,
    ngx_http_twofa_store_reply_t *reply)
{
    ngx_http_twofa_ctx_t  *ctx;

    ctx = ngx_http_twofa_get_ctx(r);

    ctx->reply = *reply;
    ctx->phase = NGX_HTTP_TWOFA_LOGIN_DECIDED;

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    /* resumed by ngx_http_run_posted_requests() in the store */
    if (ngx_http_post_request(r, NULL) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }
}


static ngx_int_t
ngx_http_twofa_login_respond(ngx_http_request_t *r, ngx_http_twofa_ctx_t *ctx)
{
    ngx_http_twofa_srv_conf_t   *tscf;
    ngx_http_twofa_main_conf_t  *tmcf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);
    tmcf = ngx_http_get_module_main_conf(r, ngx_http_twofa_module);

    if (ctx->reply.rc == NGX_OK
        && ctx->reply.outcome == NGX_HTTP_TWOFA_NO_STATE)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "twofa: redis holds no twofa state (no \"%Vdeployment\" "
                      "key): it was flushed, restarted without its data, or "
                      "never initialised; every login is refused until an "
                      "admin restores the data or runs \"twofa-admin init\"",
                      &tmcf->prefix);
        ctx->result = NGX_HTTP_TWOFA_RESULT_ERROR;
        ngx_http_twofa_count(NGX_HTTP_TWOFA_M_LOGIN_REFUSED);
        return ngx_http_twofa_login_finish(r,
                                     ngx_http_twofa_unavailable(r));
    }

    /* only a Redis that gave no answer in time may fall open */

    if (ctx->reply.rc != NGX_OK) {

        if (ctx->reply.rc == NGX_ERROR
            && tscf->on_redis_error == NGX_HTTP_TWOFA_REDIS_ERROR_OPEN)
        {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "twofa: redis gave no decision; login of \"%V\" "
                          "passed without a second factor "
                          "(twofa_on_redis_error open)",
                          ngx_http_twofa_shown(r, &ctx->user));
            ctx->result = NGX_HTTP_TWOFA_RESULT_ERROR;
            ngx_http_twofa_count(NGX_HTTP_TWOFA_M_LOGIN_UNSAFE);
            ctx->no_session = 1;
            return ngx_http_twofa_login_finish(r,
                               ngx_http_twofa_send_response(r, &ctx->response));
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "twofa: redis gave no decision; login of \"%V\" "
                      "refused (%s)", ngx_http_twofa_shown(r, &ctx->user),
                      ctx->reply.rc == NGX_ERROR
                      ? "twofa_on_redis_error closed"
                      : "an error reply always fails closed");
        ctx->result = NGX_HTTP_TWOFA_RESULT_ERROR;
        ngx_http_twofa_count(NGX_HTTP_TWOFA_M_LOGIN_ERROR);
        return ngx_http_twofa_login_finish(r,
                                     ngx_http_twofa_unavailable(r));
    }

    if (ctx->reply.outcome == NGX_HTTP_TWOFA_UNHOLDABLE) {
        ngx_http_twofa_log_unsafe(r, ctx);
        ctx->result = NGX_HTTP_TWOFA_RESULT_UNSAFE;
        ngx_http_twofa_count(NGX_HTTP_TWOFA_M_LOGIN_REFUSED);
        return ngx_http_twofa_login_finish(r, NGX_HTTP_BAD_GATEWAY);
    }

    if (ctx->reply.outcome == NGX_HTTP_TWOFA_HELD) {
        ctx->result = NGX_HTTP_TWOFA_RESULT_HELD;
        ngx_http_twofa_count(NGX_HTTP_TWOFA_M_LOGIN_HELD);
        ctx->need_enroll = !ctx->reply.state.enabled;
        return ngx_http_twofa_login_finish(r,
                                    ngx_http_twofa_login_challenge(r, ctx));
    }

    if (!ctx->no_session) {
        ctx->result = NGX_HTTP_TWOFA_RESULT_PASSED;
        ngx_http_twofa_count(NGX_HTTP_TWOFA_M_LOGIN_PASSED);

        if (ngx_http_twofa_set_session(r, &ctx->org, &ctx->user,
                                       TWOFA_AMR_PWD)
            != NGX_OK
            || ngx_http_twofa_bind_session(r, &ctx->response) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_twofa_login_finish(r,
                               ngx_http_twofa_send_response(r, &ctx->response));
}


/* 303 to the right page, or 401 with the same facts in JSON. */

static ngx_int_t
ngx_http_twofa_login_challenge(ngx_http_request_t *r,
    ngx_http_twofa_ctx_t *ctx)
{
    u_char                     *p;
    size_t                      n;
    ngx_str_t                   url, body;
    const twofa_key_t          *keys;
    char                        csrf[TWOFA_CSRF_LEN + 1];
    u_char                      binding[5 + NGX_HTTP_TWOFA_HOLD_TOKEN_LEN];
    ngx_http_twofa_srv_conf_t  *tscf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    if (ngx_http_twofa_set_hold_cookie(r, &ctx->hold_token, tscf->hold_ttl)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    url.len = tscf->pages_url.len + sizeof("enroll") - 1;
    url.data = ngx_pnalloc(r->pool, url.len);
    if (url.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(url.data, tscf->pages_url.data, tscf->pages_url.len);
    p = ngx_cpymem(p, ctx->need_enroll ? "enroll" : "verify", 6);
    url.len = p - url.data;

    if (!ngx_http_twofa_wants_json(r)) {
        return ngx_http_twofa_redirect(r, &url);
    }

    keys = ngx_http_twofa_keys(r, &n);

    p = ngx_cpymem(binding, "hold:", 5);
    p = ngx_cpymem(p, ctx->hold_token.data, ctx->hold_token.len);

    if (twofa_csrf_token(&keys[0], (const char *) binding, p - binding, csrf)
        != 0)
    {
        return NGX_ERROR;
    }

    body.len = sizeof("{\"twofa\":\"\",\"url\":\"\",\"csrf\":\"\"}") - 1
               + 6 + url.len + TWOFA_CSRF_LEN;
    body.data = ngx_pnalloc(r->pool, body.len);
    if (body.data == NULL) {
        return NGX_ERROR;
    }

    /* the URL and token hold no character JSON must escape */

    p = ngx_sprintf(body.data, "{\"twofa\":\"%s\",\"url\":\"%V\","
                    "\"csrf\":\"%s\"}",
                    ctx->need_enroll ? "enroll" : "verify", &url, csrf);
    body.len = p - body.data;

    return ngx_http_twofa_send(r, NGX_HTTP_UNAUTHORIZED, 1, &body);
}


/* The main request is answered from here: finalize, and stop the phases. */

static ngx_int_t
ngx_http_twofa_login_finish(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_finalize_request(r, rc);
    return NGX_DONE;
}
