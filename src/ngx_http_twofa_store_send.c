/*
 * twofa-edge: one store operation's script sent (ngx_http_twofa_store.c
 * builds its keys and arguments) and its reply handed back: EVALSHA, and
 * once EVAL after NOSCRIPT (a restarted or flushed Redis), which loads
 * it; to the one Redis (or the primary Sentinel named), or in a cluster
 * to the primary of the operation's slot; the replay guards acknowledged
 * by a replica (WAIT); a cluster's revocations copied where every worker
 * reads them.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"
#include "twofa_scripts.h"
#include "twofa_slot.h"


typedef struct {
    ngx_http_request_t                *r;
    ngx_http_twofa_store_handler_pt    handler;
    ngx_http_twofa_store_parse_t      *parse;
    twofa_script_t                    *script;
    int                                argc;
    const char                       **argv;     /* EVALSHA sha1 n ... */
    size_t                            *lens;
    unsigned                           slot;     /* in a cluster */
    ngx_str_t                         *revoke;   /* NULL, or revoked: */
    ngx_str_t                          revoked[3]; /* key, field, stamp */
    ngx_http_twofa_store_reply_t       out;      /* while it is copied */
    const char                        *copy_argv[4];
    size_t                             copy_lens[4];
    unsigned                           loaded:1; /* sent as EVAL once */
    unsigned                           acked:1;  /* a replica must have it */
} ngx_http_twofa_store_op_t;


static ngx_int_t ngx_http_twofa_store_send(ngx_http_twofa_store_op_t *op);
static ngx_int_t ngx_http_twofa_store_command(ngx_http_twofa_store_op_t *op,
    unsigned slot, ngx_http_twofa_redis_reply_pt handler, int argc,
    const char **argv, size_t *lens, ngx_uint_t flags);
static ngx_uint_t ngx_http_twofa_store_guards(twofa_script_id_t id);
static void ngx_http_twofa_store_reply(void *data, redisReply *reply);
static ngx_int_t ngx_http_twofa_store_copy_revocation(
    ngx_http_twofa_store_op_t *op);
static void ngx_http_twofa_store_copied(void *data, redisReply *reply);


ngx_int_t
ngx_http_twofa_store_script(ngx_http_request_t *r, ngx_uint_t id,
    unsigned slot, ngx_uint_t nkeys, ngx_str_t *args, ngx_uint_t nargs,
    ngx_str_t *revoke, ngx_http_twofa_store_parse_t *parse,
    ngx_http_twofa_store_handler_pt handler)
{
    u_char                     *nk;
    ngx_uint_t                  i;
    ngx_http_twofa_store_op_t  *op;

    op = ngx_pcalloc(r->pool, sizeof(ngx_http_twofa_store_op_t));
    if (op == NULL) {
        return NGX_ERROR;
    }

    op->argv = ngx_palloc(r->pool, (3 + nargs) * sizeof(const char *));
    op->lens = ngx_palloc(r->pool, (3 + nargs) * sizeof(size_t));
    nk = ngx_pnalloc(r->pool, NGX_INT_T_LEN);

    if (op->argv == NULL || op->lens == NULL || nk == NULL) {
        return NGX_ERROR;
    }

    op->r = r;
    op->handler = handler;
    op->parse = parse;
    op->script = &twofa_scripts[id];
    op->argc = (int) (3 + nargs);
    op->acked = ngx_http_twofa_store_guards(id);
    op->slot = slot;

    /* the caller's array may not outlive this call; its strings do */

    if (revoke) {
        ngx_memcpy(op->revoked, revoke, 3 * sizeof(ngx_str_t));
        op->revoke = op->revoked;
    }

    op->argv[0] = "EVALSHA";
    op->lens[0] = 7;
    op->argv[1] = op->script->sha1;
    op->lens[1] = 40;
    op->argv[2] = (const char *) nk;
    op->lens[2] = ngx_sprintf(nk, "%ui", nkeys) - nk;

    for (i = 0; i < nargs; i++) {
        op->argv[3 + i] = args[i].data ? (const char *) args[i].data : "";
        op->lens[3 + i] = args[i].len;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa store: %s (%ui arguments)", op->script->name,
                   nargs);

    return ngx_http_twofa_store_send(op);
}


/* NGX_OK, NGX_DECLINED (no connection: as no answer), NGX_ERROR */

static ngx_int_t
ngx_http_twofa_store_send(ngx_http_twofa_store_op_t *op)
{
    ngx_int_t                    rc;
    ngx_http_twofa_main_conf_t  *tmcf;

    rc = ngx_http_twofa_store_command(op, op->slot, ngx_http_twofa_store_reply,
                                      op->argc, op->argv, op->lens,
                                      op->acked ? NGX_HTTP_TWOFA_REDIS_ACKED
                                                : 0);

    if (rc == NGX_DECLINED) {
        tmcf = ngx_http_get_module_main_conf(op->r, ngx_http_twofa_module);

        ngx_log_error(NGX_LOG_ERR, op->r->connection->log, 0,
                      "twofa store: %s: redis \"%V\" is not connected",
                      op->script->name, &tmcf->redis->addr);
    }

    return rc;
}


/*
 * One command of the operation, in the request's pool and log: in a
 * cluster to the primary of slot, else to the one Redis (or the primary
 * Sentinel named).
 */

