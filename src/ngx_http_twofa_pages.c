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
#include "twofa_base32.h"
#include "twofa_base64.h"
#include "twofa_qr.h"
#include "ngx_http_twofa_templates.h"


typedef enum {
    NGX_HTTP_TWOFA_ROUTE_INDEX = 0,
    NGX_HTTP_TWOFA_ROUTE_ENROLL,
    NGX_HTTP_TWOFA_ROUTE_CONTINUE,
    NGX_HTTP_TWOFA_ROUTE_VERIFY,
    NGX_HTTP_TWOFA_ROUTE_SETTINGS,
    NGX_HTTP_TWOFA_ROUTE_SETTINGS_ENABLE,
    NGX_HTTP_TWOFA_ROUTE_SETTINGS_DISABLE,
    NGX_HTTP_TWOFA_ROUTE_UNKNOWN
} ngx_http_twofa_route_e;


/* the placeholders templates may use */
typedef enum {
    NGX_HTTP_TWOFA_V_TITLE = 0,
    NGX_HTTP_TWOFA_V_ISSUER,
    NGX_HTTP_TWOFA_V_CONTENT,
    NGX_HTTP_TWOFA_V_USER,
    NGX_HTTP_TWOFA_V_ORG,
    NGX_HTTP_TWOFA_V_ACTION,
    NGX_HTTP_TWOFA_V_CSRF,
    NGX_HTTP_TWOFA_V_ERROR,
    NGX_HTTP_TWOFA_V_SECRET,
    NGX_HTTP_TWOFA_V_SECRET_GROUPED,
    NGX_HTTP_TWOFA_V_OTPAUTH,
    NGX_HTTP_TWOFA_V_QR,
    NGX_HTTP_TWOFA_V_RECOVERY_ITEMS,
    NGX_HTTP_TWOFA_V_RETURN,
    NGX_HTTP_TWOFA_V_MESSAGE,
    NGX_HTTP_TWOFA_V_STATUS,
    NGX_HTTP_TWOFA_V_ENROLLED_AT,
    NGX_HTTP_TWOFA_V_RECOVERY_LEFT,
    NGX_HTTP_TWOFA_V_REQUIRED,
    NGX_HTTP_TWOFA_V_ENABLED,
    NGX_HTTP_TWOFA_V_ENABLE_ACTION,
    NGX_HTTP_TWOFA_V_DISABLE_ACTION,
    NGX_HTTP_TWOFA_V_HEADING,
    NGX_HTTP_TWOFA_V_LINK,
    NGX_HTTP_TWOFA_V_LINK_TEXT,
    NGX_HTTP_TWOFA_V_COUNT
} ngx_http_twofa_var_e;


typedef enum {
    NGX_HTTP_TWOFA_PART_TEXT = 0,
    NGX_HTTP_TWOFA_PART_ESCAPED,       /* {{name}} */
    NGX_HTTP_TWOFA_PART_RAW,           /* {{{name}}}, module-made HTML */
    NGX_HTTP_TWOFA_PART_IF,            /* {{#name}} */
    NGX_HTTP_TWOFA_PART_UNLESS,        /* {{^name}} */
    NGX_HTTP_TWOFA_PART_END            /* {{/name}} */
} ngx_http_twofa_part_e;


typedef struct {
    ngx_http_twofa_part_e     type;
    ngx_uint_t                var;
    ngx_str_t                 text;
} ngx_http_twofa_part_t;


#define NGX_HTTP_TWOFA_TPL_DEPTH   8


/* What one page request knows; lives in the request pool. */
typedef struct {
    ngx_http_twofa_route_e    route;
    ngx_uint_t                json;
    ngx_str_t                 hold;          /* token: a held login */
    twofa_session_t           session;       /* or a signed-in user */
    unsigned                  has_session:1;
    unsigned                  locked:1;
    ngx_str_t                 org;
    ngx_str_t                 user;
    ngx_str_t                 csrf;          /* for the forms we render */
    ngx_str_t                 code;          /* posted */
    ngx_str_t                 return_to;     /* step-up: where to go */
    ngx_http_twofa_state_t    state;
    ngx_str_t                 bind;          /* a session's pending key */
    ngx_http_twofa_response_t response;      /* the hold's, opened */
    u_char                    secret[NGX_HTTP_TWOFA_SECRET_SIZE];
    uint64_t                  step;
    twofa_amr_t               amr;
    char                      recovery[TWOFA_RECOVERY_COUNT]
                                      [TWOFA_RECOVERY_LEN + 1];
    ngx_str_t                 error;
    ngx_str_t                 message;
} ngx_http_twofa_page_t;


static void ngx_http_twofa_pages_wipe(void *data);
static ngx_int_t ngx_http_twofa_pages_route(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg);
static void ngx_http_twofa_pages_start(ngx_http_request_t *r);
static void ngx_http_twofa_pages_posted(ngx_http_request_t *r);
static void ngx_http_twofa_pages_done(ngx_http_request_t *r, ngx_int_t rc);
static ngx_int_t ngx_http_twofa_pages_read_state(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_http_twofa_store_handler_pt handler);
static void ngx_http_twofa_pages_state(ngx_http_request_t *r,
    ngx_http_twofa_store_reply_t *reply);

static ngx_int_t ngx_http_twofa_enroll_show(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg);
static void ngx_http_twofa_enroll_saved(ngx_http_request_t *r,
    ngx_http_twofa_store_reply_t *reply);
static ngx_int_t ngx_http_twofa_enroll_check(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg);
static void ngx_http_twofa_enroll_enabled(ngx_http_request_t *r,
    ngx_http_twofa_store_reply_t *reply);
static ngx_int_t ngx_http_twofa_take(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg);
static void ngx_http_twofa_taken(ngx_http_request_t *r,
    ngx_http_twofa_store_reply_t *reply);
static ngx_int_t ngx_http_twofa_verify_check(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg);
static void ngx_http_twofa_verify_accepted(ngx_http_request_t *r,
    ngx_http_twofa_store_reply_t *reply);
static ngx_int_t ngx_http_twofa_disable_check(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg);
static void ngx_http_twofa_disable_done(ngx_http_request_t *r,
    ngx_http_twofa_store_reply_t *reply);
static ngx_int_t ngx_http_twofa_failed(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg);
static void ngx_http_twofa_failed_counted(ngx_http_request_t *r,
    ngx_http_twofa_store_reply_t *reply);

static ngx_int_t ngx_http_twofa_open_secret(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_str_t *sealed);
static ngx_int_t ngx_http_twofa_seal_codes(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_str_t *out);
static ngx_int_t ngx_http_twofa_open_codes(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_str_t *sealed);
static ngx_int_t ngx_http_twofa_show_unopened(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg);
static ngx_int_t ngx_http_twofa_secret_aad(ngx_http_twofa_page_t *pg,
    u_char *buf, size_t *len);
