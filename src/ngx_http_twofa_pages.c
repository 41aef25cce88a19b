/*
 * twofa-edge: the pages under twofa_pages (default /2fa/).
 *
 *   GET  {prefix}                 to the right step
 *   GET  {prefix}enroll           QR code, key, code box (pending secret)
 *   POST {prefix}enroll           first code: TOTP on, recovery codes shown
 *   POST {prefix}continue         releases the held login after enrollment
 *   GET  {prefix}verify           code box (a hold, or a step-up session)
 *   POST {prefix}verify           code or recovery code: release / return
 *   GET  {prefix}settings         a signed-in user's 2FA state
 *   POST {prefix}settings/enable  to enrollment
 *   POST {prefix}settings/disable with a current code, unless required
 *
 * Every page also answers JSON (Accept: application/json).  A page works
 * for one of two subjects: a held login (the twofa_hold cookie) or a
 * signed-in user (the session cookie).  Each step is a short chain of
 * store operations; every callback ends the request or starts the next.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"


static void ngx_http_twofa_pages_wipe(void *data);
static ngx_int_t ngx_http_twofa_pages_route(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg);
static void ngx_http_twofa_pages_posted(ngx_http_request_t *r);
static void ngx_http_twofa_pages_start(ngx_http_request_t *r);
static ngx_int_t ngx_http_twofa_pages_read_state(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_http_twofa_store_handler_pt handler);
static void ngx_http_twofa_pages_state(ngx_http_request_t *r,
    ngx_http_twofa_store_reply_t *reply);


ngx_int_t
ngx_http_twofa_pages_handler(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_pool_cleanup_t     *cln;
    const twofa_session_t  *session;
    ngx_http_twofa_ctx_t   *ctx;
    ngx_http_twofa_page_t  *pg;

    ctx = ngx_http_twofa_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pg = ngx_pcalloc(r->pool, sizeof(ngx_http_twofa_page_t));
    if (pg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_twofa_pages_wipe;
    cln->data = pg;

    ctx->page = pg;

    rc = ngx_http_twofa_pages_route(r, pg);
    if (rc != NGX_OK) {
        return rc;
    }

    pg->json = ngx_http_twofa_wants_json(r);

    /* settings are about the signed-in user, even with a hold pending */

    if (pg->route == NGX_HTTP_TWOFA_ROUTE_SETTINGS
        || pg->route == NGX_HTTP_TWOFA_ROUTE_SETTINGS_ENABLE
        || pg->route == NGX_HTTP_TWOFA_ROUTE_SETTINGS_DISABLE
        || ngx_http_twofa_get_hold_token(r, &pg->hold) != NGX_OK)
    {
        ngx_str_null(&pg->hold);
    }

    if (ngx_http_twofa_get_session(r, &session) == NGX_OK) {
        pg->session = *session;
        pg->has_session = 1;
    }

    if (r->method == NGX_HTTP_POST) {
        rc = ngx_http_twofa_read_body(r, NGX_HTTP_TWOFA_FORM_MAX,
                                      ngx_http_twofa_pages_posted);
        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    /* the request lives on until a store callback finalizes it */
    r->main->count++;

    ngx_http_twofa_pages_start(r);

    return NGX_DONE;
}


/* The plaintext secret and new recovery codes leave no copy behind. */

static void
ngx_http_twofa_pages_wipe(void *data)
{
    ngx_http_twofa_page_t *pg = data;

    ngx_explicit_memzero(pg->secret, sizeof(pg->secret));
    ngx_explicit_memzero(pg->recovery, sizeof(pg->recovery));
}


