/*
 * twofa-edge: the admin JSON API, under a location with "twofa_admin":
 *
 *   GET    {prefix}orgs/{org}                   the org's policy
 *   PUT    {prefix}orgs/{org}                   {"require": true|false}
 *   GET    {prefix}orgs/{org}/users/{user}      enrolled? since? locked?
 *   DELETE {prefix}orgs/{org}/users/{user}/totp forces re-enrollment
 *   POST   {prefix}init                         marks a new deployment
 *   GET    {prefix}audit?org=&user=&since=&after=&limit=
 *                                                the audit trail, oldest first
 *
 * With twofa_admin_token_file, every request needs
 * "Authorization: Bearer TOKEN" (compared in constant time).  Every change
 * writes one audit line at "notice" to the error log, besides the
 * audit trail in Redis that the scripts write.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"
#include "twofa_ident.h"

#include <jansson.h>


#define NGX_HTTP_TWOFA_ADMIN_SEGMENTS  5


typedef enum {
    NGX_HTTP_TWOFA_ADMIN_ORG_GET = 0,
    NGX_HTTP_TWOFA_ADMIN_ORG_PUT,
    NGX_HTTP_TWOFA_ADMIN_USER_GET,
    NGX_HTTP_TWOFA_ADMIN_USER_RESET,
    NGX_HTTP_TWOFA_ADMIN_INIT,
    NGX_HTTP_TWOFA_ADMIN_AUDIT
} ngx_http_twofa_admin_op_e;


#define NGX_HTTP_TWOFA_AUDIT_LIMIT      100     /* entries, by default */
#define NGX_HTTP_TWOFA_AUDIT_LIMIT_MAX  1000


typedef struct {
    ngx_http_twofa_admin_op_e   op;
    const char                 *error;      /* why the route failed */
    const char                 *message;
    ngx_str_t                   org;
    ngx_str_t                   user;
    ngx_uint_t                  require;
    ngx_uint_t                  token;      /* authenticated by token */
    ngx_http_twofa_audit_query_t audit;     /* what GET audit asks */
} ngx_http_twofa_admin_t;


static ngx_int_t ngx_http_twofa_admin_route(ngx_http_request_t *r,
    ngx_http_twofa_admin_t *adm);
static ngx_int_t ngx_http_twofa_admin_segments(ngx_http_request_t *r,
    u_char **seg, size_t *len, ngx_uint_t *nseg);
static ngx_int_t ngx_http_twofa_admin_ident(ngx_http_request_t *r,
    ngx_str_t *value);
static ngx_int_t ngx_http_twofa_admin_auth(ngx_http_request_t *r,
    ngx_http_twofa_admin_t *adm);
static void ngx_http_twofa_admin_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_twofa_admin_parse(ngx_http_request_t *r,
    ngx_str_t *body, ngx_http_twofa_admin_t *adm, ngx_str_t *err);
static ngx_int_t ngx_http_twofa_admin_send(ngx_http_request_t *r,
    ngx_uint_t status, json_t *doc);
static void ngx_http_twofa_admin_start(ngx_http_request_t *r);
static void ngx_http_twofa_admin_reply(ngx_http_request_t *r,
    ngx_http_twofa_store_reply_t *reply);
static ngx_int_t ngx_http_twofa_admin_org(ngx_http_request_t *r,
    ngx_http_twofa_admin_t *adm, ngx_http_twofa_store_reply_t *reply);
static ngx_int_t ngx_http_twofa_admin_user(ngx_http_request_t *r,
    ngx_http_twofa_admin_t *adm, ngx_http_twofa_store_reply_t *reply);
static ngx_int_t ngx_http_twofa_admin_reset(ngx_http_request_t *r,
    ngx_http_twofa_admin_t *adm, ngx_http_twofa_store_reply_t *reply);
static ngx_int_t ngx_http_twofa_admin_init(ngx_http_request_t *r,
    ngx_http_twofa_admin_t *adm, ngx_http_twofa_store_reply_t *reply);
static ngx_int_t ngx_http_twofa_admin_audit_query(ngx_http_request_t *r,
    ngx_http_twofa_admin_t *adm);
static ngx_int_t ngx_http_twofa_admin_query_arg(ngx_http_request_t *r,
    const char *name, ngx_str_t *value);
