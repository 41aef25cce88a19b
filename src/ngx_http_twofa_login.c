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


/* ctx->phase of a login */
#define NGX_HTTP_TWOFA_LOGIN_START      0
#define NGX_HTTP_TWOFA_LOGIN_BODY       1   /* reading the request body */
#define NGX_HTTP_TWOFA_LOGIN_PROXY      2   /* the subrequest runs */
#define NGX_HTTP_TWOFA_LOGIN_DECIDE     3   /* waiting for Redis */
#define NGX_HTTP_TWOFA_LOGIN_DECIDED    4

#define NGX_HTTP_TWOFA_HOLD_MAGIC       "TFR1"


static void ngx_http_twofa_login_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_twofa_login_proxy(ngx_http_request_t *r,
    ngx_http_twofa_ctx_t *ctx);
static ngx_int_t ngx_http_twofa_login_proxied(ngx_http_request_t *r,
    void *data, ngx_int_t rc);
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

static ngx_int_t ngx_http_twofa_capture_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_twofa_capture_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_twofa_capture_identity(ngx_http_request_t *r,
    ngx_http_twofa_ctx_t *ctx);
static ngx_uint_t ngx_http_twofa_header_listed(ngx_array_t *names,
    ngx_str_t *name);
static ngx_int_t ngx_http_twofa_guard(ngx_http_request_t *r);

static ngx_int_t ngx_http_twofa_hold_encode(ngx_http_request_t *r,
    ngx_http_twofa_ctx_t *ctx, ngx_str_t *out);
static void ngx_http_twofa_hold_aad(u_char *buf, size_t *len,
    ngx_str_t *token, ngx_str_t *org, ngx_str_t *user);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