static ngx_int_t ngx_http_twofa_check_code(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg);
static ngx_int_t ngx_http_twofa_make_csrf(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg);
static ngx_int_t ngx_http_twofa_check_csrf(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_str_t *token);
static ngx_int_t ngx_http_twofa_page_url(ngx_http_request_t *r,
    const char *route, ngx_str_t *url);
static ngx_int_t ngx_http_twofa_go(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, const char *route);

static ngx_int_t ngx_http_twofa_show_enroll(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_uint_t status);
static ngx_int_t ngx_http_twofa_show_verify(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_uint_t status);
static ngx_int_t ngx_http_twofa_show_recovery(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg);
static ngx_int_t ngx_http_twofa_show_settings(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_uint_t status);
static ngx_int_t ngx_http_twofa_show_message(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_uint_t status, const char *error,
    const char *heading, const char *message, ngx_uint_t link_login);
static ngx_int_t ngx_http_twofa_show_expired(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg);
static ngx_int_t ngx_http_twofa_show_locked(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_msec_t ttl);
static ngx_int_t ngx_http_twofa_show_invalid(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg);
static ngx_int_t ngx_http_twofa_render(ngx_http_request_t *r,
    ngx_array_t *tpl, ngx_str_t *title, ngx_str_t *vars, ngx_uint_t status);
static ngx_int_t ngx_http_twofa_render_parts(ngx_pool_t *pool,
    ngx_array_t *parts, ngx_str_t *vars, ngx_str_t *out);

static ngx_array_t *ngx_http_twofa_tpl_compile(ngx_conf_t *cf,
    ngx_str_t *name, ngx_str_t *src);
static ngx_http_twofa_templates_t *ngx_http_twofa_tpl_load_dir(
    ngx_conf_t *cf, ngx_str_t *dir);


static ngx_str_t  ngx_http_twofa_var_names[] = {
    ngx_string("title"),
    ngx_string("issuer"),
    ngx_string("content"),
    ngx_string("user"),
    ngx_string("org"),
    ngx_string("action"),
    ngx_string("csrf"),
    ngx_string("error"),
    ngx_string("secret"),
    ngx_string("secret_grouped"),
    ngx_string("otpauth"),
    ngx_string("qr"),
    ngx_string("recovery_items"),
    ngx_string("return"),
    ngx_string("message"),
    ngx_string("status"),
    ngx_string("enrolled_at"),
    ngx_string("recovery_left"),
    ngx_string("required"),
    ngx_string("enabled"),
    ngx_string("enable_action"),
    ngx_string("disable_action"),
    ngx_string("heading"),
    ngx_string("link"),
    ngx_string("link_text")
};


static ngx_str_t  ngx_http_twofa_invalid_code =
    ngx_string("That code is not valid. Check your app and try again.");


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


static void
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


/* GET enroll: the pending secret, made and stored on the first visit. */

/*
 * GET enroll: the pending secret of this hold (or session), made and
 * stored on the first visit; reloads of the same hold show the same one.
 */