static ngx_int_t ngx_http_twofa_admin_audit_read(ngx_http_request_t *r,
    ngx_http_twofa_store_reply_t *reply);
static json_t *ngx_http_twofa_admin_string(ngx_str_t *s);
static void ngx_http_twofa_admin_log_change(ngx_http_request_t *r,
    ngx_http_twofa_admin_t *adm, const char *what);
static ngx_int_t ngx_http_twofa_admin_no_state(ngx_http_request_t *r);
static ngx_int_t ngx_http_twofa_admin_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *error, const char *message);


ngx_int_t
ngx_http_twofa_admin_handler(ngx_http_request_t *r)
{
    ngx_int_t                rc;
    ngx_http_twofa_admin_t  *adm;

    adm = ngx_http_twofa_new_page(r, sizeof(ngx_http_twofa_admin_t));
    if (adm == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_twofa_admin_auth(r, adm);
    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        ngx_http_discard_request_body(r);
        return ngx_http_twofa_admin_error(r, NGX_HTTP_UNAUTHORIZED,
                                          "unauthorized",
                                          "a valid bearer token is needed");
    }

    rc = ngx_http_twofa_admin_route(r, adm);
    if (rc != NGX_OK) {
        ngx_http_discard_request_body(r);
        return ngx_http_twofa_admin_error(r, rc, adm->error, adm->message);
    }

    return ngx_http_twofa_with_body(r, adm->op == NGX_HTTP_TWOFA_ADMIN_ORG_PUT,
                                    NGX_HTTP_TWOFA_ADMIN_BODY_MAX,
                                    ngx_http_twofa_admin_body,
                                    ngx_http_twofa_admin_start);
}


static ngx_int_t
ngx_http_twofa_admin_auth(ngx_http_request_t *r, ngx_http_twofa_admin_t *adm)
{
    u_char                      a[TWOFA_MAC_SIZE], b[TWOFA_MAC_SIZE];
    ngx_str_t                   presented;
    ngx_table_elt_t            *h;
    ngx_http_twofa_loc_conf_t  *tlcf;

    static u_char  key[] = "twofa-edge admin token";

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twofa_module);

    if (tlcf->admin_token.len == 0) {
        return NGX_OK;
    }

    h = r->headers_in.authorization;

    if (h == NULL || h->value.len <= 7
        || ngx_strncasecmp(h->value.data, (u_char *) "Bearer ", 7) != 0)
    {
        return NGX_DECLINED;
    }

    presented.data = h->value.data + 7;
    presented.len = h->value.len - 7;

    /* MACs of both, so the comparison time tells nothing, not even length */

    if (twofa_hmac_sha256(key, sizeof(key) - 1, presented.data, presented.len,
                          a)
        != 0
        || twofa_hmac_sha256(key, sizeof(key) - 1, tlcf->admin_token.data,
                             tlcf->admin_token.len, b)
           != 0)
    {
        return NGX_ERROR;
    }

    if (!twofa_ct_equal(a, b, TWOFA_MAC_SIZE)) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "twofa admin: wrong bearer token");
        return NGX_DECLINED;
    }

    adm->token = 1;

    return NGX_OK;
}


/*
 * The path under the location, cut at '/', each segment percent-decoded
 * (into the pool): NGX_DECLINED when it is not under it, has more
 * segments than any resource, or a '%' not followed by two hex digits.
 *
 * The path is read as the client sent it, so that an identity may hold
 * a '/' ("%2F" in its segment); nginx's r->uri has it decoded already.
 * Only a request nginx has rewritten, or whose location prefix the
 * client spelled encoded, is cut from r->uri (a '/' in an identity then
 * cannot be addressed).
 */

