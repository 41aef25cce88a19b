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
 *
 * This file runs the operation and writes the answer; what the request
 * asks (path, query, body) is read in ngx_http_twofa_admin_request.c.
 * With a Redis Cluster, init and the audit trail of no org span every
 * slot: ngx_http_twofa_admin_cluster.c and ngx_http_twofa_admin_audit.c.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"

#include <jansson.h>


static ngx_int_t ngx_http_twofa_admin_auth(ngx_http_request_t *r,
    ngx_http_twofa_admin_t *adm);
static void ngx_http_twofa_admin_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_twofa_admin_send(ngx_http_request_t *r,
    ngx_uint_t status, json_t *doc);
static void ngx_http_twofa_admin_start(ngx_http_request_t *r);
static void ngx_http_twofa_admin_reply(ngx_http_request_t *r,
    ngx_http_twofa_store_reply_t *reply);

/* an operation's answer, from its store reply */
typedef ngx_int_t ngx_http_twofa_admin_answer_t(ngx_http_request_t *r,
    ngx_http_twofa_admin_t *adm, ngx_http_twofa_store_reply_t *reply);

static ngx_http_twofa_admin_answer_t  ngx_http_twofa_admin_org;
static ngx_http_twofa_admin_answer_t  ngx_http_twofa_admin_user;
static ngx_http_twofa_admin_answer_t  ngx_http_twofa_admin_reset;
static ngx_http_twofa_admin_answer_t  ngx_http_twofa_admin_init;
static ngx_http_twofa_admin_answer_t  ngx_http_twofa_admin_audit_read;

static json_t *ngx_http_twofa_admin_string(ngx_str_t *s);
static void ngx_http_twofa_admin_log_change(ngx_http_request_t *r,
    ngx_http_twofa_admin_t *adm, const char *what);
static ngx_int_t ngx_http_twofa_admin_no_state(ngx_http_request_t *r);
static ngx_int_t ngx_http_twofa_admin_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *error, const char *message);


/* by ngx_http_twofa_admin_op_e */
static ngx_http_twofa_admin_answer_t  *ngx_http_twofa_admin_answers[] = {
    ngx_http_twofa_admin_org,           /* ORG_GET */
    ngx_http_twofa_admin_org,           /* ORG_PUT */
    ngx_http_twofa_admin_user,          /* USER_GET */
    ngx_http_twofa_admin_reset,         /* USER_RESET */
    ngx_http_twofa_admin_init,          /* INIT */
    ngx_http_twofa_admin_audit_read     /* AUDIT */
};


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

    if (rc == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
        ngx_http_finalize_request(r,
                     ngx_http_twofa_admin_error(r,
                                        NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                        "too_large", "the body is too large"));
        return;
    }

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
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
    ngx_uint_t                     merged;
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

    /* a cluster's merged trail (after=ID@SLOT) and the others' ids */

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_twofa_module);

    merged = (tmcf->cluster && adm->op == NGX_HTTP_TWOFA_ADMIN_AUDIT
              && adm->audit.org.len == 0);

    if (adm->op == NGX_HTTP_TWOFA_ADMIN_AUDIT
        && (merged ? !adm->audit.cursor && adm->audit.from.data[0] == '('
                   : adm->audit.cursor))
    {
        ngx_http_finalize_request(r,
                     ngx_http_twofa_admin_error(r, NGX_HTTP_BAD_REQUEST,
                         "bad_request", "after= is an entry id, as \"next\" "
                         "gives"));
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
        rc = tmcf->cluster
             ? ngx_http_twofa_admin_cluster_init(r, &by,
                                                 ngx_http_twofa_admin_reply)
             : ngx_http_twofa_store_init(r, &by, ngx_http_twofa_admin_reply);
        break;

    case NGX_HTTP_TWOFA_ADMIN_USER_RESET:
        rc = ngx_http_twofa_store_user_reset(r, &adm->org, &adm->user,
                                             ngx_http_twofa_admin_reply);
        break;

    case NGX_HTTP_TWOFA_ADMIN_AUDIT:
        rc = merged
             ? ngx_http_twofa_admin_audit_merged(r, &adm->audit,
                                                 ngx_http_twofa_admin_reply)
             : ngx_http_twofa_store_audit_read(r, &adm->audit,
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
    ngx_http_twofa_admin_t  *adm;

    adm = ngx_http_twofa_page(r);

    if (reply->rc != NGX_OK) {
        rc = ngx_http_twofa_admin_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "unavailable",
                                        "redis gave no answer");

    } else if (reply->outcome == NGX_HTTP_TWOFA_NO_STATE) {
        rc = ngx_http_twofa_admin_no_state(r);

    } else {
        rc = ngx_http_twofa_admin_answers[adm->op](r, adm, reply);
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
 * {"entries": [{id, time, event, org, user, actor, client, edge}...],
 *  "next": the id to ask after= for, null at the end of the trail}
 */

static ngx_int_t
ngx_http_twofa_admin_audit_read(ngx_http_request_t *r,
    ngx_http_twofa_admin_t *adm, ngx_http_twofa_store_reply_t *reply)
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