static ngx_int_t
ngx_http_twofa_pages_route(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    ngx_str_t                   rest, v;
    ngx_uint_t                  post;
    ngx_http_twofa_srv_conf_t  *tscf;

    static struct {
        ngx_str_t               name;
        ngx_http_twofa_route_e  route;
        ngx_uint_t              get;
        ngx_uint_t              post;
    } routes[] = {
        { ngx_string(""), NGX_HTTP_TWOFA_ROUTE_INDEX, 1, 0 },
        { ngx_string("enroll"), NGX_HTTP_TWOFA_ROUTE_ENROLL, 1, 1 },
        { ngx_string("continue"), NGX_HTTP_TWOFA_ROUTE_CONTINUE, 0, 1 },
        { ngx_string("verify"), NGX_HTTP_TWOFA_ROUTE_VERIFY, 1, 1 },
        { ngx_string("settings"), NGX_HTTP_TWOFA_ROUTE_SETTINGS, 1, 0 },
        { ngx_string("settings/enable"),
          NGX_HTTP_TWOFA_ROUTE_SETTINGS_ENABLE, 0, 1 },
        { ngx_string("settings/disable"),
          NGX_HTTP_TWOFA_ROUTE_SETTINGS_DISABLE, 0, 1 }
    };

    ngx_uint_t  i;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    if (r->uri.len < tscf->pages_url.len
        || ngx_strncmp(r->uri.data, tscf->pages_url.data,
                       tscf->pages_url.len) != 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "twofa: \"%V\" is not under twofa_pages_url \"%V\"",
                      &r->uri, &tscf->pages_url);
        return NGX_HTTP_NOT_FOUND;
    }

    rest.data = r->uri.data + tscf->pages_url.len;
    rest.len = r->uri.len - tscf->pages_url.len;

    post = (r->method == NGX_HTTP_POST);

    for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {

        if (routes[i].name.len != rest.len
            || ngx_strncmp(routes[i].name.data, rest.data, rest.len) != 0)
        {
            continue;
        }

        pg->route = routes[i].route;

        if ((post && routes[i].post)
            || ((r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) && routes[i].get))
        {
            return NGX_OK;
        }

        ngx_str_set(&v, "GET, HEAD");

        if (routes[i].post) {
            if (routes[i].get) {
                ngx_str_set(&v, "GET, HEAD, POST");

            } else {
                ngx_str_set(&v, "POST");
            }
        }

        if (ngx_http_twofa_push_header(r, "Allow", &v) == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_HTTP_NOT_ALLOWED;
    }

    pg->route = NGX_HTTP_TWOFA_ROUTE_UNKNOWN;

    return NGX_HTTP_NOT_FOUND;
}


static void
ngx_http_twofa_pages_posted(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_str_t               token, ret;
    ngx_http_twofa_ctx_t   *ctx;
    ngx_http_twofa_page_t  *pg;

    ctx = ngx_http_twofa_get_ctx(r);
    pg = ctx->page;

    rc = ngx_http_twofa_body(r);

    if (rc == NGX_DECLINED) {
        ngx_http_twofa_pages_done(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE);
        return;
    }

    if (rc != NGX_OK) {
        ngx_http_twofa_pages_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ngx_http_twofa_form_value(r, &ctx->body, "csrf", &token) != NGX_OK
        || ngx_http_twofa_check_csrf(r, pg, &token) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "twofa: form posted without a valid CSRF token");
        ngx_http_twofa_pages_done(r,
                ngx_http_twofa_show_message(r, pg, NGX_HTTP_FORBIDDEN,
                                            "csrf", "Form expired",
                                            "This form is no longer valid. "
                                            "Go back, reload the page and try "
                                            "again.", 0));
        return;
    }

    if (ngx_http_twofa_form_value(r, &ctx->body, "code", &pg->code)
        != NGX_OK)
    {
        ngx_str_null(&pg->code);
    }

    if (ngx_http_twofa_form_value(r, &ctx->body, "return", &ret) == NGX_OK) {
        ngx_http_twofa_local_path(&ret, &pg->return_to);
    }

    ngx_http_twofa_pages_start(r);
}


/*
 * Starts the page's work; every path ends in ngx_http_twofa_pages_done(),
 * now or from a store callback.
 */