static ngx_int_t
ngx_http_twofa_admin_segments(ngx_http_request_t *r, u_char **seg,
    size_t *len, ngx_uint_t *nseg)
{
    u_char                    *p, *end, *start, *q, *dst;
    ngx_int_t                  hi, lo;
    ngx_uint_t                 n, raw;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    raw = 0;
    p = r->uri.data;
    end = r->uri.data + r->uri.len;

    if (r->valid_unparsed_uri && r->unparsed_uri.len >= clcf->name.len
        && ngx_strncmp(r->unparsed_uri.data, clcf->name.data,
                       clcf->name.len)
           == 0)
    {
        raw = 1;
        p = r->unparsed_uri.data;
        end = ngx_strlchr(p, p + r->unparsed_uri.len, '?');

        if (end == NULL) {
            end = p + r->unparsed_uri.len;
        }

    } else if (r->uri.len < clcf->name.len
               || ngx_strncmp(r->uri.data, clcf->name.data, clcf->name.len)
                  != 0)
    {
        return NGX_DECLINED;
    }

    p += clcf->name.len;

    if (p < end && *p == '/') {
        p++;
    }

    for (n = 0; p < end && n < NGX_HTTP_TWOFA_ADMIN_SEGMENTS; n++) {
        start = p;

        while (p < end && *p != '/') {
            p++;
        }

        seg[n] = start;
        len[n] = p - start;

        if (raw && ngx_strlchr(start, p, '%') != NULL) {

            /* decoded, it is never longer */

            dst = ngx_pnalloc(r->pool, p - start);
            if (dst == NULL) {
                return NGX_ERROR;
            }

            seg[n] = dst;

            for (q = start; q < p; q++) {
                if (*q != '%') {
                    *dst++ = *q;
                    continue;
                }

                hi = (p - q > 2) ? ngx_hextoi(q + 1, 1) : NGX_ERROR;
                lo = (p - q > 2) ? ngx_hextoi(q + 2, 1) : NGX_ERROR;

                if (hi == NGX_ERROR || lo == NGX_ERROR) {
                    return NGX_DECLINED;
                }

                *dst++ = (u_char) (hi << 4 | lo);
                q += 2;
            }

            len[n] = dst - seg[n];
        }

        if (p < end) {
            p++;
        }
    }

    *nseg = n;

    return (p == end) ? NGX_OK : NGX_DECLINED;
}


/*
 * An org or user of a path or query, in the spelling the module keeps
 * (NFKC, white space at the ends removed, as twofa_ident_canonical()
 * without case folding: an identity typed decomposed still names the
 * one a login stored), in the pool.  NGX_DECLINED: not an identity.
 */

static ngx_int_t
ngx_http_twofa_admin_ident(ngx_http_request_t *r, ngx_str_t *value)
{
    u_char                *p;
    size_t                 len;
    twofa_ident_status_t   st;
    u_char                 out[TWOFA_ID_MAX + 1];

    st = twofa_ident_canonical((const char *) value->data, value->len, 0,
                               (char *) out, sizeof(out), &len);

    if (st == TWOFA_IDENT_NO_MEMORY) {
        return NGX_ERROR;
    }

    if (st != TWOFA_IDENT_OK || !twofa_ident_valid((const char *) out, len))
    {
        return NGX_DECLINED;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, out, len);
    value->data = p;
    value->len = len;

    return NGX_OK;
}


/*
 * init, audit, orgs/{org}, orgs/{org}/users/{user},
 * orgs/{org}/users/{user}/totp
 */