static ngx_int_t
ngx_http_twofa_store_command(ngx_http_twofa_store_op_t *op, unsigned slot,
    ngx_http_twofa_redis_reply_pt handler, int argc, const char **argv,
    size_t *lens, ngx_uint_t flags)
{
    ngx_http_request_t          *r;
    ngx_http_twofa_main_conf_t  *tmcf;

    r = op->r;
    tmcf = ngx_http_get_module_main_conf(r, ngx_http_twofa_module);

    if (tmcf->cluster) {
        return ngx_http_twofa_cluster_command(tmcf->cluster, slot, r->pool,
                                              r->connection->log, handler, op,
                                              argc, argv, lens, flags);
    }

    return ngx_http_twofa_redis_command_flags(tmcf->client, r->pool,
                                              r->connection->log, handler, op,
                                              argc, argv, lens, flags);
}


/*
 * The writes that guard against replay: a used TOTP step (accept, enable,
 * disable), a consumed recovery code (accept), a hold taken (take).  Lost
 * in a failover, they would let the same code or the same hold through
 * twice; so they are answered only once a replica has them (twofa_redis
 * replica_wait=).
 */

static ngx_uint_t
ngx_http_twofa_store_guards(twofa_script_id_t id)
{
    switch (id) {

    case TWOFA_SCRIPT_ACCEPT:
    case TWOFA_SCRIPT_TAKE:
    case TWOFA_SCRIPT_ENABLE:
    case TWOFA_SCRIPT_DISABLE:
        return 1;

    default:
        return 0;
    }
}


/*
 * Called on the event loop, outside any request handler: hand the result
 * to the request, then run what it posted, as upstream does.  A Redis
 * that does not know the script (restarted, SCRIPT FLUSH) gets it once
 * as EVAL, which loads it; the request waits one more round trip.
 */

static void
ngx_http_twofa_store_reply(void *data, redisReply *reply)
{
    ngx_http_twofa_store_op_t *op = data;

    ngx_int_t                      rc;
    ngx_connection_t              *c;
    ngx_http_request_t            *r;
    ngx_http_twofa_store_reply_t   out;

    r = op->r;
    c = r->connection;

    ngx_memzero(&out, sizeof(ngx_http_twofa_store_reply_t));

    if (reply && reply->type == REDIS_REPLY_ERROR && !op->loaded
        && reply->len >= 8 && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "twofa store: %s: NOSCRIPT, sent as EVAL",
                       op->script->name);

        op->loaded = 1;
        op->argv[0] = "EVAL";
        op->lens[0] = 4;
        op->argv[1] = op->script->text;
        op->lens[1] = op->script->len;

        rc = ngx_http_twofa_store_send(op);
        if (rc == NGX_OK) {
            return;
        }

        reply = NULL;
    }

    if (reply == NULL) {
        out.rc = NGX_ERROR;

    } else if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "twofa store: %s: redis error: %*s", op->script->name,
                      (size_t) reply->len, reply->str);
        out.rc = NGX_ABORT;

    } else if (op->parse(r, reply, &out) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "twofa store: %s: unexpected reply from redis",
                      op->script->name);
        out.rc = NGX_ABORT;

    } else {
        out.rc = NGX_OK;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "twofa store: %s done rc:%i outcome:%d", op->script->name,
                   out.rc, (int) out.outcome);

    if (op->revoke && out.rc == NGX_OK && out.outcome == NGX_HTTP_TWOFA_DONE)
    {
        op->out = out;

        if (ngx_http_twofa_store_copy_revocation(op) == NGX_OK) {
            return;
        }
    }

    op->handler(r, &out);

    ngx_http_run_posted_requests(c);
}


/*
 * A cluster: HSET of the revocation into the hash every worker reads
 * after a (re)subscribe, in its own slot.  Live workers had it from the
 * script's PUBLISH already; so when the copy fails the change still
 * stands, and the log says that workers reconnecting meanwhile may miss
 * it until they read the hash again.
 */

static ngx_int_t
ngx_http_twofa_store_copy_revocation(ngx_http_twofa_store_op_t *op)
{
    ngx_uint_t  i;

    op->copy_argv[0] = "HSET";
    op->copy_lens[0] = 4;

    for (i = 0; i < 3; i++) {
        op->copy_argv[1 + i] = (const char *) op->revoke[i].data;
        op->copy_lens[1 + i] = op->revoke[i].len;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, op->r->connection->log, 0,
                   "twofa store: revocation copied to \"%V\"",
                   &op->revoke[0]);

    return ngx_http_twofa_store_command(op,
                                        twofa_slot((char *) op->revoke[0].data,
                                                   op->revoke[0].len),
                                        ngx_http_twofa_store_copied, 4,
                                        op->copy_argv, op->copy_lens, 0);
}


static void
ngx_http_twofa_store_copied(void *data, redisReply *reply)
{
    ngx_http_twofa_store_op_t *op = data;

    ngx_connection_t  *c;

    c = op->r->connection;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "twofa store: %s: the revocation was published but "
                      "not copied to \"%V\": a worker that reconnects "
                      "meanwhile may miss it", op->script->name,
                      &op->revoke[0]);
    }

    op->handler(op->r, &op->out);

    ngx_http_run_posted_requests(c);
}