static ngx_int_t
ngx_http_twofa_enroll_show(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    int                 n;
    size_t              nkeys, aad_len;
    ngx_str_t           sealed;
    const twofa_key_t  *keys;
    u_char              aad[64 + 2 * TWOFA_ID_MAX];
    u_char              buf[NGX_HTTP_TWOFA_SECRET_SIZE + TWOFA_SEAL_OVERHEAD];

    if (pg->state.pending.len) {
        if (ngx_http_twofa_open_secret(r, pg, &pg->state.pending) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_twofa_show_enroll(r, pg, NGX_HTTP_OK);
    }

    if (twofa_random(pg->secret, NGX_HTTP_TWOFA_SECRET_SIZE) != 0
        || ngx_http_twofa_secret_aad(pg, aad, &aad_len) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    keys = ngx_http_twofa_keys(r, &nkeys);

    n = twofa_seal(&keys[0], aad, aad_len, pg->secret,
                   NGX_HTTP_TWOFA_SECRET_SIZE, buf, sizeof(buf));
    if (n < 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sealed.len = twofa_base64_encoded_len((size_t) n);
    sealed.data = ngx_pnalloc(r->pool, sealed.len + 1);
    if (sealed.data == NULL
        || twofa_base64_encode(buf, n, (char *) sealed.data, sealed.len + 1)
           < 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa page: new pending secret");

    if (ngx_http_twofa_store_save_pending(r, &pg->org, &pg->user, &pg->bind,
                                          &pg->hold, &sealed,
                                          ngx_http_twofa_enroll_saved)
        != NGX_OK)
    {
        return ngx_http_twofa_unavailable(r);
    }

    return NGX_DONE;
}


static void
ngx_http_twofa_enroll_saved(ngx_http_request_t *r,
    ngx_http_twofa_store_reply_t *reply)
{
    ngx_int_t               rc;
    ngx_http_twofa_ctx_t   *ctx;
    ngx_http_twofa_page_t  *pg;

    ctx = ngx_http_twofa_get_ctx(r);
    pg = ctx->page;

    if (reply->rc != NGX_OK) {
        rc = ngx_http_twofa_unavailable(r);

    } else if (reply->outcome == NGX_HTTP_TWOFA_NO_HOLD) {
        rc = ngx_http_twofa_show_expired(r, pg);

    } else if (reply->outcome == NGX_HTTP_TWOFA_ALREADY_ON) {
        /* turned on meanwhile, in another tab */
        rc = ngx_http_twofa_go(r, pg, pg->hold.len ? "verify" : "settings");

    } else if (ngx_http_twofa_open_secret(r, pg, &reply->data) != NGX_OK) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

    } else {
        rc = ngx_http_twofa_show_enroll(r, pg, NGX_HTTP_OK);
    }

    ngx_http_twofa_pages_done(r, rc);
}


/* POST enroll: the first code turns TOTP on with fresh recovery codes. */

static ngx_int_t
ngx_http_twofa_enroll_check(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    u_char             *p;
    size_t              n, len;
    ngx_str_t           list, codes;
    ngx_uint_t          i;
    const twofa_key_t  *keys;
    char                hash[TWOFA_RECOVERY_HASH_LEN + 1];
    char                norm[TWOFA_RECOVERY_NORM_LEN + 1];

    if (ngx_http_twofa_open_secret(r, pg, &pg->state.pending) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_twofa_check_code(r, pg) != NGX_OK) {
        return ngx_http_twofa_failed(r, pg);
    }

    if (twofa_recovery_generate(pg->recovery, TWOFA_RECOVERY_COUNT) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    keys = ngx_http_twofa_keys(r, &n);

    len = TWOFA_KID_LEN + 1
          + TWOFA_RECOVERY_COUNT * (TWOFA_RECOVERY_HASH_LEN + 1);

    list.data = ngx_pnalloc(r->pool, len);
    if (list.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(list.data, keys[0].kid, TWOFA_KID_LEN);
    *p++ = ':';

    for (i = 0; i < TWOFA_RECOVERY_COUNT; i++) {
        if (twofa_recovery_normalize(pg->recovery[i], TWOFA_RECOVERY_LEN,
                                     norm) != 0
            || twofa_recovery_hash(&keys[0], (const char *) pg->org.data,
                                   pg->org.len, (const char *) pg->user.data,
                                   pg->user.len, norm, hash) != 0)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, hash, TWOFA_RECOVERY_HASH_LEN);
    }

    list.len = p - list.data;

    if (ngx_http_twofa_seal_codes(r, pg, &codes) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_twofa_store_enable(r, &pg->org, &pg->user, &pg->bind,
                                    &pg->hold, &pg->state.pending, pg->step,
                                    &list, &codes,
                                    ngx_http_twofa_enroll_enabled)
        != NGX_OK)
    {
        return ngx_http_twofa_unavailable(r);
    }

    return NGX_DONE;
}


static void
ngx_http_twofa_enroll_enabled(ngx_http_request_t *r,
    ngx_http_twofa_store_reply_t *reply)
{
    ngx_int_t               rc;
    ngx_http_twofa_ctx_t   *ctx;
    ngx_http_twofa_page_t  *pg;

    ctx = ngx_http_twofa_get_ctx(r);
    pg = ctx->page;

    if (reply->rc != NGX_OK) {
        ctx->result = NGX_HTTP_TWOFA_RESULT_ERROR;
        rc = ngx_http_twofa_unavailable(r);

    } else if (reply->outcome == NGX_HTTP_TWOFA_LOCKED) {
        rc = ngx_http_twofa_show_locked(r, pg, reply->state.fail_ttl);

    } else if (reply->outcome == NGX_HTTP_TWOFA_REPLAY) {
        rc = ngx_http_twofa_failed(r, pg);

    } else if (reply->outcome == NGX_HTTP_TWOFA_NO_HOLD) {
        rc = ngx_http_twofa_show_expired(r, pg);

    } else if (reply->outcome != NGX_HTTP_TWOFA_DONE) {
        /* the pending secret changed or TOTP went on meanwhile */
        rc = ngx_http_twofa_go(r, pg, "enroll");

    } else {
        ctx->result = NGX_HTTP_TWOFA_RESULT_ENROLLED;

        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "twofa: \"%V\" of \"%V\" turned on two-factor "
                      "authentication", &pg->user, &pg->org);

        /*
         * A signed-in user's session passed TOTP just now; a held login
         * gets its session when the hold is released.
         */

        if (pg->hold.len == 0
            && ngx_http_twofa_set_session(r, &pg->org, &pg->user,
                                          TWOFA_AMR_TOTP)
               != NGX_OK)
        {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

        } else {
            rc = ngx_http_twofa_show_recovery(r, pg);
        }
    }

    if (rc != NGX_DONE) {
        ngx_http_twofa_pages_done(r, rc);
    }
}


/* POST continue: the hold, verified at enrollment, is released. */

/*
 * Takes a hold whose owner passed (one release per hold, whatever the
 * edges), then releases the response opened with the state read.
 */

static ngx_int_t
ngx_http_twofa_take(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    if (pg->response.status == 0) {
        /* not read with this request: read it (and check it opens) now */
        return ngx_http_twofa_go(r, pg, "verify");
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa page: take the hold");

    if (ngx_http_twofa_store_take_hold(r, &pg->org, &pg->user, &pg->hold,
                                       ngx_http_twofa_taken)
        != NGX_OK)
    {
        return ngx_http_twofa_unavailable(r);
    }

    return NGX_DONE;
}


static void
ngx_http_twofa_taken(ngx_http_request_t *r,
    ngx_http_twofa_store_reply_t *reply)
{
    ngx_int_t               rc;
    twofa_amr_t             amr;
    ngx_http_twofa_ctx_t   *ctx;
    ngx_http_twofa_page_t  *pg;

    ctx = ngx_http_twofa_get_ctx(r);
    pg = ctx->page;

    if (reply->rc != NGX_OK) {
        ctx->result = NGX_HTTP_TWOFA_RESULT_ERROR;
        rc = ngx_http_twofa_unavailable(r);

    } else if (reply->outcome != NGX_HTTP_TWOFA_DONE) {
        rc = ngx_http_twofa_show_expired(r, pg);

    } else {
        ctx->result = NGX_HTTP_TWOFA_RESULT_VERIFIED;

        amr = pg->amr;

        if (amr == TWOFA_AMR_PWD) {
            /* a retry: how the owner passed, as the hold recorded it */
            amr = (pg->state.amr.len == 8
                   && ngx_strncmp(pg->state.amr.data, "recovery", 8) == 0)
                  ? TWOFA_AMR_RECOVERY : TWOFA_AMR_TOTP;
        }

        rc = ngx_http_twofa_release(r, &pg->org, &pg->user, &pg->response,
                                    amr);
    }

    ngx_http_twofa_pages_done(r, rc);
}


/* POST verify: a TOTP code or a recovery code. */

static ngx_int_t
ngx_http_twofa_verify_check(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    size_t              n;
    ngx_str_t           hash;
    const twofa_key_t  *keys, *key;
    char                norm[TWOFA_RECOVERY_NORM_LEN + 1];
    char                hex[TWOFA_RECOVERY_HASH_LEN + 1];

    ngx_str_null(&hash);

    if (twofa_recovery_normalize((const char *) pg->code.data, pg->code.len,
                                 norm)
        == 0)
    {
        keys = ngx_http_twofa_keys(r, &n);
        key = twofa_key_find(keys, n,
                             (const char *) pg->state.recovery_kid.data,
                             pg->state.recovery_kid.len);

        if (key == NULL
            || twofa_recovery_hash(key, (const char *) pg->org.data,
                                   pg->org.len, (const char *) pg->user.data,
                                   pg->user.len, norm, hex)
               != 0)
        {
            return ngx_http_twofa_failed(r, pg);
        }

        hash.data = ngx_pnalloc(r->pool, TWOFA_RECOVERY_HASH_LEN);
        if (hash.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        hash.len = TWOFA_RECOVERY_HASH_LEN;
        ngx_memcpy(hash.data, hex, TWOFA_RECOVERY_HASH_LEN);
        pg->amr = TWOFA_AMR_RECOVERY;

    } else {
        if (ngx_http_twofa_open_secret(r, pg, &pg->state.secret) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_http_twofa_check_code(r, pg) != NGX_OK) {
            return ngx_http_twofa_failed(r, pg);
        }

        pg->amr = TWOFA_AMR_TOTP;
    }

    if (ngx_http_twofa_store_accept_code(r, &pg->org, &pg->user, pg->step,
                                         &hash, &pg->hold, pg->amr,
                                         ngx_http_twofa_verify_accepted)
        != NGX_OK)
    {
        return ngx_http_twofa_unavailable(r);
    }

    return NGX_DONE;
}


static void
ngx_http_twofa_verify_accepted(ngx_http_request_t *r,
    ngx_http_twofa_store_reply_t *reply)
{
    ngx_int_t               rc;
    ngx_str_t               to;
    ngx_http_twofa_ctx_t   *ctx;
    ngx_http_twofa_page_t  *pg;

    ctx = ngx_http_twofa_get_ctx(r);
    pg = ctx->page;

    if (reply->rc != NGX_OK) {
        ctx->result = NGX_HTTP_TWOFA_RESULT_ERROR;
        rc = ngx_http_twofa_unavailable(r);

    } else if (reply->outcome == NGX_HTTP_TWOFA_LOCKED) {
        rc = ngx_http_twofa_show_locked(r, pg, reply->state.fail_ttl);

    } else if (reply->outcome == NGX_HTTP_TWOFA_REPLAY) {
        /* a used code looks exactly like a wrong one */
        rc = ngx_http_twofa_failed(r, pg);

    } else if (reply->outcome == NGX_HTTP_TWOFA_NO_HOLD) {
        rc = ngx_http_twofa_show_expired(r, pg);

    } else if (reply->outcome != NGX_HTTP_TWOFA_DONE) {
        rc = ngx_http_twofa_go(r, pg, "enroll");

    } else {
        ctx->result = NGX_HTTP_TWOFA_RESULT_VERIFIED;

        if (pg->amr == TWOFA_AMR_RECOVERY) {
            ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                          "twofa: \"%V\" of \"%V\" used a recovery code",
                          &pg->user, &pg->org);
        }

        if (pg->hold.len) {
            rc = ngx_http_twofa_take(r, pg);

        } else if (ngx_http_twofa_set_session(r, &pg->org, &pg->user,
                                              pg->amr)
                   != NGX_OK)
        {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

        } else {
            if (pg->return_to.len == 0) {
                ngx_str_set(&to, "/");

            } else {
                to = pg->return_to;
            }

            rc = pg->json ? ngx_http_twofa_send_json(r, NGX_HTTP_OK,
                                                "{\"step\":\"done\"}")
                          : ngx_http_twofa_redirect(r, &to);
        }
    }

    if (rc != NGX_DONE) {
        ngx_http_twofa_pages_done(r, rc);
    }
}


/* POST settings/disable: a current code, and the org must allow it. */

static ngx_int_t
ngx_http_twofa_disable_check(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    if (ngx_http_twofa_open_secret(r, pg, &pg->state.secret) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_twofa_check_code(r, pg) != NGX_OK) {
        return ngx_http_twofa_failed(r, pg);
    }

    if (ngx_http_twofa_store_disable(r, &pg->org, &pg->user, pg->step,
                                     ngx_http_twofa_disable_done)
        != NGX_OK)
    {
        return ngx_http_twofa_unavailable(r);
    }

    return NGX_DONE;
}


static void
ngx_http_twofa_disable_done(ngx_http_request_t *r,
    ngx_http_twofa_store_reply_t *reply)
{
    ngx_int_t               rc;
    ngx_http_twofa_ctx_t   *ctx;
    ngx_http_twofa_page_t  *pg;

    ctx = ngx_http_twofa_get_ctx(r);
    pg = ctx->page;

    if (reply->rc != NGX_OK) {
        rc = ngx_http_twofa_unavailable(r);

    } else if (reply->outcome == NGX_HTTP_TWOFA_LOCKED) {
        rc = ngx_http_twofa_show_locked(r, pg, reply->state.fail_ttl);

    } else if (reply->outcome == NGX_HTTP_TWOFA_REPLAY) {
        rc = ngx_http_twofa_failed(r, pg);

    } else if (reply->outcome == NGX_HTTP_TWOFA_REQUIRED) {
        pg->state.require = 1;
        ngx_str_set(&pg->error, "Your organisation requires two-factor "
                    "authentication, so it cannot be turned off.");
        rc = pg->json ? ngx_http_twofa_send_json(r, NGX_HTTP_FORBIDDEN,
                                            "{\"error\":\"required\"}")
                      : ngx_http_twofa_show_settings(r, pg,
                                                     NGX_HTTP_FORBIDDEN);

    } else if (reply->outcome != NGX_HTTP_TWOFA_DONE) {
        rc = ngx_http_twofa_go(r, pg, "settings");

    } else {
        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "twofa: \"%V\" of \"%V\" turned off two-factor "
                      "authentication", &pg->user, &pg->org);

        /*
         * The session no longer rests on a second factor.  The disable
         * revoked every session of this second: this one is dated after.
         */

        if (ngx_http_twofa_set_session_at(r, &pg->org, &pg->user,
                                          TWOFA_AMR_PWD,
                                          (int64_t) ngx_time() + 1)
            != NGX_OK)
        {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

        } else {
            pg->state.enabled = 0;
            pg->state.enrolled_at = 0;
            pg->state.recovery_left = 0;
            ngx_str_set(&pg->message,
                        "Two-factor authentication is now off.");
            rc = ngx_http_twofa_show_settings(r, pg, NGX_HTTP_OK);
        }
    }

    if (rc != NGX_DONE) {
        ngx_http_twofa_pages_done(r, rc);
    }
}


/* A wrong or used code: counted for the user and the hold. */

static ngx_int_t
ngx_http_twofa_failed(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    ngx_http_twofa_ctx_t  *ctx;

    ctx = ngx_http_twofa_get_ctx(r);
    ctx->result = NGX_HTTP_TWOFA_RESULT_FAILED;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "twofa: wrong or used code for \"%V\" of \"%V\"",
                  &pg->user, &pg->org);

    if (ngx_http_twofa_store_fail(r, &pg->org, &pg->user, &pg->hold,
                                  ngx_http_twofa_failed_counted)
        != NGX_OK)
    {
        return ngx_http_twofa_unavailable(r);
    }

    return NGX_DONE;
}


static void
ngx_http_twofa_failed_counted(ngx_http_request_t *r,
    ngx_http_twofa_store_reply_t *reply)
{
    ngx_int_t                   rc;
    ngx_http_twofa_ctx_t       *ctx;
    ngx_http_twofa_page_t      *pg;
    ngx_http_twofa_srv_conf_t  *tscf;

    ctx = ngx_http_twofa_get_ctx(r);
    pg = ctx->page;
    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    if (reply->rc != NGX_OK) {
        rc = ngx_http_twofa_unavailable(r);

    } else if (reply->state.failures >= tscf->lockout) {
        if (reply->state.failures == tscf->lockout) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "twofa: \"%V\" of \"%V\" locked out after %ui "
                          "failed codes", &pg->user, &pg->org,
                          reply->state.failures);
        }

        rc = ngx_http_twofa_show_locked(r, pg, reply->state.fail_ttl);

    } else {
        rc = ngx_http_twofa_show_invalid(r, pg);
    }

    ngx_http_twofa_pages_done(r, rc);
}