static ngx_int_t
ngx_http_twofa_admin_route(ngx_http_request_t *r, ngx_http_twofa_admin_t *adm)
{
    u_char      *seg[NGX_HTTP_TWOFA_ADMIN_SEGMENTS];
    size_t       len[NGX_HTTP_TWOFA_ADMIN_SEGMENTS];
    ngx_int_t    rc;
    ngx_str_t    allow;
    ngx_uint_t   n;

    adm->error = "not_found";
    adm->message = "no such resource";

    switch (ngx_http_twofa_admin_segments(r, seg, len, &n)) {
    case NGX_OK:
        break;
    case NGX_ERROR:
        adm->error = "internal";
        adm->message = "out of memory";
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    default:
        return NGX_HTTP_NOT_FOUND;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa admin: %ui segments, method %ui", n, r->method);

    if (n == 1 && len[0] == 4
        && ngx_strncmp(seg[0], "init", 4) == 0)
    {
        if (r->method == NGX_HTTP_POST) {
            adm->op = NGX_HTTP_TWOFA_ADMIN_INIT;
            return NGX_OK;
        }

        ngx_str_set(&allow, "POST");
        goto not_allowed;
    }

    if (n == 1 && len[0] == 5
        && ngx_strncmp(seg[0], "audit", 5) == 0)
    {
        if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
            adm->op = NGX_HTTP_TWOFA_ADMIN_AUDIT;
            adm->error = "bad_request";
            return ngx_http_twofa_admin_audit_query(r, adm);
        }

        ngx_str_set(&allow, "GET, HEAD");
        goto not_allowed;
    }

    if (n < 2 || n == 3 || len[0] != 4
        || ngx_strncmp(seg[0], "orgs", 4) != 0
        || (n >= 4 && (len[2] != 5 || ngx_strncmp(seg[2], "users", 5) != 0))
        || (n == 5 && (len[4] != 4 || ngx_strncmp(seg[4], "totp", 4) != 0)))
    {
        return NGX_HTTP_NOT_FOUND;
    }

    adm->error = "bad_request";

    adm->org.data = seg[1];
    adm->org.len = len[1];

    rc = ngx_http_twofa_admin_ident(r, &adm->org);
    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        adm->message = "an org name is 1 to 128 bytes of UTF-8 without "
                       "control characters, percent-encoded in the path";
        return NGX_HTTP_BAD_REQUEST;
    }

    if (n >= 4) {
        adm->user.data = seg[3];
        adm->user.len = len[3];

        rc = ngx_http_twofa_admin_ident(r, &adm->user);
        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc != NGX_OK) {
            adm->message = "a user name is 1 to 128 bytes of UTF-8 "
                           "without control characters, percent-encoded "
                           "in the path";
            return NGX_HTTP_BAD_REQUEST;
        }
    }

    switch (n) {

    case 2:
        if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
            adm->op = NGX_HTTP_TWOFA_ADMIN_ORG_GET;
            return NGX_OK;
        }

        if (r->method == NGX_HTTP_PUT) {
            adm->op = NGX_HTTP_TWOFA_ADMIN_ORG_PUT;
            return NGX_OK;
        }

        ngx_str_set(&allow, "GET, HEAD, PUT");
        break;

    case 4:
        if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
            adm->op = NGX_HTTP_TWOFA_ADMIN_USER_GET;
            return NGX_OK;
        }

        ngx_str_set(&allow, "GET, HEAD");
        break;

    default: /* 5 */
        if (r->method == NGX_HTTP_DELETE) {
            adm->op = NGX_HTTP_TWOFA_ADMIN_USER_RESET;
            return NGX_OK;
        }

        ngx_str_set(&allow, "DELETE");
        break;
    }

not_allowed:

    if (ngx_http_twofa_push_header(r, "Allow", &allow) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    adm->error = "method_not_allowed";
    adm->message = "method not allowed here";

    return NGX_HTTP_NOT_ALLOWED;
}


static void
ngx_http_twofa_admin_body(ngx_http_request_t *r)
{
    ngx_int_t                rc;
    ngx_str_t                err;
    ngx_http_twofa_ctx_t    *ctx;
    ngx_http_twofa_admin_t  *adm;

    ctx = ngx_http_twofa_get_ctx(r);
    adm = ctx->page;

    rc = ngx_http_twofa_body(r);

    if (rc == NGX_DECLINED) {
        ngx_http_finalize_request(r,
                     ngx_http_twofa_admin_error(r,
                                        NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                        "too_large", "the body is too large"));
        return;
    }

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ngx_http_twofa_admin_parse(r, &ctx->body, adm, &err) != NGX_OK) {
        ngx_http_finalize_request(r,
                     ngx_http_twofa_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                                "bad_request",
                                                (const char *) err.data));
        return;
    }

    ngx_http_twofa_admin_start(r);
}


/*
 * The PUT body: exactly one object with one member, "require", whose
 * value is true or false, parsed strictly by jansson (a member given twice
 * is refused).  Anything else is refused with the reason.
 */

