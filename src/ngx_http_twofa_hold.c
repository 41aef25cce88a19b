/*
 * twofa-edge: a held login response: sealed into the hold, opened again
 * (parse, open, decode), and sent: as it passed, or released after the
 * second factor with the session cookie.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"
#include "twofa_base64.h"


#define NGX_HTTP_TWOFA_HOLD_MAGIC       "TFR1"
#define NGX_HTTP_TWOFA_HOLD_AAD_MAX                                          \
    (sizeof("twofa hold v1") + NGX_HTTP_TWOFA_HOLD_TOKEN_LEN + 2             \
     + 2 * TWOFA_ID_MAX)


static ngx_int_t ngx_http_twofa_hold_decode(ngx_http_request_t *r,
    u_char *plain, size_t n, ngx_http_twofa_response_t *resp);
static void ngx_http_twofa_put32(u_char **p, uint32_t n);
static u_char *ngx_http_twofa_put_str(u_char *p, ngx_str_t *s);
static ngx_int_t ngx_http_twofa_get32(u_char **p, u_char *end, uint32_t *n);
static ngx_int_t ngx_http_twofa_get_str(u_char **p, u_char *end, ngx_str_t *s);
static void ngx_http_twofa_hold_aad(u_char *buf, size_t *len, ngx_str_t *token,
    ngx_str_t *org, ngx_str_t *user);


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


ngx_int_t
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
    int                 n;
    u_char             *end, *plain, *sealed;
    size_t              aad_len, nkeys;
    const twofa_key_t  *keys;
    u_char              aad[NGX_HTTP_TWOFA_HOLD_AAD_MAX];

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
                      ngx_http_twofa_shown(r, user),
                      ngx_http_twofa_shown(r, org));
        return NGX_DECLINED;
    }

    return ngx_http_twofa_hold_decode(r, plain, n, resp);
}


/* The opened plaintext ("TFR1" ...) into resp, pointing into it. */

static ngx_int_t
ngx_http_twofa_hold_decode(ngx_http_request_t *r, u_char *plain, size_t n,
    ngx_http_twofa_response_t *resp)
{
    u_char                   *p, *end;
    uint32_t                  status, count, i;
    ngx_str_t                 body;
    ngx_buf_t                *b;
    ngx_http_twofa_header_t  *hd;

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

    if (body.len == 0) {
        return NGX_OK;
    }

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

    return NGX_OK;
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
        || ngx_http_twofa_bind_session(r, resp) != NGX_OK
        || ngx_http_twofa_set_hold_cookie(r, NULL, 0) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_twofa_send_response(r, resp);
}
