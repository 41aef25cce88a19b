/*
 * twofa-edge: the admin API's operations of no org with a Redis Cluster,
 * where the deployment mark is kept per slot: POST {admin}/init writes
 * the mark in every slot, as twofa-admin init does (HSETNX of created,
 * then of by: an existing mark is kept), each slot's commands to its
 * primary through the cluster client, all on the event loop, each with
 * the command timeout.  The answer waits for every reply: one failure
 * (no answer, an error) and it is 503, nothing presented as done.  Like
 * the CLI's, this init of no org is not in any slot's audit stream: the
 * error log's notice line tells of it.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"
#include "twofa_keys.h"
#include "twofa_slot.h"


/* one slot's two commands: HSETNX key created now, HSETNX key by who */
typedef struct {
    const char                        *argv[2][4];
    size_t                             lens[2][4];
} ngx_http_twofa_admin_mark_t;


typedef struct {
    ngx_http_twofa_fan_t               fan;       /* first: the replies */
    ngx_uint_t                         created;   /* marks made now */
    ngx_str_t                          by;        /* who, for the mark */
    u_char                             now[NGX_TIME_T_LEN];
    size_t                             now_len;
} ngx_http_twofa_admin_init_t;


/*
 * Commands in flight at once: each has the whole command timeout, which
 * 32,768 of them sent together (two per slot) would not have on a busy
 * worker.
 */
#define NGX_HTTP_TWOFA_FAN_WINDOW  512


static ngx_int_t ngx_http_twofa_admin_mark(ngx_http_twofa_fan_t *fan,
    unsigned slot);
static ngx_int_t ngx_http_twofa_fan_more(ngx_http_twofa_fan_t *fan);
static void ngx_http_twofa_admin_marked(void *data, redisReply *reply);
static void ngx_http_twofa_admin_marked_by(void *data, redisReply *reply);


/*
 * NGX_OK: the handler will be called once, when every command sent has
 * its reply; NGX_ERROR: none was sent, nothing will be called.  The
 * marks go out a window at a time, later ones from reply handlers: by is
 * copied, and its data must live as long as the request.
 */

