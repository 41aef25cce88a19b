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
#include "twofa_ident.h"


static void ngx_http_twofa_pages_wipe(void *data);
static ngx_int_t ngx_http_twofa_pages_route(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg);
static void ngx_http_twofa_pages_posted(ngx_http_request_t *r);
static void ngx_http_twofa_pages_start(ngx_http_request_t *r);
static ngx_int_t ngx_http_twofa_pages_subject(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg);
static ngx_int_t ngx_http_twofa_pages_read_state(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_http_twofa_store_handler_pt handler);
static void ngx_http_twofa_pages_state(ngx_http_request_t *r,
    ngx_http_twofa_store_reply_t *reply);


/*
 * The routes: the name under the prefix, the methods, whom the page is
 * about (a hold, a signed-in user, either), when the state read brings
 * the hold's response (for a release), and the step once the state is
 * read (NULL: a redirect to "go" without reading anything).
 */

static ngx_http_twofa_route_t  ngx_http_twofa_routes[] = {

    { ngx_string(""), NGX_HTTP_TWOFA_ROUTE_INDEX,
      NGX_HTTP_GET|NGX_HTTP_HEAD, NGX_HTTP_TWOFA_FOR_HOLD,
      NGX_HTTP_TWOFA_NEVER, ngx_http_twofa_flow_index, NULL },

    { ngx_string("enroll"), NGX_HTTP_TWOFA_ROUTE_ENROLL,
      NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_POST, NGX_HTTP_TWOFA_FOR_EITHER,
      NGX_HTTP_TWOFA_NEVER, ngx_http_twofa_flow_enroll, NULL },

    { ngx_string("continue"), NGX_HTTP_TWOFA_ROUTE_CONTINUE,
      NGX_HTTP_POST, NGX_HTTP_TWOFA_FOR_HOLD,
      NGX_HTTP_TWOFA_ALWAYS, ngx_http_twofa_flow_continue, NULL },

    { ngx_string("verify"), NGX_HTTP_TWOFA_ROUTE_VERIFY,
      NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_POST, NGX_HTTP_TWOFA_FOR_EITHER,
      NGX_HTTP_TWOFA_ON_POST, ngx_http_twofa_flow_verify, NULL },

    { ngx_string("settings"), NGX_HTTP_TWOFA_ROUTE_SETTINGS,
      NGX_HTTP_GET|NGX_HTTP_HEAD, NGX_HTTP_TWOFA_FOR_SESSION,
      NGX_HTTP_TWOFA_NEVER, ngx_http_twofa_flow_settings, NULL },

    { ngx_string("settings/enable"), NGX_HTTP_TWOFA_ROUTE_SETTINGS_ENABLE,
      NGX_HTTP_POST, NGX_HTTP_TWOFA_FOR_SESSION,
      NGX_HTTP_TWOFA_NEVER, NULL, "enroll" },

    { ngx_string("settings/disable"), NGX_HTTP_TWOFA_ROUTE_SETTINGS_DISABLE,
      NGX_HTTP_POST, NGX_HTTP_TWOFA_FOR_SESSION,
      NGX_HTTP_TWOFA_NEVER, ngx_http_twofa_flow_disable, NULL }
};