static ngx_int_t
ngx_http_twofa_admin_parse(ngx_http_request_t *r, ngx_str_t *body,
    ngx_http_twofa_admin_t *adm, ngx_str_t *err)
{
    u_char        *p;
    json_t        *root, *v;
    ngx_int_t      rc;
    const char    *key;
    json_error_t   e;

    for (p = body->data; p < body->data + body->len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            break;
        }
    }

    if (p == body->data + body->len || *p != '{') {
        ngx_str_set(err, "the body must be a JSON object");
        return NGX_ERROR;
    }

    root = json_loadb((const char *) body->data, body->len,
                      JSON_REJECT_DUPLICATES, &e);
    if (root == NULL) {
        err->data = ngx_pnalloc(r->pool, sizeof(e.text) + 32);
        if (err->data == NULL) {
            return NGX_ERROR;
        }

        err->len = ngx_sprintf(err->data, "invalid JSON: %s%Z", e.text)
                   - err->data - 1;
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    json_object_foreach(root, key, v) {
        if (ngx_strcmp(key, "require") != 0) {
            err->data = ngx_pnalloc(r->pool, 64);
            if (err->data == NULL) {
                goto done;
            }

            err->len = ngx_sprintf(err->data, "unknown field \"%*s\"%Z",
                                   ngx_min(ngx_strlen(key), 32), key)
                       - err->data - 1;
            goto done;
        }
    }

    v = json_object_get(root, "require");

    if (v == NULL) {
        ngx_str_set(err, "field \"require\" is missing");
        goto done;
    }

    if (!json_is_boolean(v)) {
        ngx_str_set(err, "\"require\" must be true or false");
        goto done;
    }

    adm->require = json_is_true(v);
    rc = NGX_OK;

done:

    json_decref(root);

    return rc;
}


/*
 * A JSON document made by jansson, sent with the pages' headers.  The
 * caller's reference is taken (freed here), as json_pack's "o" does.
 */

static ngx_int_t
ngx_http_twofa_admin_send(ngx_http_request_t *r, ngx_uint_t status,
    json_t *doc)
{
    char       *text;
    ngx_str_t   body;

    if (doc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);

    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.len = ngx_strlen(text);
    body.data = ngx_pnalloc(r->pool, body.len);

    if (body.data == NULL) {
        free(text);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(body.data, text, body.len);
    free(text);

    return ngx_http_twofa_send(r, status, 1, &body);
}


static void
ngx_http_twofa_admin_start(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_str_t                      by;
    ngx_http_twofa_ctx_t          *ctx;
    ngx_http_twofa_admin_t        *adm;
    ngx_http_twofa_main_conf_t    *tmcf;
    ngx_http_twofa_state_query_t   q;

    ctx = ngx_http_twofa_get_ctx(r);
    adm = ctx->page;

    ctx->org = adm->org;
    ctx->user = adm->user;

    if (adm->token) {
        ngx_str_set(&ctx->actor, "admin-token");

    } else {
        ngx_str_set(&ctx->actor, "admin-api");
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa admin: op %d org:\"%V\" user:\"%V\"",
                   (int) adm->op, &adm->org, &adm->user);

    /* a cluster keeps these per org's slot: no one place to ask */

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_twofa_module);

    if (tmcf->cluster
        && (adm->op == NGX_HTTP_TWOFA_ADMIN_INIT
            || (adm->op == NGX_HTTP_TWOFA_ADMIN_AUDIT
                && adm->audit.org.len == 0)))
    {
        ngx_http_finalize_request(r,
                     ngx_http_twofa_admin_error(r, NGX_HTTP_NOT_IMPLEMENTED,
                         "cluster", "with a Redis Cluster, init is "
                         "twofa-admin's and the audit trail is read per org "
                         "(org=)"));
        return;
    }

    switch (adm->op) {

    case NGX_HTTP_TWOFA_ADMIN_ORG_GET:
        rc = ngx_http_twofa_store_org_get(r, &adm->org,
                                          ngx_http_twofa_admin_reply);
        break;

    case NGX_HTTP_TWOFA_ADMIN_ORG_PUT:
        rc = ngx_http_twofa_store_org_set(r, &adm->org, adm->require,
                                          ngx_http_twofa_admin_reply);
        break;

    case NGX_HTTP_TWOFA_ADMIN_USER_GET:
        ngx_memzero(&q, sizeof(ngx_http_twofa_state_query_t));
        q.org = adm->org;
        q.user = adm->user;
        rc = ngx_http_twofa_store_state(r, &q, ngx_http_twofa_admin_reply);
        break;

    case NGX_HTTP_TWOFA_ADMIN_INIT:
        by.data = (u_char *) (adm->token ? "admin-token" : "admin-api");
        by.len = ngx_strlen(by.data);
        rc = ngx_http_twofa_store_init(r, &by, ngx_http_twofa_admin_reply);
        break;

    case NGX_HTTP_TWOFA_ADMIN_USER_RESET:
        rc = ngx_http_twofa_store_user_reset(r, &adm->org, &adm->user,
                                             ngx_http_twofa_admin_reply);
        break;

    case NGX_HTTP_TWOFA_ADMIN_AUDIT:
        rc = ngx_http_twofa_store_audit_read(r, &adm->audit,
                                             ngx_http_twofa_admin_reply);
        break;

    default:
        rc = NGX_ERROR;
        break;
    }

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r,
                     ngx_http_twofa_admin_error(r,
                                            NGX_HTTP_SERVICE_UNAVAILABLE,
                                            "unavailable",
                                            "redis is not reachable"));
    }
}