static ngx_int_t
ngx_http_twofa_show_invalid(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    if (pg->json) {
        return ngx_http_twofa_send_json(r, NGX_HTTP_UNAUTHORIZED,
                                   "{\"error\":\"invalid_code\"}");
    }

    pg->error = ngx_http_twofa_invalid_code;

    switch (pg->route) {

    case NGX_HTTP_TWOFA_ROUTE_ENROLL:
        return ngx_http_twofa_show_enroll(r, pg, NGX_HTTP_UNAUTHORIZED);

    case NGX_HTTP_TWOFA_ROUTE_SETTINGS_DISABLE:
        return ngx_http_twofa_show_settings(r, pg, NGX_HTTP_UNAUTHORIZED);

    default:
        return ngx_http_twofa_show_verify(r, pg, NGX_HTTP_UNAUTHORIZED);
    }
}


/* The TOTP code in pg->code against pg->secret; the step in pg->step. */

static ngx_int_t
ngx_http_twofa_check_code(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    int                         rc;
    u_char                      digits[TWOFA_DIGITS_MAX];
    size_t                      n;
    ngx_uint_t                  i;
    ngx_http_twofa_srv_conf_t  *tscf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    /* people type "123 456": spaces do not count */

    n = 0;

    for (i = 0; i < pg->code.len; i++) {
        if (pg->code.data[i] == ' ') {
            continue;
        }

        if (n == TWOFA_DIGITS_MAX) {
            return NGX_DECLINED;
        }

        digits[n++] = pg->code.data[i];
    }

    if (n != 6) {
        return NGX_DECLINED;
    }

    rc = twofa_totp_verify(TWOFA_SHA1, pg->secret, NGX_HTTP_TWOFA_SECRET_SIZE,
                           (uint64_t) ngx_time(), 30, 6, tscf->skew,
                           (const char *) digits, n, &pg->step);

    ngx_explicit_memzero(digits, sizeof(digits));

    return (rc == 1) ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ngx_http_twofa_secret_aad(ngx_http_twofa_page_t *pg, u_char *buf,
    size_t *len)
{
    u_char  *p;

    p = ngx_cpymem(buf, "twofa secret v1", sizeof("twofa secret v1"));
    p = ngx_cpymem(p, pg->org.data, pg->org.len);
    *p++ = '\0';
    p = ngx_cpymem(p, pg->user.data, pg->user.len);

    *len = p - buf;

    return NGX_OK;
}


/* The stored secret (base64 of sealed bytes) into pg->secret. */

static ngx_int_t
ngx_http_twofa_open_secret(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    ngx_str_t *sealed)
{
    int                 n;
    size_t              nkeys, aad_len;
    const twofa_key_t  *keys;
    u_char              aad[64 + 2 * TWOFA_ID_MAX];
    u_char              raw[NGX_HTTP_TWOFA_SECRET_SIZE + TWOFA_SEAL_OVERHEAD];

    n = twofa_base64_decode((const char *) sealed->data, sealed->len, raw,
                            sizeof(raw));
    if (n < 0) {
        goto failed;
    }

    ngx_http_twofa_secret_aad(pg, aad, &aad_len);

    keys = ngx_http_twofa_keys(r, &nkeys);

    if (twofa_open(keys, nkeys, aad, aad_len, raw, n, pg->secret,
                   sizeof(pg->secret))
        != NGX_HTTP_TWOFA_SECRET_SIZE)
    {
        goto failed;
    }

    return NGX_OK;

failed:

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "twofa: the stored secret of \"%V\" of \"%V\" does not "
                  "open under the configured keys", &pg->user, &pg->org);

    return NGX_ERROR;
}