ngx_int_t
ngx_http_twofa_login_init_filters(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_twofa_capture_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_twofa_capture_body_filter;

    return NGX_OK;
}


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
    ngx_http_request_t          *sr;
    ngx_http_post_subrequest_t  *ps;

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ps->handler = ngx_http_twofa_login_proxied;
    ps->data = ctx;

    if (ngx_array_init(&ctx->response.headers, r->pool, 16,
                       sizeof(ngx_http_twofa_header_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->lcf = ngx_http_get_module_loc_conf(r, ngx_http_twofa_module);
    ctx->last_body = &ctx->response.body;

    if (ngx_http_subrequest(r, &r->uri, &r->args, &sr, ps,
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


static ngx_int_t
ngx_http_twofa_login_decide(ngx_http_request_t *r, ngx_http_twofa_ctx_t *ctx)
{
    ngx_int_t   rc;
    ngx_str_t   hold;
    u_char      raw[NGX_HTTP_TWOFA_HOLD_TOKEN_SIZE];

    if (ctx->too_big) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "twofa: the login response is larger than "
                      "twofa_hold_max_size %uz; refused",
                      ctx->lcf->hold_max_size);
        ctx->result = NGX_HTTP_TWOFA_RESULT_ERROR;
        return NGX_HTTP_BAD_GATEWAY;
    }

    if (!ctx->captured || !ctx->body_done) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "twofa: the login subrequest ended without a "
                      "complete response (rc:%i)", ctx->subrequest_rc);
        ctx->result = NGX_HTTP_TWOFA_RESULT_ERROR;
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

    if (!twofa_ident_valid((const char *) ctx->user.data, ctx->user.len)
        || !twofa_ident_valid((const char *) ctx->org.data, ctx->org.len))
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "twofa: the app named an invalid identity (longer "
                      "than %d, or with spaces, controls or any of "
                      ": | / \\ \" * ? [ ]); login refused", TWOFA_ID_MAX);
        ctx->result = NGX_HTTP_TWOFA_RESULT_ERROR;
        return NGX_HTTP_BAD_GATEWAY;
    }

    if (twofa_random(raw, sizeof(raw)) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->hold_token.data = ngx_pnalloc(r->pool,
                                       NGX_HTTP_TWOFA_HOLD_TOKEN_LEN + 1);
    if (ctx->hold_token.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (twofa_base64url_encode(raw, sizeof(raw),
                               (char *) ctx->hold_token.data,
                               NGX_HTTP_TWOFA_HOLD_TOKEN_LEN + 1)
        != NGX_HTTP_TWOFA_HOLD_TOKEN_LEN)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->hold_token.len = NGX_HTTP_TWOFA_HOLD_TOKEN_LEN;

    if (ngx_http_twofa_hold_encode(r, ctx, &hold) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->phase = NGX_HTTP_TWOFA_LOGIN_DECIDE;

    rc = ngx_http_twofa_store_login(r, &ctx->org, &ctx->user,
                                    &ctx->hold_token, &hold,
                                    ngx_http_twofa_login_decided);

    if (rc == NGX_ERROR) {
        ctx->result = NGX_HTTP_TWOFA_RESULT_ERROR;
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
                          "(twofa_on_redis_error open)", &ctx->user);
            ctx->result = NGX_HTTP_TWOFA_RESULT_ERROR;
            ctx->no_session = 1;
            return ngx_http_twofa_login_finish(r,
                               ngx_http_twofa_send_response(r, &ctx->response));
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "twofa: redis gave no decision; login of \"%V\" "
                      "refused (%s)", &ctx->user,
                      ctx->reply.rc == NGX_ERROR
                      ? "twofa_on_redis_error closed"
                      : "an error reply always fails closed");
        ctx->result = NGX_HTTP_TWOFA_RESULT_ERROR;
        return ngx_http_twofa_login_finish(r,
                                     ngx_http_twofa_unavailable(r));
    }

    if (ctx->reply.outcome == NGX_HTTP_TWOFA_HELD) {
        ctx->result = NGX_HTTP_TWOFA_RESULT_HELD;
        ctx->need_enroll = !ctx->reply.state.enabled;
        return ngx_http_twofa_login_finish(r,
                                    ngx_http_twofa_login_challenge(r, ctx));
    }

    if (!ctx->no_session) {
        ctx->result = NGX_HTTP_TWOFA_RESULT_PASSED;

        if (ngx_http_twofa_set_session(r, &ctx->org, &ctx->user,
                                       TWOFA_AMR_PWD)
            != NGX_OK)
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


/*
 * Sends a captured (or released) app response on r: status, headers with
 * the identity headers dropped, body.  The caller adds its cookies first.
 */

ngx_int_t
ngx_http_twofa_send_response(ngx_http_request_t *r,
    ngx_http_twofa_response_t *resp)
{
    ngx_int_t                 rc;
    ngx_uint_t                i;
    ngx_buf_t                *b;
    ngx_chain_t              *cl, *last;
    ngx_table_elt_t          *h;
    ngx_http_twofa_ctx_t     *ctx;
    ngx_http_twofa_header_t  *hd;

    ctx = ngx_http_twofa_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->own_response = 1;

    r->headers_out.status = resp->status;
    r->headers_out.status_line = resp->status_line;

    if (resp->content_type.len) {
        r->headers_out.content_type = resp->content_type;
        r->headers_out.content_type_len = resp->content_type.len;
        r->headers_out.content_type_lowcase = NULL;
    }

    r->headers_out.content_length_n = resp->body_size;

    hd = resp->headers.elts;

    for (i = 0; i < resp->headers.nelts; i++) {

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        h->key = hd[i].name;
        h->value = hd[i].value;
        h->lowcase_key = NULL;
#if (nginx_version >= 1023000)
        h->next = NULL;
#endif

        switch (hd[i].role) {

        case NGX_HTTP_TWOFA_HEADER_LOCATION:
            r->headers_out.location = h;
            break;

        case NGX_HTTP_TWOFA_HEADER_CONTENT_ENCODING:
            r->headers_out.content_encoding = h;
            break;

        default:
            break;
        }
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    if (resp->body == NULL) {
        return ngx_http_send_special(r, NGX_HTTP_LAST);
    }

    last = NULL;

    for (cl = resp->body; cl; cl = cl->next) {
        last = cl;
    }

    b = last->buf;
    b->last_buf = 1;
    b->last_in_chain = 1;

    return ngx_http_output_filter(r, resp->body);
}


/*
 * The capture filters.  They act only on the login subrequest, found
 * through the main request's ctx: an internal redirect of the subrequest
 * (error_page, X-Accel-Redirect) clears the subrequest's own module
 * contexts, and its error page must be captured like any response, never
 * written to the client ahead of the main response.
 */

static ngx_int_t
ngx_http_twofa_capture_header_filter(ngx_http_request_t *r)
{
    ngx_uint_t                i;
    ngx_list_part_t          *part;
    ngx_table_elt_t          *h;
    ngx_http_twofa_ctx_t     *ctx;
    ngx_http_twofa_header_t  *hd;

    if (r == r->main) {
        if (ngx_http_twofa_guard(r) != NGX_OK) {
            return ngx_http_filter_finalize_request(r, &ngx_http_twofa_module,
                                                    NGX_HTTP_BAD_GATEWAY);
        }

        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_twofa_module);

    if (ctx == NULL || ctx->subrequest != r) {
        return ngx_http_next_header_filter(r);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa capture header s:%ui", r->headers_out.status);

    /*
     * A second header means the first response broke off and nginx made
     * an error page of it: that page is what the client must see.
     */

    ctx->captured = 1;
    ctx->too_big = 0;
    ctx->body_done = 0;
    ctx->response.headers.nelts = 0;
    ctx->response.body = NULL;
    ctx->response.body_size = 0;
    ctx->last_body = &ctx->response.body;

    ctx->response.status = r->headers_out.status;
    ctx->response.status_line = r->headers_out.status_line;
    ctx->response.content_type = r->headers_out.content_type;

    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0) {
            continue;
        }

        if (ctx->lcf->hide_identity
            && ngx_http_twofa_header_listed(ctx->lcf->identity_headers,
                                            &h[i].key))
        {
            continue;
        }

        hd = ngx_array_push(&ctx->response.headers);
        if (hd == NULL) {
            return NGX_ERROR;
        }

        hd->name = h[i].key;
        hd->value = h[i].value;

        if (&h[i] == r->headers_out.location) {
            hd->role = NGX_HTTP_TWOFA_HEADER_LOCATION;

        } else if (&h[i] == r->headers_out.content_encoding) {
            hd->role = NGX_HTTP_TWOFA_HEADER_CONTENT_ENCODING;

        } else {
            hd->role = NGX_HTTP_TWOFA_HEADER_PLAIN;
        }
    }

    if (ngx_http_twofa_capture_identity(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    /* nothing of this response goes to the client from here */
    r->filter_need_in_memory = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_twofa_capture_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    size_t                 size;
    ngx_buf_t             *b, *copy;
    ngx_chain_t           *cl, *out;
    ngx_http_twofa_ctx_t  *ctx;

    if (r == r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_twofa_module);

    if (ctx == NULL || ctx->subrequest != r) {
        return ngx_http_next_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        size = ngx_buf_in_memory(b) ? (size_t) (b->last - b->pos) : 0;

        if (size && !ctx->too_big) {

            if (ctx->response.body_size + size > ctx->lcf->hold_max_size) {
                ctx->too_big = 1;

            } else {
                copy = ngx_create_temp_buf(r->main->pool, size);
                if (copy == NULL) {
                    return NGX_ERROR;
                }

                copy->last = ngx_cpymem(copy->pos, b->pos, size);

                out = ngx_alloc_chain_link(r->main->pool);
                if (out == NULL) {
                    return NGX_ERROR;
                }

                out->buf = copy;
                out->next = NULL;

                *ctx->last_body = out;
                ctx->last_body = &out->next;
                ctx->response.body_size += size;
            }
        }

        /* consumed: upstream may reuse its buffers */

        if (ngx_buf_in_memory(b)) {
            b->pos = b->last;
        }

        if (b->in_file) {
            b->file_pos = b->file_last;
        }

        if (b->last_buf || b->last_in_chain) {
            ctx->body_done = 1;
        }
    }

    return NGX_OK;
}


/*
 * Who logged in, read while the subrequest still has its upstream: the
 * complex values of twofa_user and twofa_org see $upstream_http_* here.
 */

static ngx_int_t
ngx_http_twofa_capture_identity(ngx_http_request_t *r,
    ngx_http_twofa_ctx_t *ctx)
{
    ngx_str_t  value;

    if (ngx_http_complex_value(r, ctx->lcf->user, &value) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->user = value;

    if (value.len == 0) {
        return NGX_OK;
    }

    if (ctx->lcf->org) {
        if (ngx_http_complex_value(r, ctx->lcf->org, &value) != NGX_OK) {
            return NGX_ERROR;
        }

        ctx->org = value;
    }

    if (ctx->org.len == 0) {
        ngx_str_set(&ctx->org, NGX_HTTP_TWOFA_DEFAULT_ORG);
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_twofa_header_listed(ngx_array_t *names, ngx_str_t *name)
{
    size_t      k;
    u_char      c;
    ngx_str_t  *listed;
    ngx_uint_t  i;

    if (names == NULL) {
        return 0;
    }

    listed = names->elts;

    for (i = 0; i < names->nelts; i++) {

        if (listed[i].len != name->len) {
            continue;
        }

        for (k = 0; k < name->len; k++) {
            c = ngx_tolower(name->data[k]);

            if (c == '_') {
                c = '-';
            }

            if (c != listed[i].data[k]) {
                break;
            }
        }

        if (k == name->len) {
            return 1;
        }
    }

    return 0;
}


/*
 * The other doors: a response that names a user in an identity header
 * outside a twofa_login location comes from a login the module never saw
 * (a "/Login" or "/login/" the app also answers).  It is refused, 502,
 * and nothing of it, that header above all, reaches the client.
 */

static ngx_int_t
ngx_http_twofa_guard(ngx_http_request_t *r)
{
    ngx_uint_t                   i;
    ngx_list_part_t             *part;
    ngx_table_elt_t             *h;
    ngx_http_twofa_ctx_t        *ctx;
    ngx_http_twofa_loc_conf_t   *tlcf;
    ngx_http_twofa_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_twofa_module);

    if (tmcf->guarded_headers == NULL) {
        return NGX_OK;
    }

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twofa_module);

    if (tlcf->login) {
        return NGX_OK;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_twofa_module);

    if (ctx && ctx->own_response) {
        /* a release: the login's own response, sent by the pages */
        return NGX_OK;
    }

    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NGX_OK;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0
            || !ngx_http_twofa_header_listed(tmcf->guarded_headers,
                                             &h[i].key))
        {
            continue;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "twofa: a response carries the identity header "
                      "\"%V\" outside a twofa_login location (\"%V\"): a "
                      "login the module did not hold; refused",
                      &h[i].key, &r->uri);

        if (ctx == NULL) {
            ctx = ngx_http_twofa_get_ctx(r);
        }

        if (ctx) {
            ctx->result = NGX_HTTP_TWOFA_RESULT_ERROR;
        }

        return NGX_DECLINED;
    }
}


/*
 * A hold in Redis is a hash (see the store); its "r" field is the
 * response sealed under the active key and bound to the token and its
 * owner.  The sealed plaintext: "TFR1", then big-endian status(4), and strings
 * with a 4-byte length: status line, content type, then a header count(4)
 * and per header role(1) name value, then the body.
 */

static void
ngx_http_twofa_put32(u_char **p, uint32_t n)
{
    (*p)[0] = (u_char) (n >> 24);
    (*p)[1] = (u_char) (n >> 16);
    (*p)[2] = (u_char) (n >> 8);
    (*p)[3] = (u_char) n;
    *p += 4;
}


static u_char *
ngx_http_twofa_put_str(u_char *p, ngx_str_t *s)
{
    ngx_http_twofa_put32(&p, (uint32_t) s->len);
    return ngx_cpymem(p, s->data, s->len);
}


static ngx_int_t
ngx_http_twofa_get32(u_char **p, u_char *end, uint32_t *n)
{
    if (end - *p < 4) {
        return NGX_ERROR;
    }

    *n = ((uint32_t) (*p)[0] << 24) | ((uint32_t) (*p)[1] << 16)
         | ((uint32_t) (*p)[2] << 8) | (uint32_t) (*p)[3];
    *p += 4;

    return NGX_OK;
}


static ngx_int_t
ngx_http_twofa_get_str(u_char **p, u_char *end, ngx_str_t *s)
{
    uint32_t  n;

    if (ngx_http_twofa_get32(p, end, &n) != NGX_OK
        || (size_t) (end - *p) < n)
    {
        return NGX_ERROR;
    }

    s->len = n;
    s->data = *p;
    *p += n;

    return NGX_OK;
}


static void
ngx_http_twofa_hold_aad(u_char *buf, size_t *len, ngx_str_t *token,
    ngx_str_t *org, ngx_str_t *user)
{
    u_char  *p;

    p = ngx_cpymem(buf, "twofa hold v1", sizeof("twofa hold v1"));
    p = ngx_cpymem(p, token->data, token->len);
    *p++ = '\0';
    p = ngx_cpymem(p, org->data, org->len);
    *p++ = '\0';
    p = ngx_cpymem(p, user->data, user->len);

    *len = p - buf;
}


#define NGX_HTTP_TWOFA_HOLD_AAD_MAX                                          \
    (sizeof("twofa hold v1") + NGX_HTTP_TWOFA_HOLD_TOKEN_LEN + 2             \
     + 2 * TWOFA_ID_MAX)


static ngx_int_t
ngx_http_twofa_hold_encode(ngx_http_request_t *r, ngx_http_twofa_ctx_t *ctx,
    ngx_str_t *out)
{
    int                       n;
    u_char                   *plain, *p, *v;
    size_t                    size, aad_len, psize;
    ngx_uint_t                i;
    ngx_chain_t              *cl;
    const twofa_key_t        *keys;
    ngx_http_twofa_header_t  *hd;
    u_char                    aad[NGX_HTTP_TWOFA_HOLD_AAD_MAX];

    hd = ctx->response.headers.elts;

    size = 4 + 4 + 4 + ctx->response.status_line.len
           + 4 + ctx->response.content_type.len + 4
           + 4 + ctx->response.body_size;

    for (i = 0; i < ctx->response.headers.nelts; i++) {
        size += 1 + 4 + hd[i].name.len + 4 + hd[i].value.len;
    }

    plain = ngx_pnalloc(r->pool, size);
    if (plain == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(plain, NGX_HTTP_TWOFA_HOLD_MAGIC, 4);
    ngx_http_twofa_put32(&p, (uint32_t) ctx->response.status);
    p = ngx_http_twofa_put_str(p, &ctx->response.status_line);
    p = ngx_http_twofa_put_str(p, &ctx->response.content_type);
    ngx_http_twofa_put32(&p, (uint32_t) ctx->response.headers.nelts);

    for (i = 0; i < ctx->response.headers.nelts; i++) {
        *p++ = (u_char) hd[i].role;
        p = ngx_http_twofa_put_str(p, &hd[i].name);
        p = ngx_http_twofa_put_str(p, &hd[i].value);
    }

    ngx_http_twofa_put32(&p, (uint32_t) ctx->response.body_size);

    for (cl = ctx->response.body; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    psize = p - plain;

    v = ngx_pnalloc(r->pool, psize + TWOFA_SEAL_OVERHEAD);
    if (v == NULL) {
        return NGX_ERROR;
    }

    p = v;

    ngx_http_twofa_hold_aad(aad, &aad_len, &ctx->hold_token, &ctx->org,
                            &ctx->user);

    keys = ngx_http_twofa_keys(r, &size);

    n = twofa_seal(&keys[0], aad, aad_len, plain, psize, p,
                   psize + TWOFA_SEAL_OVERHEAD);

    ngx_explicit_memzero(plain, psize);

    if (n < 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "twofa: cannot seal the login response");
        return NGX_ERROR;
    }

    out->data = v;
    out->len = (p - v) + n;

    return NGX_OK;
}


/*
 * Opens a hold's sealed response (bound to its token and owner) into
 * resp.  NGX_DECLINED: no configured key opens it (a key removed, an edge
 * of a fleet that does not have the new key yet, or tampering).
 */

ngx_int_t
ngx_http_twofa_hold_open(ngx_http_request_t *r, ngx_str_t *token,
    ngx_str_t *value, ngx_str_t *org, ngx_str_t *user,
    ngx_http_twofa_response_t *resp)
{
    int                       n;
    u_char                   *p, *end, *plain, *sealed;
    size_t                    aad_len, nkeys;
    uint32_t                  status, count, i;
    ngx_str_t                 body;
    ngx_buf_t                *b;
    const twofa_key_t        *keys;
    ngx_http_twofa_header_t  *hd;
    u_char                    aad[NGX_HTTP_TWOFA_HOLD_AAD_MAX];

    if (org->len > TWOFA_ID_MAX || user->len > TWOFA_ID_MAX
        || token->len != NGX_HTTP_TWOFA_HOLD_TOKEN_LEN)
    {
        return NGX_ERROR;
    }

    sealed = value->data;
    end = sealed + value->len;

    ngx_http_twofa_hold_aad(aad, &aad_len, token, org, user);

    plain = ngx_pnalloc(r->pool, (end - sealed) + 1);
    if (plain == NULL) {
        return NGX_ERROR;
    }

    keys = ngx_http_twofa_keys(r, &nkeys);

    n = twofa_open(keys, nkeys, aad, aad_len, sealed, end - sealed, plain,
                   (end - sealed) + 1);
    if (n < 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "twofa: the hold of \"%V\" of \"%V\" does not open "
                      "under the configured keys (sealed on an edge with a "
                      "key this one lacks, a key removed, or tampered)",
                      user, org);
        return NGX_DECLINED;
    }

    p = plain;
    end = plain + n;

    if (n < 4 || ngx_strncmp(p, NGX_HTTP_TWOFA_HOLD_MAGIC, 4) != 0) {
        return NGX_ERROR;
    }

    p += 4;

    if (ngx_http_twofa_get32(&p, end, &status) != NGX_OK
        || status < 100 || status > 999
        || ngx_http_twofa_get_str(&p, end, &resp->status_line) != NGX_OK
        || ngx_http_twofa_get_str(&p, end, &resp->content_type) != NGX_OK
        || ngx_http_twofa_get32(&p, end, &count) != NGX_OK
        || count > 1000)
    {
        return NGX_ERROR;
    }

    resp->status = status;

    if (ngx_array_init(&resp->headers, r->pool, count ? count : 1,
                       sizeof(ngx_http_twofa_header_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < count; i++) {
        hd = ngx_array_push(&resp->headers);
        if (hd == NULL || p == end) {
            return NGX_ERROR;
        }

        hd->role = *p++;

        if (ngx_http_twofa_get_str(&p, end, &hd->name) != NGX_OK
            || ngx_http_twofa_get_str(&p, end, &hd->value) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_twofa_get_str(&p, end, &body) != NGX_OK || p != end) {
        return NGX_ERROR;
    }

    resp->body_size = body.len;
    resp->body = NULL;

    if (body.len) {
        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->pos = body.data;
        b->last = body.data + body.len;
        b->memory = 1;

        resp->body = ngx_alloc_chain_link(r->pool);
        if (resp->body == NULL) {
            return NGX_ERROR;
        }

        resp->body->buf = b;
        resp->body->next = NULL;
    }

    return NGX_OK;
}


/*
 * Release: the held response as the app sent it, plus the session cookie
 * (authenticated by amr) and the end of the hold cookie.  Returns the rc
 * to finalize r with.
 */

ngx_int_t
ngx_http_twofa_release(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, ngx_http_twofa_response_t *resp, twofa_amr_t amr)
{
    ngx_http_twofa_ctx_t  *ctx;

    ctx = ngx_http_twofa_get_ctx(r);
    if (ctx) {
        ctx->org = *org;
        ctx->user = *user;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa: releasing the hold of \"%V\" of \"%V\"",
                   user, org);

    if (ngx_http_twofa_set_session(r, org, user, amr) != NGX_OK
        || ngx_http_twofa_set_hold_cookie(r, NULL, 0) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_twofa_send_response(r, resp);
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