/*
 * Every store reply of the admin API comes here: no answer (503) and a
 * Redis without its data (409) alike, then the answer of the operation.
 */

static void
ngx_http_twofa_admin_reply(ngx_http_request_t *r,
    ngx_http_twofa_store_reply_t *reply)
{
    ngx_int_t                rc;
    ngx_http_twofa_ctx_t    *ctx;
    ngx_http_twofa_admin_t  *adm;

    ctx = ngx_http_twofa_get_ctx(r);
    adm = ctx->page;

    if (reply->rc != NGX_OK) {
        rc = ngx_http_twofa_admin_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "unavailable",
                                        "redis gave no answer");

    } else if (reply->outcome == NGX_HTTP_TWOFA_NO_STATE) {
        rc = ngx_http_twofa_admin_no_state(r);

    } else {
        switch (adm->op) {

        case NGX_HTTP_TWOFA_ADMIN_ORG_GET:
        case NGX_HTTP_TWOFA_ADMIN_ORG_PUT:
            rc = ngx_http_twofa_admin_org(r, adm, reply);
            break;

        case NGX_HTTP_TWOFA_ADMIN_USER_GET:
            rc = ngx_http_twofa_admin_user(r, adm, reply);
            break;

        case NGX_HTTP_TWOFA_ADMIN_USER_RESET:
            rc = ngx_http_twofa_admin_reset(r, adm, reply);
            break;

        case NGX_HTTP_TWOFA_ADMIN_AUDIT:
            rc = ngx_http_twofa_admin_audit_read(r, reply);
            break;

        default: /* NGX_HTTP_TWOFA_ADMIN_INIT */
            rc = ngx_http_twofa_admin_init(r, adm, reply);
            break;
        }
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_twofa_admin_org(ngx_http_request_t *r, ngx_http_twofa_admin_t *adm,
    ngx_http_twofa_store_reply_t *reply)
{
    if (adm->op == NGX_HTTP_TWOFA_ADMIN_ORG_PUT) {
        ngx_http_twofa_admin_log_change(r, adm, adm->require
                                           ? "org require on"
                                           : "org require off");
    }

    return ngx_http_twofa_admin_send(r, NGX_HTTP_OK,
             json_pack("{s:s%,s:b,s:I}",
                       "org", adm->org.data, adm->org.len,
                       "require", (int) reply->state.require,
                       "updated", (json_int_t) reply->state.updated));
}


static ngx_int_t
ngx_http_twofa_admin_user(ngx_http_request_t *r, ngx_http_twofa_admin_t *adm,
    ngx_http_twofa_store_reply_t *reply)
{
    ngx_uint_t                  locked;
    ngx_http_twofa_state_t     *st;
    ngx_http_twofa_srv_conf_t  *tscf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    st = &reply->state;
    locked = (st->failures >= tscf->lockout);

    return ngx_http_twofa_admin_send(r, NGX_HTTP_OK,
             json_pack("{s:s%,s:s%,s:b,s:I,s:b,s:b,s:I,s:I,s:I}",
                       "org", adm->org.data, adm->org.len,
                       "user", adm->user.data, adm->user.len,
                       "enrolled", (int) st->enabled,
                       "enrolled_at", (json_int_t)
                           (st->enabled ? st->enrolled_at : 0),
                       "required", (int) st->require,
                       "locked", (int) locked,
                       "failures", (json_int_t) st->failures,
                       "locked_for", (json_int_t)
                           (locked ? (st->fail_ttl + 999) / 1000 : 0),
                       "recovery_left", (json_int_t) st->recovery_left));
}


static ngx_int_t
ngx_http_twofa_admin_reset(ngx_http_request_t *r, ngx_http_twofa_admin_t *adm,
    ngx_http_twofa_store_reply_t *reply)
{
    ngx_http_twofa_admin_log_change(r, adm, "user reset");

    return ngx_http_twofa_admin_send(r, NGX_HTTP_OK,
             json_pack("{s:s%,s:s%,s:b,s:b}",
                       "org", adm->org.data, adm->org.len,
                       "user", adm->user.data, adm->user.len,
                       "reset", 1, "existed", (int) reply->existed));
}


static ngx_int_t
ngx_http_twofa_admin_init(ngx_http_request_t *r, ngx_http_twofa_admin_t *adm,
    ngx_http_twofa_store_reply_t *reply)
{
    if (reply->created) {
        ngx_http_twofa_admin_log_change(r, adm, "init");
    }

    return ngx_http_twofa_admin_send(r, NGX_HTTP_OK,
             json_pack("{s:b,s:b}", "initialised", 1,
                       "created", (int) reply->created));
}


/*
 * org=, user=: only their entries; since=: unix seconds, entries from
 * then on; after=: an entry id ("next" of the page before), entries
 * after it; limit=: 1 to 1000 entries (100).
 */

static ngx_int_t
ngx_http_twofa_admin_audit_query(ngx_http_request_t *r,
    ngx_http_twofa_admin_t *adm)
{
    u_char                        *p;
    ngx_int_t                      n, rc;
    ngx_str_t                      since, after, limit, *filter;
    ngx_uint_t                     i;
    ngx_http_twofa_audit_query_t  *q;

    q = &adm->audit;
    q->limit = NGX_HTTP_TWOFA_AUDIT_LIMIT;
    ngx_str_set(&q->from, "-");

    if (ngx_http_twofa_admin_query_arg(r, "org", &q->org) != NGX_OK
        || ngx_http_twofa_admin_query_arg(r, "user", &q->user) != NGX_OK
        || ngx_http_twofa_admin_query_arg(r, "since", &since) != NGX_OK
        || ngx_http_twofa_admin_query_arg(r, "after", &after) != NGX_OK
        || ngx_http_twofa_admin_query_arg(r, "limit", &limit) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < 2; i++) {
        filter = i ? &q->user : &q->org;

        rc = filter->len ? ngx_http_twofa_admin_ident(r, filter) : NGX_OK;
        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc != NGX_OK) {
            adm->message = i ? "user= is 1 to 128 bytes of UTF-8 without "
                               "control characters"
                             : "org= is 1 to 128 bytes of UTF-8 without "
                               "control characters";
            return NGX_HTTP_BAD_REQUEST;
        }
    }

    if (limit.len) {
        n = ngx_atoi(limit.data, limit.len);

        if (n < 1 || n > NGX_HTTP_TWOFA_AUDIT_LIMIT_MAX) {
            adm->message = "limit= is a number from 1 to 1000";
            return NGX_HTTP_BAD_REQUEST;
        }

        q->limit = (ngx_uint_t) n;
    }

    if (since.len && after.len) {
        adm->message = "since= and after= do not go together";
        return NGX_HTTP_BAD_REQUEST;
    }

    if (since.len) {
        n = ngx_atoi(since.data, since.len);

        if (n == NGX_ERROR || n > 9999999999) {
            adm->message = "since= is a time in unix seconds";
            return NGX_HTTP_BAD_REQUEST;
        }

        q->from.data = ngx_pnalloc(r->pool, NGX_INT64_LEN + 4);
        if (q->from.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        q->from.len = ngx_sprintf(q->from.data, "%i000-0", n)
                      - q->from.data;
    }

    if (after.len) {
        /* a stream id: digits "-" digits */

        p = ngx_strlchr(after.data, after.data + after.len, '-');

        if (p == NULL || p == after.data || p == after.data + after.len - 1
            || after.len > 41
            || ngx_atoi(after.data, p - after.data) == NGX_ERROR
            || ngx_atoi(p + 1, after.data + after.len - p - 1) == NGX_ERROR)
        {
            adm->message = "after= is an entry id, as \"next\" gives";
            return NGX_HTTP_BAD_REQUEST;
        }

        q->from.data = ngx_pnalloc(r->pool, after.len + 1);
        if (q->from.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        q->from.data[0] = '(';
        ngx_memcpy(q->from.data + 1, after.data, after.len);
        q->from.len = after.len + 1;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa admin: audit from \"%V\" org:\"%V\" user:\"%V\" "
                   "limit:%ui", &q->from, &q->org, &q->user, q->limit);

    return NGX_OK;
}


/* A query argument, unescaped; empty when absent. */

static ngx_int_t
ngx_http_twofa_admin_query_arg(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    u_char     *dst, *src;
    ngx_str_t   raw;

    ngx_str_null(value);

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &raw) != NGX_OK
        || raw.len == 0)
    {
        return NGX_OK;
    }

    value->data = ngx_pnalloc(r->pool, raw.len);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    dst = value->data;
    src = raw.data;

    ngx_unescape_uri(&dst, &src, raw.len, NGX_UNESCAPE_URI);

    value->len = dst - value->data;

    return NGX_OK;
}