/*
 * The new recovery codes, sealed, kept with the hold until continue (or a
 * while for a signed-in user), so a retry after a late reply shows them.
 * Bound to the owner: a hold's codes open for no one else.
 */

static void
ngx_http_twofa_codes_aad(ngx_http_twofa_page_t *pg, u_char *buf, size_t *len)
{
    u_char  *p;

    p = ngx_cpymem(buf, "twofa recovery v1", sizeof("twofa recovery v1"));
    p = ngx_cpymem(p, pg->org.data, pg->org.len);
    *p++ = '\0';
    p = ngx_cpymem(p, pg->user.data, pg->user.len);

    *len = p - buf;
}


static ngx_int_t
ngx_http_twofa_seal_codes(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    ngx_str_t *out)
{
    int                 n;
    u_char             *p;
    size_t              nkeys, aad_len;
    ngx_uint_t          i;
    const twofa_key_t  *keys;
    u_char              aad[64 + 2 * TWOFA_ID_MAX];
    u_char              plain[TWOFA_RECOVERY_COUNT
                              * (TWOFA_RECOVERY_LEN + 1)];
    u_char              sealed[sizeof(plain) + TWOFA_SEAL_OVERHEAD];

    p = plain;

    for (i = 0; i < TWOFA_RECOVERY_COUNT; i++) {
        p = ngx_cpymem(p, pg->recovery[i], TWOFA_RECOVERY_LEN);
    }

    ngx_http_twofa_codes_aad(pg, aad, &aad_len);

    keys = ngx_http_twofa_keys(r, &nkeys);

    n = twofa_seal(&keys[0], aad, aad_len, plain, p - plain, sealed,
                   sizeof(sealed));

    ngx_explicit_memzero(plain, sizeof(plain));

    if (n < 0) {
        return NGX_ERROR;
    }

    out->len = twofa_base64_encoded_len((size_t) n);
    out->data = ngx_pnalloc(r->pool, out->len + 1);
    if (out->data == NULL
        || twofa_base64_encode(sealed, n, (char *) out->data, out->len + 1)
           < 0)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* Shows the recovery codes kept with a hold or session again. */

static ngx_int_t
ngx_http_twofa_open_codes(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    ngx_str_t *sealed)
{
    int                 n;
    size_t              nkeys, aad_len;
    ngx_uint_t          i;
    const twofa_key_t  *keys;
    u_char              aad[64 + 2 * TWOFA_ID_MAX];
    u_char              raw[TWOFA_RECOVERY_COUNT * (TWOFA_RECOVERY_LEN + 1)
                            + TWOFA_SEAL_OVERHEAD];
    u_char              plain[sizeof(raw)];

    n = twofa_base64_decode((const char *) sealed->data, sealed->len, raw,
                            sizeof(raw));
    if (n < 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_twofa_codes_aad(pg, aad, &aad_len);

    keys = ngx_http_twofa_keys(r, &nkeys);

    n = twofa_open(keys, nkeys, aad, aad_len, raw, n, plain, sizeof(plain));

    if (n != TWOFA_RECOVERY_COUNT * TWOFA_RECOVERY_LEN) {
        ngx_explicit_memzero(plain, sizeof(plain));
        return ngx_http_twofa_show_unopened(r, pg);
    }

    for (i = 0; i < TWOFA_RECOVERY_COUNT; i++) {
        ngx_memcpy(pg->recovery[i], plain + i * TWOFA_RECOVERY_LEN,
                   TWOFA_RECOVERY_LEN);
        pg->recovery[i][TWOFA_RECOVERY_LEN] = '\0';
    }

    ngx_explicit_memzero(plain, sizeof(plain));

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa page: recovery codes shown again after a retry");

    return ngx_http_twofa_show_recovery(r, pg);
}


/*
 * CSRF tokens are MACs of what the form acts on: the hold, or the session
 * (by its issue time, so a new login makes old forms stale).  No state.
 */

static ngx_int_t
ngx_http_twofa_csrf_binding(ngx_http_twofa_page_t *pg, u_char *buf,
    size_t *len)
{
    u_char  *p;

    if (pg->hold.len) {
        p = ngx_cpymem(buf, "hold:", 5);
        p = ngx_cpymem(p, pg->hold.data, pg->hold.len);

    } else if (pg->has_session) {
        p = ngx_sprintf(buf, "session:%*s:%*s:%L", pg->session.org_len,
                        pg->session.org, pg->session.user_len,
                        pg->session.user, pg->session.iat);

    } else {
        return NGX_DECLINED;
    }

    *len = p - buf;

    return NGX_OK;
}


static ngx_int_t
ngx_http_twofa_make_csrf(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    size_t              n, len;
    const twofa_key_t  *keys;
    u_char              binding[64 + 2 * TWOFA_ID_MAX];

    if (ngx_http_twofa_csrf_binding(pg, binding, &len) != NGX_OK) {
        ngx_str_null(&pg->csrf);
        return NGX_OK;
    }

    pg->csrf.data = ngx_pnalloc(r->pool, TWOFA_CSRF_LEN + 1);
    if (pg->csrf.data == NULL) {
        return NGX_ERROR;
    }

    keys = ngx_http_twofa_keys(r, &n);

    if (twofa_csrf_token(&keys[0], (const char *) binding, len,
                         (char *) pg->csrf.data)
        != 0)
    {
        return NGX_ERROR;
    }

    pg->csrf.len = TWOFA_CSRF_LEN;

    return NGX_OK;
}


static ngx_int_t
ngx_http_twofa_check_csrf(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    ngx_str_t *token)
{
    size_t              n, len;
    const twofa_key_t  *keys;
    u_char              binding[64 + 2 * TWOFA_ID_MAX];

    if (ngx_http_twofa_csrf_binding(pg, binding, &len) != NGX_OK) {
        return NGX_DECLINED;
    }

    keys = ngx_http_twofa_keys(r, &n);

    if (!twofa_csrf_check(keys, n, (const char *) binding, len,
                          (const char *) token->data, token->len))
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
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

static ngx_int_t
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


/* ---- pages ------------------------------------------------------------ */


static ngx_int_t
ngx_http_twofa_show_enroll(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    ngx_uint_t status)
{
    int                         n;
    char                       *svg;
    size_t                      svg_len;
    ngx_str_t                   vars[NGX_HTTP_TWOFA_V_COUNT], title;
    ngx_str_t                   b32, grouped, uri, js, ju, jc;
    ngx_pool_cleanup_t         *cln;
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
        if (ngx_http_twofa_json_string(r->pool, &b32, &js) != NGX_OK
            || ngx_http_twofa_json_string(r->pool, &uri, &ju) != NGX_OK
            || ngx_http_twofa_json_string(r->pool, &pg->csrf, &jc) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (status == NGX_HTTP_UNAUTHORIZED) {
            return ngx_http_twofa_send_json(r, status,
                                       "{\"error\":\"invalid_code\"}");
        }

        return ngx_http_twofa_send_json(r, status,
                                   "{\"step\":\"enroll\",\"secret\":%V,"
                                   "\"otpauth\":%V,\"csrf\":%V}",
                                   &js, &ju, &jc);
    }

    svg = twofa_qr_svg((const char *) uri.data, uri.len, "twofa-qr",
                       &svg_len);
    if (svg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        free(svg);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = free;
    cln->data = svg;

    ngx_memzero(vars, sizeof(vars));

    vars[NGX_HTTP_TWOFA_V_USER] = pg->user;
    vars[NGX_HTTP_TWOFA_V_ORG] = pg->org;
    vars[NGX_HTTP_TWOFA_V_CSRF] = pg->csrf;
    vars[NGX_HTTP_TWOFA_V_ERROR] = pg->error;
    vars[NGX_HTTP_TWOFA_V_SECRET] = b32;
    vars[NGX_HTTP_TWOFA_V_SECRET_GROUPED] = grouped;
    vars[NGX_HTTP_TWOFA_V_OTPAUTH] = uri;
    vars[NGX_HTTP_TWOFA_V_QR].data = (u_char *) svg;
    vars[NGX_HTTP_TWOFA_V_QR].len = svg_len;

    if (ngx_http_twofa_page_url(r, "enroll",
                                &vars[NGX_HTTP_TWOFA_V_ACTION])
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&title, "Set up two-factor authentication");

    return ngx_http_twofa_render(r, tscf->templates->enroll, &title, vars,
                                 status);
}


static ngx_int_t
ngx_http_twofa_show_verify(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    ngx_uint_t status)
{
    ngx_str_t                   vars[NGX_HTTP_TWOFA_V_COUNT], title, jc;
    ngx_http_twofa_srv_conf_t  *tscf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    if (pg->json) {
        if (ngx_http_twofa_json_string(r->pool, &pg->csrf, &jc) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_twofa_send_json(r, status,
                                   "{\"step\":\"verify\",\"csrf\":%V}", &jc);
    }

    ngx_memzero(vars, sizeof(vars));

    vars[NGX_HTTP_TWOFA_V_USER] = pg->user;
    vars[NGX_HTTP_TWOFA_V_ORG] = pg->org;
    vars[NGX_HTTP_TWOFA_V_CSRF] = pg->csrf;
    vars[NGX_HTTP_TWOFA_V_ERROR] = pg->error;
    vars[NGX_HTTP_TWOFA_V_RETURN] = pg->return_to;

    if (ngx_http_twofa_page_url(r, "verify",
                                &vars[NGX_HTTP_TWOFA_V_ACTION])
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&title, "Two-factor authentication");

    return ngx_http_twofa_render(r, tscf->templates->verify, &title, vars,
                                 status);
}


static ngx_int_t
ngx_http_twofa_show_recovery(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    u_char                     *p;
    ngx_str_t                   vars[NGX_HTTP_TWOFA_V_COUNT], title, items;
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

    ngx_memzero(vars, sizeof(vars));

    vars[NGX_HTTP_TWOFA_V_USER] = pg->user;
    vars[NGX_HTTP_TWOFA_V_ORG] = pg->org;
    vars[NGX_HTTP_TWOFA_V_CSRF] = pg->csrf;
    vars[NGX_HTTP_TWOFA_V_RECOVERY_ITEMS] = items;
    vars[NGX_HTTP_TWOFA_V_ACTION] = url;

    ngx_str_set(&title, "Recovery codes");

    return ngx_http_twofa_render(r, tscf->templates->recovery, &title, vars,
                                 NGX_HTTP_OK);
}


static ngx_int_t
ngx_http_twofa_show_settings(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    ngx_uint_t status)
{
    u_char                     *p;
    ngx_tm_t                    tm;
    ngx_str_t                   vars[NGX_HTTP_TWOFA_V_COUNT], title, jc;
    ngx_http_twofa_srv_conf_t  *tscf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    if (pg->json) {
        if (ngx_http_twofa_json_string(r->pool, &pg->csrf, &jc) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (status == NGX_HTTP_UNAUTHORIZED) {
            return ngx_http_twofa_send_json(r, status,
                                       "{\"error\":\"invalid_code\"}");
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

    ngx_memzero(vars, sizeof(vars));

    vars[NGX_HTTP_TWOFA_V_USER] = pg->user;
    vars[NGX_HTTP_TWOFA_V_ORG] = pg->org;
    vars[NGX_HTTP_TWOFA_V_CSRF] = pg->csrf;
    vars[NGX_HTTP_TWOFA_V_ERROR] = pg->error;
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

    ngx_str_set(&title, "Two-factor settings");

    return ngx_http_twofa_render(r, tscf->templates->settings, &title, vars,
                                 status);
}


static ngx_int_t
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


static ngx_int_t
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


/*
 * A hold sealed with a key this edge does not have (a fleet in the middle
 * of a key rollout): 409, nothing used up; another edge, or this one once
 * it has the key, can finish the sign-in.
 */

static ngx_int_t
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


static ngx_int_t
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


/* ---- templates -------------------------------------------------------- */


static ngx_int_t
ngx_http_twofa_render(ngx_http_request_t *r, ngx_array_t *tpl,
    ngx_str_t *title, ngx_str_t *vars, ngx_uint_t status)
{
    ngx_str_t                   content, page;
    ngx_http_twofa_srv_conf_t  *tscf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    vars[NGX_HTTP_TWOFA_V_ISSUER] = tscf->issuer;
    vars[NGX_HTTP_TWOFA_V_TITLE] = *title;

    if (ngx_http_twofa_render_parts(r->pool, tpl, vars, &content) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    vars[NGX_HTTP_TWOFA_V_CONTENT] = content;

    if (ngx_http_twofa_render_parts(r->pool, tscf->templates->layout, vars,
                                    &page)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_twofa_send(r, status, 0, &page);
}


static size_t
ngx_http_twofa_escaped_len(ngx_str_t *s)
{
    u_char  *p;
    size_t   len;

    len = 0;

    for (p = s->data; p < s->data + s->len; p++) {
        switch (*p) {
        case '&': len += 5; break;
        case '<': case '>': len += 4; break;
        case '"': case '\'': len += 6; break;
        default: len++;
        }
    }

    return len;
}


/* Two passes over the parts: the length, then the bytes. */

static ngx_int_t
ngx_http_twofa_render_parts(ngx_pool_t *pool, ngx_array_t *parts,
    ngx_str_t *vars, ngx_str_t *out)
{
    u_char                 *p;
    size_t                  len;
    ngx_str_t               esc;
    ngx_uint_t              i, pass, skip, depth;
    ngx_http_twofa_part_t  *part;

    part = parts->elts;
    len = 0;
    p = NULL;

    for (pass = 0; pass < 2; pass++) {

        if (pass == 1) {
            out->data = ngx_pnalloc(pool, len + 1);
            if (out->data == NULL) {
                return NGX_ERROR;
            }

            p = out->data;
        }

        /* skip > 0: inside a section that is off, `skip` levels deep */
        skip = 0;
        depth = 0;

        for (i = 0; i < parts->nelts; i++) {

            switch (part[i].type) {

            case NGX_HTTP_TWOFA_PART_IF:
            case NGX_HTTP_TWOFA_PART_UNLESS:
                depth++;

                if (skip == 0
                    && ((vars[part[i].var].len == 0)
                        == (part[i].type == NGX_HTTP_TWOFA_PART_IF)))
                {
                    skip = depth;
                }

                continue;

            case NGX_HTTP_TWOFA_PART_END:
                if (skip == depth) {
                    skip = 0;
                }

                depth--;
                continue;

            default:
                break;
            }

            if (skip) {
                continue;
            }

            switch (part[i].type) {

            case NGX_HTTP_TWOFA_PART_TEXT:
                if (pass == 0) {
                    len += part[i].text.len;

                } else {
                    p = ngx_cpymem(p, part[i].text.data, part[i].text.len);
                }

                break;

            case NGX_HTTP_TWOFA_PART_RAW:
                if (pass == 0) {
                    len += vars[part[i].var].len;

                } else {
                    p = ngx_cpymem(p, vars[part[i].var].data,
                                   vars[part[i].var].len);
                }

                break;

            default: /* NGX_HTTP_TWOFA_PART_ESCAPED */
                if (pass == 0) {
                    len += ngx_http_twofa_escaped_len(&vars[part[i].var]);

                } else {
                    if (ngx_http_twofa_html_escape(pool, &vars[part[i].var],
                                                   &esc)
                        != NGX_OK)
                    {
                        return NGX_ERROR;
                    }

                    p = ngx_cpymem(p, esc.data, esc.len);
                }

                break;
            }
        }
    }

    out->len = p - out->data;

    return NGX_OK;
}


/*
 * {{name}} escaped, {{{name}}} raw (only for HTML the module builds:
 * content, qr, recovery_items), {{#name}}..{{/name}} when set,
 * {{^name}}..{{/name}} when not.  Unknown names and unbalanced sections
 * fail the configuration, naming the template.
 */

static ngx_array_t *
ngx_http_twofa_tpl_compile(ngx_conf_t *cf, ngx_str_t *name, ngx_str_t *src)
{
    u_char                 *p, *end, *open, *close, *n;
    size_t                  nlen;
    ngx_uint_t              i, raw, depth, type;
    ngx_uint_t              stack[NGX_HTTP_TWOFA_TPL_DEPTH];
    ngx_array_t            *parts;
    ngx_http_twofa_part_t  *part;

    parts = ngx_array_create(cf->pool, 32, sizeof(ngx_http_twofa_part_t));
    if (parts == NULL) {
        return NULL;
    }

    p = src->data;
    end = p + src->len;
    depth = 0;

    while (p < end) {

        open = ngx_strlcasestrn(p, end, (u_char *) "{{", 2 - 1);

        if (open == NULL) {
            open = end;
        }

        if (open > p) {
            part = ngx_array_push(parts);
            if (part == NULL) {
                return NULL;
            }

            part->type = NGX_HTTP_TWOFA_PART_TEXT;
            part->var = 0;
            part->text.data = p;
            part->text.len = open - p;
        }

        if (open == end) {
            break;
        }

        raw = (open + 2 < end && open[2] == '{');
        n = open + 2 + raw;

        close = ngx_strlcasestrn(n, end, (u_char *) (raw ? "}}}" : "}}"),
                                 (raw ? 3 : 2) - 1);
        if (close == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "template \"%V\": \"{{\" is not closed",
                               name);
            return NULL;
        }

        type = raw ? NGX_HTTP_TWOFA_PART_RAW : NGX_HTTP_TWOFA_PART_ESCAPED;

        if (!raw && n < close) {
            if (*n == '#') {
                type = NGX_HTTP_TWOFA_PART_IF;
                n++;

            } else if (*n == '^') {
                type = NGX_HTTP_TWOFA_PART_UNLESS;
                n++;

            } else if (*n == '/') {
                type = NGX_HTTP_TWOFA_PART_END;
                n++;
            }
        }

        nlen = close - n;

        for (i = 0; i < NGX_HTTP_TWOFA_V_COUNT; i++) {
            if (ngx_http_twofa_var_names[i].len == nlen
                && ngx_strncmp(ngx_http_twofa_var_names[i].data, n, nlen) == 0)
            {
                break;
            }
        }

        if (i == NGX_HTTP_TWOFA_V_COUNT) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "template \"%V\": unknown placeholder "
                               "\"%*s\"", name, nlen, n);
            return NULL;
        }

        if (raw && i != NGX_HTTP_TWOFA_V_CONTENT && i != NGX_HTTP_TWOFA_V_QR
            && i != NGX_HTTP_TWOFA_V_RECOVERY_ITEMS)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "template \"%V\": \"{{{%*s}}}\" would not be "
                               "escaped; use \"{{%*s}}\"", name, nlen, n,
                               nlen, n);
            return NULL;
        }

        if (type == NGX_HTTP_TWOFA_PART_IF
            || type == NGX_HTTP_TWOFA_PART_UNLESS)
        {
            if (depth == NGX_HTTP_TWOFA_TPL_DEPTH) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "template \"%V\": sections nest too "
                                   "deep", name);
                return NULL;
            }

            stack[depth++] = i;

        } else if (type == NGX_HTTP_TWOFA_PART_END) {
            if (depth == 0 || stack[depth - 1] != i) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "template \"%V\": \"{{/%*s}}\" closes no "
                                   "open section", name, nlen, n);
                return NULL;
            }

            depth--;
        }

        part = ngx_array_push(parts);
        if (part == NULL) {
            return NULL;
        }

        part->type = type;
        part->var = i;
        ngx_str_null(&part->text);

        p = close + (raw ? 3 : 2);
    }

    if (depth) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "template \"%V\": section \"%V\" is not closed",
                           name, &ngx_http_twofa_var_names[stack[depth - 1]]);
        return NULL;
    }

    return parts;
}


