/*
 * What an admin API request asks, read and checked before anything
 * touches Redis: the resource from the path (each segment percent-decoded,
 * identities checked as the module checks them), the method it allows,
 * the audit trail's query, and the PUT body (jansson, strictly).  A
 * request that asks for nothing valid gets its status and the reason in
 * adm->error and adm->message; ngx_http_twofa_admin.c answers it.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"
#include "twofa_ident.h"

#include <jansson.h>


/* A resource of the admin API and one operation on it. */
typedef struct {
    const char                 *path[NGX_HTTP_TWOFA_ADMIN_SEGMENTS];
    ngx_uint_t                  methods;    /* NGX_HTTP_GET|... */
    ngx_http_twofa_admin_op_e   op;
    const char                 *allow;      /* the resource's methods */
} ngx_http_twofa_admin_route_t;


static ngx_uint_t ngx_http_twofa_admin_matches(
    ngx_http_twofa_admin_route_t *rt, u_char **seg, size_t *len,
    ngx_uint_t n);
static ngx_int_t ngx_http_twofa_admin_segments(ngx_http_request_t *r,
    u_char **seg, size_t *len, ngx_uint_t *nseg);
static ngx_int_t ngx_http_twofa_admin_ident(ngx_http_request_t *r,
    ngx_http_twofa_admin_t *adm, ngx_str_t *value, const char *refusal);
static ngx_int_t ngx_http_twofa_admin_audit_query(ngx_http_request_t *r,
    ngx_http_twofa_admin_t *adm);
static ngx_int_t ngx_http_twofa_admin_audit_after(ngx_http_request_t *r,
    ngx_http_twofa_admin_t *adm, ngx_str_t *id);
static ngx_int_t ngx_http_twofa_admin_query_arg(ngx_http_request_t *r,
    const char *name, ngx_str_t *value);


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
 * one a login stored), in the pool.  Not an identity: 400, and the
 * refusal is the message.
 */