/*
 * {"entries": [{id, time, event, org, user, actor, client, edge}...],
 *  "next": the id to ask after= for, null at the end of the trail}
 */

static ngx_int_t
ngx_http_twofa_admin_audit_read(ngx_http_request_t *r,
    ngx_http_twofa_store_reply_t *reply)
{
    json_t                        *entries, *entry, *next;
    ngx_int_t                      t;
    ngx_uint_t                     i;
    ngx_http_twofa_audit_entry_t  *e;

    entries = json_array();
    if (entries == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    e = reply->audit->elts;

    for (i = 0; i < reply->audit->nelts; i++) {
        t = ngx_atoi(e[i].time.data, e[i].time.len);

        entry = json_pack("{s:o,s:I,s:o,s:o,s:o,s:o,s:o,s:o}",
                          "id", ngx_http_twofa_admin_string(&e[i].id),
                          "time", (json_int_t) (t == NGX_ERROR ? 0 : t),
                          "event", ngx_http_twofa_admin_string(&e[i].event),
                          "org", ngx_http_twofa_admin_string(&e[i].org),
                          "user", ngx_http_twofa_admin_string(&e[i].user),
                          "actor", ngx_http_twofa_admin_string(&e[i].actor),
                          "client",
                          ngx_http_twofa_admin_string(&e[i].client),
                          "edge", ngx_http_twofa_admin_string(&e[i].edge));

        if (entry == NULL || json_array_append_new(entries, entry) != 0) {
            json_decref(entries);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    next = reply->audit_last.len
           ? ngx_http_twofa_admin_string(&reply->audit_last) : json_null();

    return ngx_http_twofa_admin_send(r, NGX_HTTP_OK,
             json_pack("{s:o,s:o*}", "entries", entries, "next", next));
}


/* Any bytes Redis holds, as a JSON string (not valid UTF-8: NULL). */

static json_t *
ngx_http_twofa_admin_string(ngx_str_t *s)
{
    return json_stringn(s->len ? (const char *) s->data : "", s->len);
}


/* Redis lost its data (or was never initialised): nothing is changed. */

static ngx_int_t
ngx_http_twofa_admin_no_state(ngx_http_request_t *r)
{
    ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                  "twofa admin: redis holds no twofa state (no deployment "
                  "marker): restore its data or initialise it first");

    return ngx_http_twofa_admin_error(r, NGX_HTTP_CONFLICT, "no_state",
                                      "redis holds no twofa state: restore "
                                      "its data, or initialise it (POST "
                                      "init, or twofa-admin init)");
}


/* One line per change: what, on whom, by whom, from where (and when). */

static void
ngx_http_twofa_admin_log_change(ngx_http_request_t *r,
    ngx_http_twofa_admin_t *adm, const char *what)
{
    ngx_http_twofa_count(NGX_HTTP_TWOFA_M_ADMIN_CHANGES);

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "twofa audit: %s org=\"%V\"%s%V%s by=%s client=%V",
                  what, ngx_http_twofa_shown(r, &adm->org),
                  adm->user.len ? " user=\"" : "",
                  ngx_http_twofa_shown(r, &adm->user),
                  adm->user.len ? "\"" : "",
                  adm->token ? "admin-token" : "unauthenticated",
                  &r->connection->addr_text);
}


static ngx_int_t
ngx_http_twofa_admin_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error, const char *message)
{
    ngx_str_t  v;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa admin: %ui %s", status, error);

    if (status == NGX_HTTP_UNAUTHORIZED) {
        ngx_str_set(&v, "Bearer");
        if (ngx_http_twofa_push_header(r, "WWW-Authenticate", &v) == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_twofa_admin_send(r, status,
                                     json_pack("{s:s,s:s}", "error", error,
                                               "message", message));
}