ngx_int_t
ngx_http_twofa_pages_handler(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    const twofa_session_t  *session;
    ngx_http_twofa_page_t  *pg;

    pg = ngx_http_twofa_new_page(r, sizeof(ngx_http_twofa_page_t));
    if (pg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_twofa_on_cleanup(r->pool, ngx_http_twofa_pages_wipe, pg)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_twofa_pages_route(r, pg);
    if (rc != NGX_OK) {
        return rc;
    }

    pg->json = ngx_http_twofa_wants_json(r);

    if (ngx_http_twofa_get_session(r, &session) == NGX_OK) {
        pg->session = *session;
        pg->has_session = 1;
    }

    /* settings are about the signed-in user, even with a hold pending */

    if (pg->route->subject == NGX_HTTP_TWOFA_FOR_SESSION
        || ngx_http_twofa_get_hold_token(r, &pg->hold) != NGX_OK)
    {
        ngx_str_null(&pg->hold);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa page: \"%V\" hold:%ui session:%ui",
                   &pg->route->name, (ngx_uint_t) (pg->hold.len != 0),
                   (ngx_uint_t) pg->has_session);

    return ngx_http_twofa_with_body(r, r->method == NGX_HTTP_POST,
                                    NGX_HTTP_TWOFA_FORM_MAX,
                                    ngx_http_twofa_pages_posted,
                                    ngx_http_twofa_pages_start);
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
    ngx_str_t                   rest, allow;
    ngx_uint_t                  i;
    ngx_http_twofa_route_t     *rt;
    ngx_http_twofa_srv_conf_t  *tscf;

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

    for (i = 0; i < sizeof(ngx_http_twofa_routes)
                    / sizeof(ngx_http_twofa_route_t); i++)
    {
        rt = &ngx_http_twofa_routes[i];

        if (rt->name.len != rest.len
            || ngx_strncmp(rt->name.data, rest.data, rest.len) != 0)
        {
            continue;
        }

        pg->route = rt;

        if (r->method & rt->methods) {
            return NGX_OK;
        }

        if (rt->methods & NGX_HTTP_GET) {
            if (rt->methods & NGX_HTTP_POST) {
                ngx_str_set(&allow, "GET, HEAD, POST");

            } else {
                ngx_str_set(&allow, "GET, HEAD");
            }

        } else {
            ngx_str_set(&allow, "POST");
        }

        if (ngx_http_twofa_push_header(r, "Allow", &allow) == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_HTTP_NOT_ALLOWED;
    }

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
    if (rc != NGX_OK) {
        ngx_http_twofa_done(r, rc);
        return;
    }

    if (ngx_http_twofa_form_value(r, &ctx->body, "csrf", &token) != NGX_OK
        || ngx_http_twofa_check_csrf(r, pg, &token) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "twofa: form posted without a valid CSRF token");
        ngx_http_twofa_done(r,
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
 * Starts the page's work; every path ends in ngx_http_twofa_done(), now
 * or from a store callback.
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
            ngx_http_twofa_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        dst = ret.data;
        src = arg.data;
        ngx_unescape_uri(&dst, &src, arg.len, 0);
        ret.len = dst - ret.data;

        ngx_http_twofa_local_path(&ret, &pg->return_to);
    }

    rc = ngx_http_twofa_pages_subject(r, pg);
    if (rc != NGX_DECLINED) {
        ngx_http_twofa_done(r, rc);
        return;
    }

    rc = ngx_http_twofa_pages_read_state(r, pg, ngx_http_twofa_pages_state);
    if (rc != NGX_OK) {
        ngx_http_twofa_done(r, ngx_http_twofa_unavailable(r));
    }
}


/*
 * Whom the page is about, as its route wants it: NGX_DECLINED to read the
 * state, or the rc of the answer when there is nobody (or nothing to
 * read).
 */

static ngx_int_t
ngx_http_twofa_pages_subject(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    ngx_http_twofa_route_t  *rt;

    rt = pg->route;

    switch (rt->subject) {

    case NGX_HTTP_TWOFA_FOR_HOLD:
        if (pg->hold.len) {
            return NGX_DECLINED;
        }

        /* a signed-in user has nothing to continue: their settings */

        return pg->has_session ? ngx_http_twofa_go(r, pg, "settings")
                               : ngx_http_twofa_show_expired(r, pg);

    case NGX_HTTP_TWOFA_FOR_SESSION:
        if (!pg->has_session) {
            return ngx_http_twofa_show_expired(r, pg);
        }

        return rt->step ? NGX_DECLINED : ngx_http_twofa_go(r, pg, rt->go);

    default: /* NGX_HTTP_TWOFA_FOR_EITHER */
        if (pg->hold.len == 0 && !pg->has_session) {
            return ngx_http_twofa_show_expired(r, pg);
        }

        return NGX_DECLINED;
    }
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

        /*
         * a signed-in user's pending secret belongs to this session:
         * "org:user:iat", the identities escaped as in keys, so that
         * neither can hold the ':' that would let two sessions share it
         */

        p = ngx_pnalloc(r->pool, 3 * (pg->org.len + pg->user.len) + 2
                                 + NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        pg->bind.data = p;
        p += twofa_ident_key_escape((const char *) pg->org.data,
                                    pg->org.len, (char *) p);
        *p++ = ':';
        p += twofa_ident_key_escape((const char *) pg->user.data,
                                    pg->user.len, (char *) p);
        p = ngx_sprintf(p, ":%L", pg->session.iat);
        pg->bind.len = p - pg->bind.data;
        q.bind = pg->bind;
    }

    q.want_response = (pg->hold.len
                       && (pg->route->response == NGX_HTTP_TWOFA_ALWAYS
                           || (pg->route->response == NGX_HTTP_TWOFA_ON_POST
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
        ngx_http_twofa_done(r, ngx_http_twofa_unavailable(r));
        return;
    }

    if (reply->outcome == NGX_HTTP_TWOFA_NO_HOLD) {
        ngx_http_twofa_done(r, ngx_http_twofa_show_expired(r, pg));
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
        ngx_http_twofa_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
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
            ngx_http_twofa_done(r, rc == NGX_DECLINED
                                     ? ngx_http_twofa_show_unopened(r, pg)
                                     : NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    rc = pg->route->step(r, pg);

    if (rc != NGX_DONE) {
        ngx_http_twofa_done(r, rc);
    }
}
