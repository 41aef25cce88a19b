/*
 * twofa-edge: the login's filters.  The capture filters keep the login
 * subrequest's response (status, headers, body) in memory instead of
 * sending it, and read who logged in while the upstream is still there.
 * The guard refuses a response that names a user outside a login
 * location: a door to the login the operator did not cover.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"


static ngx_int_t ngx_http_twofa_capture_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_twofa_capture_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_uint_t ngx_http_twofa_header_listed(ngx_array_t *names,
    ngx_str_t *name);
static ngx_int_t ngx_http_twofa_guard(ngx_http_request_t *r);


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
    ngx_table_elt_t             *h;
    ngx_http_twofa_ctx_t        *ctx;
    ngx_http_twofa_header_t     *hd;
    ngx_http_twofa_list_walk_t   walk;

    if (r == r->main) {
        if (ngx_http_twofa_guard(r) != NGX_OK) {
            return ngx_http_filter_finalize_request(r, &ngx_http_twofa_module,
                                                    NGX_HTTP_BAD_GATEWAY);
        }

        if (ngx_http_twofa_bind_rotated(r) != NGX_OK) {
            return NGX_ERROR;
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

    ngx_http_twofa_list_start(&walk, &r->headers_out.headers);

    for ( ;; ) {
        h = ngx_http_twofa_list_next(&walk, sizeof(ngx_table_elt_t));
        if (h == NULL) {
            break;
        }

        if (h->hash == 0) {
            continue;
        }

        if (ctx->lcf->hide_identity
            && ngx_http_twofa_header_listed(ctx->lcf->identity_headers,
                                            &h->key))
        {
            continue;
        }

        hd = ngx_array_push(&ctx->response.headers);
        if (hd == NULL) {
            return NGX_ERROR;
        }

        hd->name = h->key;
        hd->value = h->value;

        if (h == r->headers_out.location) {
            hd->role = NGX_HTTP_TWOFA_HEADER_LOCATION;

        } else if (h == r->headers_out.content_encoding) {
            hd->role = NGX_HTTP_TWOFA_HEADER_CONTENT_ENCODING;

        } else {
            hd->role = NGX_HTTP_TWOFA_HEADER_PLAIN;
        }
    }

    if (ngx_http_twofa_identity_capture(r, ctx) != NGX_OK) {
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
    ngx_table_elt_t             *h;
    ngx_http_twofa_list_walk_t   walk;
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

    ngx_http_twofa_list_start(&walk, &r->headers_out.headers);

    for ( ;; ) {
        h = ngx_http_twofa_list_next(&walk, sizeof(ngx_table_elt_t));
        if (h == NULL) {
            return NGX_OK;
        }

        if (h->hash == 0
            || !ngx_http_twofa_header_listed(tmcf->guarded_headers,
                                             &h->key))
        {
            continue;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "twofa: a response carries the identity header "
                      "\"%V\" outside a twofa_login location (\"%V\"): a "
                      "login the module did not hold; refused",
                      &h->key, &r->uri);

        if (ctx == NULL) {
            ctx = ngx_http_twofa_get_ctx(r);
        }

        if (ctx) {
            ctx->result = NGX_HTTP_TWOFA_RESULT_ERROR;
        }

        return NGX_DECLINED;
    }
}