static ngx_int_t
ngx_http_twofa_admin_ident(ngx_http_request_t *r, ngx_http_twofa_admin_t *adm,
    ngx_str_t *value, const char *refusal)
{
    u_char                *p;
    size_t                 len;
    twofa_ident_status_t   st;
    u_char                 out[TWOFA_ID_MAX + 1];

    st = twofa_ident_canonical((const char *) value->data, value->len, 0,
                               (char *) out, sizeof(out), &len);

    if (st == TWOFA_IDENT_NO_MEMORY) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (st != TWOFA_IDENT_OK || !twofa_ident_valid((const char *) out, len))
    {
        adm->message = refusal;
        return NGX_HTTP_BAD_REQUEST;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(p, out, len);
    value->data = p;
    value->len = len;

    return NGX_OK;
}


/*
 * The admin API's resources: a path of segments ("*" is an identity: the
 * org, then the user), the methods each operation takes, and what a 405
 * answers in Allow.  The first row whose path matches names the resource;
 * its rows are tried in order for the method.
 */

static ngx_http_twofa_admin_route_t  ngx_http_twofa_admin_routes[] = {

    { { "init", NULL }, NGX_HTTP_POST,
      NGX_HTTP_TWOFA_ADMIN_INIT, "POST" },

    { { "audit", NULL }, NGX_HTTP_GET|NGX_HTTP_HEAD,
      NGX_HTTP_TWOFA_ADMIN_AUDIT, "GET, HEAD" },

    { { "orgs", "*", NULL }, NGX_HTTP_GET|NGX_HTTP_HEAD,
      NGX_HTTP_TWOFA_ADMIN_ORG_GET, "GET, HEAD, PUT" },

    { { "orgs", "*", NULL }, NGX_HTTP_PUT,
      NGX_HTTP_TWOFA_ADMIN_ORG_PUT, "GET, HEAD, PUT" },

    { { "orgs", "*", "users", "*", NULL }, NGX_HTTP_GET|NGX_HTTP_HEAD,
      NGX_HTTP_TWOFA_ADMIN_USER_GET, "GET, HEAD" },

    { { "orgs", "*", "users", "*", "totp" }, NGX_HTTP_DELETE,
      NGX_HTTP_TWOFA_ADMIN_USER_RESET, "DELETE" }
};


ngx_int_t
ngx_http_twofa_admin_route(ngx_http_request_t *r, ngx_http_twofa_admin_t *adm)
{
    u_char                        *seg[NGX_HTTP_TWOFA_ADMIN_SEGMENTS];
    size_t                         len[NGX_HTTP_TWOFA_ADMIN_SEGMENTS];
    ngx_int_t                      rc;
    ngx_str_t                      allow, *id;
    ngx_uint_t                     n, i;
    ngx_http_twofa_admin_route_t  *rt, *last, *found;

    static const char  *refusal[2] = {
        "an org name is 1 to 128 bytes of UTF-8 without control "
        "characters, percent-encoded in the path",
        "a user name is 1 to 128 bytes of UTF-8 without control "
        "characters, percent-encoded in the path"
    };

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

    found = NULL;
    rt = ngx_http_twofa_admin_routes;
    last = rt + sizeof(ngx_http_twofa_admin_routes)
                / sizeof(ngx_http_twofa_admin_routes[0]);

    /* the resource's rows, in order, until one takes the method */

    for ( /* void */ ; rt < last; rt++) {

        if (!ngx_http_twofa_admin_matches(rt, seg, len, n)) {
            if (found) {
                break;
            }

            continue;
        }

        found = rt;

        if (r->method & rt->methods) {
            break;
        }
    }

    if (found == NULL) {
        return NGX_HTTP_NOT_FOUND;
    }

    if (!(r->method & found->methods)) {
        allow.data = (u_char *) found->allow;
        allow.len = ngx_strlen(found->allow);

        if (ngx_http_twofa_push_header(r, "Allow", &allow) == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        adm->error = "method_not_allowed";
        adm->message = "method not allowed here";

        return NGX_HTTP_NOT_ALLOWED;
    }

    adm->op = found->op;
    adm->error = "bad_request";

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa admin: operation %ui", (ngx_uint_t) adm->op);

    if (adm->op == NGX_HTTP_TWOFA_ADMIN_AUDIT) {
        return ngx_http_twofa_admin_audit_query(r, adm);
    }

    /* the org in segment 1, the user in segment 3 */

    for (i = 0; i < 2 && 1 + 2 * i < n; i++) {
        id = i ? &adm->user : &adm->org;
        id->data = seg[1 + 2 * i];
        id->len = len[1 + 2 * i];

        rc = ngx_http_twofa_admin_ident(r, adm, id, refusal[i]);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    return NGX_OK;
}


/* n segments of the path against a route's: "*" takes any one */

static ngx_uint_t
ngx_http_twofa_admin_matches(ngx_http_twofa_admin_route_t *rt, u_char **seg,
    size_t *len, ngx_uint_t n)
{
    size_t       plen;
    ngx_uint_t   i;
    const char  *want;

    for (i = 0; i < NGX_HTTP_TWOFA_ADMIN_SEGMENTS; i++) {
        want = rt->path[i];

        if (want == NULL || i == n) {
            return want == NULL && i == n;
        }

        if (want[0] == '*' && want[1] == '\0') {
            continue;
        }

        plen = ngx_strlen(want);

        if (len[i] != plen || ngx_strncmp(seg[i], want, plen) != 0) {
            return 0;
        }
    }

    return n == NGX_HTTP_TWOFA_ADMIN_SEGMENTS;
}


/*
 * The PUT body: exactly one object with one member, "require", whose
 * value is true or false, parsed strictly by jansson (a member given twice
 * is refused).  Anything else is refused with the reason.
 */

ngx_int_t
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
 * org=, user=: only their entries; since=: unix seconds, entries from
 * then on; after=: an entry id ("next" of the page before), entries
 * after it ("ms-seq", or "ms-seq@slot" for a cluster's merged trail: the
 * handler checks which fits); limit=: 1 to 1000 entries (100).
 */

static ngx_int_t
ngx_http_twofa_admin_audit_query(ngx_http_request_t *r,
    ngx_http_twofa_admin_t *adm)
{
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

        if (filter->len == 0) {
            continue;
        }

        rc = ngx_http_twofa_admin_ident(r, adm, filter,
                                        i ? "user= is 1 to 128 bytes of "
                                            "UTF-8 without control characters"
                                          : "org= is 1 to 128 bytes of "
                                            "UTF-8 without control "
                                            "characters");
        if (rc != NGX_OK) {
            return rc;
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
        rc = ngx_http_twofa_admin_audit_after(r, adm, &after);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa admin: audit from \"%V\" org:\"%V\" user:\"%V\" "
                   "limit:%ui", &q->from, &q->org, &q->user, q->limit);

    return NGX_OK;
}


/*
 * after=: an entry id ("ms-seq"), or a cluster's merged trail's
 * ("ms-seq@slot"), as "next" gave it; the trail resumes after it.
 */

static ngx_int_t
ngx_http_twofa_admin_audit_after(ngx_http_request_t *r,
    ngx_http_twofa_admin_t *adm, ngx_str_t *id)
{
    u_char                        *p;
    ngx_int_t                      n;
    ngx_str_t                      after;
    ngx_http_twofa_audit_query_t  *q;

    q = &adm->audit;
    after = *id;

    /* a cluster's merged trail: "@" and the slot of the entry's stream */

    p = ngx_strlchr(after.data, after.data + after.len, '@');

    if (p) {
        n = ngx_atoi(p + 1, after.data + after.len - p - 1);

        if (n == NGX_ERROR || n >= 16384) {
            adm->message = "after= is an entry id, as \"next\" gives";
            return NGX_HTTP_BAD_REQUEST;
        }

        q->cursor = 1;
        q->cursor_slot = (ngx_uint_t) n;
        after.len = p - after.data;
    }

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