ngx_int_t
ngx_http_twofa_admin_cluster_init(ngx_http_request_t *r, ngx_str_t *by,
    ngx_http_twofa_store_handler_pt handler)
{
    ngx_http_twofa_admin_init_t  *in;

    in = ngx_pcalloc(r->pool, sizeof(ngx_http_twofa_admin_init_t));

    if (in == NULL
        || ngx_http_twofa_fan_init(&in->fan, r, "init",
                                   ngx_http_twofa_admin_mark, handler)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    in->by = *by;
    in->now_len = ngx_sprintf(in->now, "%T", ngx_time()) - in->now;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa admin: init, the mark in every slot");

    return ngx_http_twofa_fan_start(&in->fan);
}


/* HSETNX key created now, then HSETNX key by who: a mark made is kept */

static ngx_int_t
ngx_http_twofa_admin_mark(ngx_http_twofa_fan_t *fan, unsigned slot)
{
    ngx_http_twofa_admin_init_t *in = (ngx_http_twofa_admin_init_t *) fan;

    ngx_str_t                     key;
    ngx_uint_t                    i;
    ngx_http_twofa_admin_mark_t  *m;

    static ngx_http_twofa_redis_reply_pt  handlers[] = {
        ngx_http_twofa_admin_marked,
        ngx_http_twofa_admin_marked_by
    };

    m = ngx_palloc(in->fan.r->pool, sizeof(ngx_http_twofa_admin_mark_t));

    if (m == NULL
        || ngx_http_twofa_fan_key(&in->fan, slot, TWOFA_KEY_DEPLOYMENT, &key)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    m->argv[0][2] = "created";
    m->lens[0][2] = 7;
    m->argv[0][3] = (const char *) in->now;
    m->lens[0][3] = in->now_len;

    m->argv[1][2] = "by";
    m->lens[1][2] = 2;
    m->argv[1][3] = (const char *) in->by.data;
    m->lens[1][3] = in->by.len;

    for (i = 0; i < 2; i++) {
        m->argv[i][0] = "HSETNX";
        m->lens[i][0] = 6;
        m->argv[i][1] = (const char *) key.data;
        m->lens[i][1] = key.len;

        if (ngx_http_twofa_fan_send(&in->fan, slot, handlers[i], in, 4,
                                    m->argv[i], m->lens[i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* HSETNX created: 1 when this slot's mark is made now */

static void
ngx_http_twofa_admin_marked(void *data, redisReply *reply)
{
    ngx_http_twofa_admin_init_t *in = data;

    if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) {
        in->created++;
    }

    ngx_http_twofa_admin_marked_by(in, reply);
}


static void
ngx_http_twofa_admin_marked_by(void *data, redisReply *reply)
{
    ngx_http_twofa_admin_init_t *in = data;

    ngx_http_twofa_store_reply_t  out;

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        ngx_http_twofa_fan_failed(&in->fan, reply);
    }

    if (!ngx_http_twofa_fan_replied(&in->fan)) {
        return;
    }

    ngx_memzero(&out, sizeof(ngx_http_twofa_store_reply_t));

    out.rc = in->fan.failed ? NGX_ERROR : NGX_OK;
    out.created = (in->created > 0);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, in->fan.r->connection->log, 0,
                   "twofa admin: init: %ui marks made", in->created);

    ngx_http_twofa_fan_answer(&in->fan, &out);
}


/*
 * What the operations across every slot share (init here, the merged
 * audit in ngx_http_twofa_admin_audit.c).
 */

ngx_int_t
ngx_http_twofa_fan_init(ngx_http_twofa_fan_t *fan, ngx_http_request_t *r,
    const char *what, ngx_http_twofa_fan_send_pt send,
    ngx_http_twofa_store_handler_pt handler)
{
    ngx_http_twofa_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_twofa_module);

    fan->r = r;
    fan->handler = handler;
    fan->send = send;
    fan->what = what;

    fan->prefix = ngx_pnalloc(r->pool,
                              tmcf->prefix.len + TWOFA_KEY_CLUSTER_EXTRA);

    return fan->prefix ? NGX_OK : NGX_ERROR;
}


/* a slot's key of a kind with no org or user, in the request's pool */

ngx_int_t
ngx_http_twofa_fan_key(ngx_http_twofa_fan_t *fan, unsigned slot,
    twofa_key_kind_t kind, ngx_str_t *key)
{
    size_t                       plen;
    ngx_http_twofa_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(fan->r, ngx_http_twofa_module);

    plen = twofa_key_cluster_prefix(fan->prefix,
                                    (const char *) tmcf->prefix.data,
                                    tmcf->prefix.len, slot);
    if (plen == 0) {
        return NGX_ERROR;
    }

    key->data = ngx_pnalloc(fan->r->pool,
                            twofa_key_len(kind, plen, NULL, 0, NULL, 0));
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    key->len = twofa_key((char *) key->data, kind, fan->prefix, plen, NULL, 0,
                         NULL, 0);

    return NGX_OK;
}


/* NGX_OK: handler is called exactly once, later, and counted till then */

ngx_int_t
ngx_http_twofa_fan_send(ngx_http_twofa_fan_t *fan, unsigned slot,
    ngx_http_twofa_redis_reply_pt handler, void *data, int argc,
    const char **argv, const size_t *lens)
{
    ngx_http_twofa_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(fan->r, ngx_http_twofa_module);

    if (ngx_http_twofa_cluster_command(tmcf->cluster, slot, fan->r->pool,
                                       fan->r->connection->log, handler, data,
                                       argc, argv, lens, 0)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    fan->pending++;

    return NGX_OK;
}


/*
 * The first window of slots.  NGX_OK: the handler will be called once,
 * after the last reply (a command that could not be sent stops the
 * sending, and the last reply of those sent answers 503); NGX_ERROR: none
 * was sent, nothing will be called.
 */

ngx_int_t
ngx_http_twofa_fan_start(ngx_http_twofa_fan_t *fan)
{
    if (ngx_http_twofa_fan_more(fan) != NGX_OK) {
        fan->failed++;
        return fan->pending ? NGX_OK : NGX_ERROR;
    }

    return NGX_OK;
}


/* a reply came: the window refilled; 1 when it was the last one due */

ngx_uint_t
ngx_http_twofa_fan_replied(ngx_http_twofa_fan_t *fan)
{
    fan->pending--;

    if (fan->failed == 0 && ngx_http_twofa_fan_more(fan) != NGX_OK) {
        fan->failed++;
    }

    return fan->pending == 0;
}


static ngx_int_t
ngx_http_twofa_fan_more(ngx_http_twofa_fan_t *fan)
{
    while (fan->next < TWOFA_SLOTS
           && fan->pending < NGX_HTTP_TWOFA_FAN_WINDOW)
    {
        if (fan->send(fan, fan->next++) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* no answer or an error: the first one is logged, the answer is 503 */

void
ngx_http_twofa_fan_failed(ngx_http_twofa_fan_t *fan, redisReply *reply)
{
    if (fan->failed++ == 0) {
        ngx_log_error(NGX_LOG_ERR, fan->r->connection->log, 0,
                      "twofa admin: %s: %s", fan->what,
                      reply && reply->type == REDIS_REPLY_ERROR
                      ? reply->str : "no answer from a node");
    }
}


/* the last reply came: the operation's answer, then the request goes on */

void
ngx_http_twofa_fan_answer(ngx_http_twofa_fan_t *fan,
    ngx_http_twofa_store_reply_t *out)
{
    ngx_connection_t  *c;

    c = fan->r->connection;

    out->outcome = NGX_HTTP_TWOFA_DONE;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "twofa admin: %s of every slot done: %ui failed, rc:%i",
                   fan->what, fan->failed, out->rc);

    fan->handler(fan->r, out);

    ngx_http_run_posted_requests(c);
}