static void
ngx_http_twofa_pages_start(ngx_http_request_t *r)
{
    u_char                 *dst, *src;
    ngx_int_t               rc;
    ngx_str_t               arg, ret;
    ngx_http_twofa_ctx_t   *ctx;
    ngx_http_twofa_page_t  *pg;

    ctx = ngx_http_twofa_get_ctx(r);
    pg = ctx->page;

    if (pg->hold.len == 0 && pg->has_session) {
        pg->org.data = (u_char *) pg->session.org;
        pg->org.len = pg->session.org_len;
        pg->user.data = (u_char *) pg->session.user;
        pg->user.len = pg->session.user_len;
        ctx->org = pg->org;
        ctx->user = pg->user;
    }

    if (r->method != NGX_HTTP_POST && pg->return_to.len == 0
        && ngx_http_arg(r, (u_char *) "return", 6, &arg) == NGX_OK)
    {
        ret.data = ngx_pnalloc(r->pool, arg.len);
        if (ret.data == NULL) {
            ngx_http_twofa_pages_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        dst = ret.data;
        src = arg.data;
        ngx_unescape_uri(&dst, &src, arg.len, 0);
        ret.len = dst - ret.data;

        ngx_http_twofa_local_path(&ret, &pg->return_to);
    }

    switch (pg->route) {

    case NGX_HTTP_TWOFA_ROUTE_INDEX:
        if (pg->hold.len == 0) {
            rc = pg->has_session ? ngx_http_twofa_go(r, pg, "settings")
                                 : ngx_http_twofa_show_expired(r, pg);
            ngx_http_twofa_pages_done(r, rc);
            return;
        }

        break;

    case NGX_HTTP_TWOFA_ROUTE_CONTINUE:
        if (pg->hold.len == 0) {
            rc = pg->has_session ? ngx_http_twofa_go(r, pg, "settings")
                                 : ngx_http_twofa_show_expired(r, pg);
            ngx_http_twofa_pages_done(r, rc);
            return;
        }

        break;

    case NGX_HTTP_TWOFA_ROUTE_SETTINGS_ENABLE:
        rc = pg->has_session ? ngx_http_twofa_go(r, pg, "enroll")
                             : ngx_http_twofa_show_expired(r, pg);
        ngx_http_twofa_pages_done(r, rc);
        return;

    case NGX_HTTP_TWOFA_ROUTE_SETTINGS:
    case NGX_HTTP_TWOFA_ROUTE_SETTINGS_DISABLE:
        if (!pg->has_session) {
            ngx_http_twofa_pages_done(r, ngx_http_twofa_show_expired(r, pg));
            return;
        }

        break;

    default:
        if (pg->hold.len == 0 && !pg->has_session) {
            ngx_http_twofa_pages_done(r, ngx_http_twofa_show_expired(r, pg));
            return;
        }

        break;
    }

    rc = ngx_http_twofa_pages_read_state(r, pg, ngx_http_twofa_pages_state);
    if (rc != NGX_OK) {
        ngx_http_twofa_pages_done(r, ngx_http_twofa_unavailable(r));
    }
}


void
ngx_http_twofa_pages_done(ngx_http_request_t *r, ngx_int_t rc)
{
    r->read_event_handler = ngx_http_block_reading;
    ngx_http_finalize_request(r, rc);
}


/*
 * One state read: the hold (with its response when the page may release
 * it) or the signed-in user, with the pending secret of that hold or
 * session.
 */

static ngx_int_t
ngx_http_twofa_pages_read_state(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_http_twofa_store_handler_pt handler)
{
    u_char                        *p;
    ngx_int_t                      rc;
    ngx_http_twofa_state_query_t   q;

    ngx_memzero(&q, sizeof(ngx_http_twofa_state_query_t));

    q.hold = pg->hold;
    q.org = pg->org;
    q.user = pg->user;

    if (pg->hold.len == 0 && pg->has_session) {

        /* a signed-in user's pending secret belongs to this session */

        p = ngx_pnalloc(r->pool, pg->org.len + pg->user.len + 2
                                 + NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        pg->bind.data = p;
        pg->bind.len = ngx_sprintf(p, "%V:%V:%L", &pg->org, &pg->user,
                                   pg->session.iat)
                       - p;
        q.bind = pg->bind;
    }

    q.want_response = (pg->hold.len
                       && (pg->route == NGX_HTTP_TWOFA_ROUTE_CONTINUE
                           || (pg->route == NGX_HTTP_TWOFA_ROUTE_VERIFY
                               && r->method == NGX_HTTP_POST)));

    rc = ngx_http_twofa_store_state(r, &q, handler);

    if (rc == NGX_OK) {
        /* a client that goes away meanwhile ends the request at once */
        r->read_event_handler = ngx_http_test_reading;
    }

    return rc;
}


static void
ngx_http_twofa_pages_state(ngx_http_request_t *r,
    ngx_http_twofa_store_reply_t *reply)
{
    ngx_int_t                   rc;
    ngx_http_twofa_ctx_t       *ctx;
    ngx_http_twofa_page_t      *pg;
    ngx_http_twofa_srv_conf_t  *tscf;

    ctx = ngx_http_twofa_get_ctx(r);
    pg = ctx->page;
    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    if (reply->rc != NGX_OK
        || reply->outcome == NGX_HTTP_TWOFA_NO_STATE)
    {
        if (reply->rc == NGX_OK) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "twofa: redis holds no twofa state (no deployment "
                          "marker): restore its data or run "
                          "\"twofa-admin init\"");
        }

        ctx->result = NGX_HTTP_TWOFA_RESULT_ERROR;
        ngx_http_twofa_pages_done(r, ngx_http_twofa_unavailable(r));
        return;
    }

    if (reply->outcome == NGX_HTTP_TWOFA_NO_HOLD) {
        ngx_http_twofa_pages_done(r, ngx_http_twofa_show_expired(r, pg));
        return;
    }

    pg->state = reply->state;
    pg->org = pg->state.org;
    pg->user = pg->state.user;
    ctx->org = pg->org;
    ctx->user = pg->user;

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa page: state enabled:%ui require:%ui passed:%ui "
                   "failures:%ui pending:%uz",
                   (ngx_uint_t) pg->state.enabled,
                   (ngx_uint_t) pg->state.require,
                   (ngx_uint_t) pg->state.hold_verified,
                   pg->state.failures, pg->state.pending.len);

    pg->locked = (pg->state.failures >= tscf->lockout);

    if (ngx_http_twofa_make_csrf(r, pg) != NGX_OK) {
        ngx_http_twofa_pages_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /*
     * A hold that will be released must open here, before anything is
     * used up: an edge without the key it was sealed with answers 409 and
     * leaves code and hold for an edge that has it.
     */

    if (pg->state.response.len) {
        rc = ngx_http_twofa_hold_open(r, &pg->hold, &pg->state.response,
                                      &pg->org, &pg->user, &pg->response);
        if (rc != NGX_OK) {
            ngx_http_twofa_pages_done(r, rc == NGX_DECLINED
                                     ? ngx_http_twofa_show_unopened(r, pg)
                                     : NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    switch (pg->route) {

    case NGX_HTTP_TWOFA_ROUTE_INDEX:
        rc = ngx_http_twofa_go(r, pg, (pg->state.enabled
                                       && pg->state.recovery_codes.len == 0)
                                      ? "verify" : "enroll");
        break;

    case NGX_HTTP_TWOFA_ROUTE_ENROLL:

        /* a retry after a late reply: the codes of the enrollment made */

        if (pg->hold.len && pg->state.hold_verified
            && pg->state.recovery_codes.len)
        {
            rc = ngx_http_twofa_open_codes(r, pg, &pg->state.recovery_codes);
            break;
        }

        if (pg->hold.len == 0 && pg->state.enabled
            && r->method == NGX_HTTP_POST
            && pg->state.pending.len > 1 && pg->state.pending.data[0] == '!')
        {
            pg->state.pending.data++;
            pg->state.pending.len--;
            rc = ngx_http_twofa_open_codes(r, pg, &pg->state.pending);
            break;
        }

        if (pg->state.enabled) {
            rc = ngx_http_twofa_go(r, pg, pg->hold.len ? "verify"
                                                        : "settings");
            break;
        }

        if (pg->locked) {
            rc = ngx_http_twofa_show_locked(r, pg, pg->state.fail_ttl);
            break;
        }

        if (pg->state.pending.len && pg->state.pending.data[0] == '!') {
            ngx_str_null(&pg->state.pending);
        }

        if (r->method == NGX_HTTP_POST) {
            if (pg->state.pending.len == 0) {
                rc = ngx_http_twofa_go(r, pg, "enroll");
                break;
            }

            rc = ngx_http_twofa_enroll_check(r, pg);
            break;
        }

        rc = ngx_http_twofa_enroll_show(r, pg);
        break;

    case NGX_HTTP_TWOFA_ROUTE_CONTINUE:

        if (!pg->state.hold_verified) {
            rc = ngx_http_twofa_go(r, pg, pg->state.enabled ? "verify"
                                                             : "enroll");
            break;
        }

        rc = ngx_http_twofa_take(r, pg);
        break;

    case NGX_HTTP_TWOFA_ROUTE_VERIFY:

        /* a retry after a late reply: the code was accepted already */

        if (pg->hold.len && pg->state.hold_verified
            && r->method == NGX_HTTP_POST)
        {
            rc = pg->state.recovery_codes.len
                 ? ngx_http_twofa_go(r, pg, "enroll")
                 : ngx_http_twofa_take(r, pg);
            break;
        }

        if (!pg->state.enabled) {
            rc = ngx_http_twofa_go(r, pg, "enroll");
            break;
        }

        if (pg->locked) {
            rc = ngx_http_twofa_show_locked(r, pg, pg->state.fail_ttl);
            break;
        }

        if (r->method == NGX_HTTP_POST) {
            rc = ngx_http_twofa_verify_check(r, pg);
            break;
        }

        rc = ngx_http_twofa_show_verify(r, pg, NGX_HTTP_OK);
        break;

    case NGX_HTTP_TWOFA_ROUTE_SETTINGS:
        rc = ngx_http_twofa_show_settings(r, pg, NGX_HTTP_OK);
        break;

    case NGX_HTTP_TWOFA_ROUTE_SETTINGS_DISABLE:

        if (!pg->state.enabled) {
            rc = ngx_http_twofa_go(r, pg, "settings");
            break;
        }

        if (pg->state.require) {
            ngx_str_set(&pg->error, "Your organisation requires two-factor "
                        "authentication, so it cannot be turned off.");
            rc = pg->json ? ngx_http_twofa_send_json(r, NGX_HTTP_FORBIDDEN,
                                                "{\"error\":\"required\"}")
                          : ngx_http_twofa_show_settings(r, pg,
                                                         NGX_HTTP_FORBIDDEN);
            break;
        }

        if (pg->locked) {
            rc = ngx_http_twofa_show_locked(r, pg, pg->state.fail_ttl);
            break;
        }

        rc = ngx_http_twofa_disable_check(r, pg);
        break;

    default:
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        break;
    }

    if (rc != NGX_DONE) {
        ngx_http_twofa_pages_done(r, rc);
    }
}