static ngx_http_twofa_templates_t *
ngx_http_twofa_tpl_load_dir(ngx_conf_t *cf, ngx_str_t *dir)
{
    u_char                      *p;
    ngx_file_info_t              fi;
    ngx_int_t                    rc;
    ngx_str_t                    file, src, directive;
    ngx_uint_t                   i;
    ngx_array_t                **slot;
    ngx_http_twofa_templates_t  *tpl;

    static struct {
        ngx_str_t      name;
        const char    *builtin;
        size_t         offset;
    } pages[] = {
        { ngx_string("layout.html"), ngx_http_twofa_default_layout,
          offsetof(ngx_http_twofa_templates_t, layout) },
        { ngx_string("enroll.html"), ngx_http_twofa_default_enroll,
          offsetof(ngx_http_twofa_templates_t, enroll) },
        { ngx_string("verify.html"), ngx_http_twofa_default_verify,
          offsetof(ngx_http_twofa_templates_t, verify) },
        { ngx_string("recovery.html"), ngx_http_twofa_default_recovery,
          offsetof(ngx_http_twofa_templates_t, recovery) },
        { ngx_string("settings.html"), ngx_http_twofa_default_settings,
          offsetof(ngx_http_twofa_templates_t, settings) },
        { ngx_string("message.html"), ngx_http_twofa_default_message,
          offsetof(ngx_http_twofa_templates_t, message) }
    };

    ngx_str_set(&directive, "twofa_templates");

    if (dir->len) {
        file = *dir;

        if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
            return NULL;
        }

        if (ngx_file_info(file.data, &fi) == NGX_FILE_ERROR
            || !ngx_is_dir(&fi))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                               "\"twofa_templates\" \"%V\" is not a "
                               "directory", &file);
            return NULL;
        }
    }

    tpl = ngx_pcalloc(cf->pool, sizeof(ngx_http_twofa_templates_t));
    if (tpl == NULL) {
        return NULL;
    }

    for (i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {

        rc = NGX_DECLINED;

        if (dir->len) {
            file.len = dir->len + 1 + pages[i].name.len;
            file.data = ngx_pnalloc(cf->pool, file.len + 1);
            if (file.data == NULL) {
                return NULL;
            }

            p = ngx_cpymem(file.data, dir->data, dir->len);
            *p++ = '/';
            p = ngx_cpymem(p, pages[i].name.data, pages[i].name.len);
            *p = '\0';

            rc = ngx_http_twofa_conf_read_file(cf, &directive, &file, 0,
                                               64 * 1024, 1, &src);
            if (rc == NGX_ERROR) {
                return NULL;
            }

        } else {
            file = pages[i].name;
        }

        if (rc == NGX_DECLINED) {
            /* no file of that name: the built-in page */
            src.data = (u_char *) pages[i].builtin;
            src.len = ngx_strlen(pages[i].builtin);
        }

        slot = (ngx_array_t **) ((char *) tpl + pages[i].offset);

        *slot = ngx_http_twofa_tpl_compile(cf, &file, &src);
        if (*slot == NULL) {
            return NULL;
        }
    }

    return tpl;
}


ngx_int_t
ngx_http_twofa_templates_load(ngx_conf_t *cf, ngx_http_twofa_srv_conf_t *conf,
    ngx_http_twofa_srv_conf_t *prev)
{
    if (prev->templates == NULL) {
        prev->templates = ngx_http_twofa_tpl_load_dir(cf, &prev->templates_dir);
        if (prev->templates == NULL) {
            return NGX_ERROR;
        }
    }

    if (conf->templates_dir.len == prev->templates_dir.len
        && ngx_strncmp(conf->templates_dir.data, prev->templates_dir.data,
                       conf->templates_dir.len) == 0)
    {
        conf->templates = prev->templates;
        return NGX_OK;
    }

    conf->templates = ngx_http_twofa_tpl_load_dir(cf, &conf->templates_dir);

    return conf->templates ? NGX_OK : NGX_ERROR;
}
