/*
 * Commands on a Redis connection (ngx_http_twofa_redis_conn.c keeps the
 * connection): each with a timer, a late reply landing on its record
 * only, and WAIT after the writes that guard against replay.
 *
 * Ownership:
 *   - hiredis owns the socket and closes it; nginx's connection object only
 *     carries the events and is returned to the free list in the cleanup
 *     hook, the one place hiredis tells us the context is going away.
 *   - a command record is owned by hiredis's callback queue from the moment
 *     it is sent until its callback runs (with a reply, or NULL when the
 *     context is freed): that callback frees it.  The request it served
 *     may be gone by then: a pool cleanup of the request's pool detaches
 *     the record, and the timer fails it early; both only clear
 *     cmd->handler, so a late reply lands on the record and nowhere else.
 *   - a command sent with NGX_HTTP_TWOFA_REDIS_ACKED has WAIT pipelined
 *     right behind it: its record waits for both callbacks (pending), and
 *     the handler sees the command's reply only once WAIT said a replica
 *     has it (a copy of the reply is kept meanwhile, as hiredis frees its
 *     own after the callback).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_http_twofa.h"
#include "ngx_http_twofa_redis.h"


static void ngx_http_twofa_redis_wait(ngx_http_twofa_redis_t *rd,
    ngx_http_twofa_redis_cmd_t *cmd, ngx_log_t *log);
static void ngx_http_twofa_redis_wait_reply(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_twofa_redis_deliver(ngx_http_twofa_redis_cmd_t *cmd,
    redisReply *reply);
static ngx_uint_t ngx_http_twofa_redis_demoted(ngx_http_twofa_redis_t *rd,
    redisReply *reply);
static void ngx_http_twofa_redis_done(ngx_http_twofa_redis_cmd_t *cmd);
static ngx_uint_t ngx_http_twofa_redis_failed(redisReply *reply);
static redisReply *ngx_http_twofa_redis_reply_copy(redisReply *reply);
static void ngx_http_twofa_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_twofa_redis_timeout(ngx_event_t *ev);
static void ngx_http_twofa_redis_detach(void *data);
static ngx_http_twofa_redis_cmd_t *ngx_http_twofa_redis_cmd_alloc(
    ngx_http_twofa_redis_t *rd);
static void ngx_http_twofa_redis_cmd_free(ngx_http_twofa_redis_cmd_t *cmd);
static uint64_t ngx_http_twofa_redis_now_us(void);


/* what the handler of a replay guard gets when no replica acknowledged it */

static redisReply  ngx_http_twofa_redis_noreplica =
    ngx_http_twofa_redis_error_reply(
        "NOREPLICA no replica acknowledged the write in time");


ngx_int_t
ngx_http_twofa_redis_command(ngx_http_twofa_redis_t *rd, ngx_pool_t *owner,
    ngx_log_t *log, ngx_http_twofa_redis_reply_pt handler, void *data,
    int argc, const char **argv, const size_t *argvlen)
{
    return ngx_http_twofa_redis_command_flags(rd, owner, log, handler, data,
                                              argc, argv, argvlen, 0);
}


ngx_int_t
ngx_http_twofa_redis_command_flags(ngx_http_twofa_redis_t *rd,
    ngx_pool_t *owner, ngx_log_t *log, ngx_http_twofa_redis_reply_pt handler,
    void *data, int argc, const char **argv, const size_t *argvlen,
    ngx_uint_t flags)
{
    ngx_pool_cleanup_t          *cln;
    ngx_http_twofa_redis_cmd_t  *cmd;

    if (rd == NULL || rd->state != NGX_HTTP_TWOFA_REDIS_CONNECTED
        || rd->ac == NULL || rd->channel.len)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, log, 0,
                       "twofa redis: not connected");

        if (rd && !rd->conf->sentinel_node) {
            ngx_http_twofa_count(NGX_HTTP_TWOFA_M_REDIS_ERROR);
        }

        return NGX_DECLINED;
    }

    cln = NULL;

    if (owner) {
        cln = ngx_pool_cleanup_add(owner, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }
    }

    cmd = ngx_http_twofa_redis_cmd_alloc(rd);
    if (cmd == NULL) {
        return NGX_ERROR;
    }

    cmd->handler = handler;
    cmd->data = data;
    cmd->cleanup = cln;

    ngx_http_twofa_event_init(&cmd->timer, ngx_http_twofa_redis_timeout, cmd,
                              log);
    cmd->sent_us = ngx_http_twofa_redis_now_us();

    if (redisAsyncCommandArgv(rd->ac, ngx_http_twofa_redis_reply, cmd, argc,
                              argv, argvlen)
        != REDIS_OK)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "twofa redis: cannot queue a command: %s",
                      rd->ac->errstr[0] ? rd->ac->errstr : "out of memory");
        ngx_http_twofa_redis_cmd_free(cmd);

        if (!rd->conf->sentinel_node) {
            ngx_http_twofa_count(NGX_HTTP_TWOFA_M_REDIS_ERROR);
        }

        return NGX_DECLINED;
    }

    cmd->pending = 1;

    if (rd->outstanding++ == 0) {
        /* the stall check counts from the first command that waits */
        rd->last_read = ngx_current_msec;
    }

    /*
     * A write that guards against replay is answered only once a replica
     * has it, so that a failover cannot bring back the state before it.
     * Pipelined on the same connection, WAIT covers exactly this write.
     * If WAIT cannot be queued, the command fails when it is answered.
     */

    if ((flags & NGX_HTTP_TWOFA_REDIS_ACKED) && rd->conf->replica_wait) {
        ngx_http_twofa_redis_wait(rd, cmd, log);
    }

    if (cln) {
        cln->handler = ngx_http_twofa_redis_detach;
        cln->data = cmd;
    }

    /* not cancelable: a graceful shutdown waits for the answer */
    ngx_add_timer(&cmd->timer, rd->conf->timeout);

    return NGX_OK;
}


/*
 * WAIT 1 replica_wait, pipelined right behind a replay guard: the record
 * then waits for both callbacks.  If it cannot be queued, the command
 * fails when it is answered.
 */

static void
ngx_http_twofa_redis_wait(ngx_http_twofa_redis_t *rd,
    ngx_http_twofa_redis_cmd_t *cmd, ngx_log_t *log)
{
    size_t       lens[3];
    u_char       ms[NGX_INT_T_LEN];
    const char  *wait[3];

    cmd->acked = 1;

    wait[0] = "WAIT";
    lens[0] = 4;
    wait[1] = "1";
    lens[1] = 1;
    wait[2] = (const char *) ms;
    lens[2] = ngx_sprintf(ms, "%M", rd->conf->replica_wait) - ms;

    if (redisAsyncCommandArgv(rd->ac, ngx_http_twofa_redis_wait_reply, cmd,
                              3, wait, lens)
        != REDIS_OK)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "twofa redis: cannot queue WAIT after a command");
        return;
    }

    cmd->pending = 2;
    rd->outstanding++;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                   "twofa redis: WAIT 1 %Mms follows",
                   rd->conf->replica_wait);
}


static void
ngx_http_twofa_redis_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    ngx_http_twofa_redis_cmd_t *cmd = privdata;

    ngx_uint_t               demoted;
    redisReply              *reply = r;
    ngx_http_twofa_redis_t  *rd;

    rd = cmd->client;

    /*
     * A late reply was counted as a timeout already.  The counters are
     * the data's: the sentinels' questions are not counted.
     */

    if (!cmd->timed_out && !rd->conf->sentinel_node) {
        ngx_http_twofa_counters_redis(
            ngx_http_twofa_redis_failed(reply)
            ? NGX_HTTP_TWOFA_M_REDIS_ERROR : NGX_HTTP_TWOFA_M_REDIS_OK,
            ngx_http_twofa_redis_now_us() - cmd->sent_us);
    }

    /* an error reply, passed on as such: it always fails closed */

    demoted = ngx_http_twofa_redis_demoted(rd, reply);

    if (cmd->acked && cmd->pending == 1 && reply) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "twofa redis: WAIT could not follow a command on "
                      "\"%V\"", &rd->addr);
        reply = &ngx_http_twofa_redis_noreplica;
    }

    if (cmd->acked && cmd->pending == 2 && reply
        && reply->type != REDIS_REPLY_ERROR && cmd->handler)
    {
        /* answered once WAIT says a replica has it */

        cmd->saved = ngx_http_twofa_redis_reply_copy(reply);

        if (cmd->saved == NULL) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "twofa redis: cannot keep a reply: out of memory");
            ngx_http_twofa_redis_deliver(cmd,
                                         &ngx_http_twofa_redis_noreplica);
        }

    } else {
        ngx_http_twofa_redis_deliver(cmd, reply);
    }

    ngx_http_twofa_redis_done(cmd);

    if (demoted && rd->conf->sentinels) {
        ngx_http_twofa_redis_close(rd);
    }
}


/* WAIT's answer: the number of replicas that have the write before it */

static void
ngx_http_twofa_redis_wait_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    ngx_http_twofa_redis_cmd_t *cmd = privdata;

    redisReply              *reply = r;
    ngx_http_twofa_redis_t  *rd;

    rd = cmd->client;

    if (cmd->handler) {
        if (cmd->saved && reply && reply->type == REDIS_REPLY_INTEGER
            && reply->integer >= 1)
        {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                           "twofa redis: WAIT: %L replicas have it",
                           (int64_t) reply->integer);

            ngx_http_twofa_redis_deliver(cmd, cmd->saved);

        } else {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "twofa redis: no replica of \"%V\" acknowledged "
                          "a replay guard within %Mms: refused",
                          &rd->addr, rd->conf->replica_wait);
            ngx_http_twofa_redis_deliver(cmd,
                                         &ngx_http_twofa_redis_noreplica);
        }
    }

    ngx_http_twofa_redis_done(cmd);
}


/*
 * For the counters: no reply, or an error reply that is not an answer.
 * NOSCRIPT is the expected answer of a Redis that has not seen a script
 * yet (the store sends it again as EVAL); MOVED, ASK and TRYAGAIN are a
 * cluster's directions (ngx_http_twofa_cluster.c follows them).
 */

static ngx_uint_t
ngx_http_twofa_redis_failed(redisReply *reply)
{
    ngx_uint_t          i;
    static ngx_str_t    answers[] = {
        ngx_string("NOSCRIPT "), ngx_string("MOVED "), ngx_string("ASK "),
        ngx_string("TRYAGAIN ")
    };

    if (reply == NULL) {
        return 1;
    }

    if (reply->type != REDIS_REPLY_ERROR) {
        return 0;
    }

    for (i = 0; i < sizeof(answers) / sizeof(ngx_str_t); i++) {
        if ((size_t) reply->len >= answers[i].len
            && ngx_strncmp(reply->str, answers[i].data, answers[i].len) == 0)
        {
            return 0;
        }
    }

    return 1;
}


/* the handler, once, unless the record was detached or timed out */

static void
ngx_http_twofa_redis_deliver(ngx_http_twofa_redis_cmd_t *cmd,
    redisReply *reply)
{
    ngx_http_twofa_redis_reply_pt  handler;

    handler = cmd->handler;

    if (handler == NULL) {
        return;
    }

    cmd->handler = NULL;

    if (cmd->cleanup) {
        cmd->cleanup->handler = NULL;
    }

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    /* a worker that is exiting answers no one any more */

    if (!cmd->client->exiting) {
        handler(cmd->data, reply);
    }
}


/* one of the record's hiredis callbacks ran: the last one frees it */

static void
ngx_http_twofa_redis_done(ngx_http_twofa_redis_cmd_t *cmd)
{
    ngx_http_twofa_redis_t  *rd;

    rd = cmd->client;

    if (rd->outstanding) {
        rd->outstanding--;
    }

    if (--cmd->pending == 0) {
        ngx_http_twofa_redis_cmd_free(cmd);
    }
}


/*
 * READONLY (a write on a replica) and MASTERDOWN (a replica that lost its
 * primary): the node is not the primary any more.
 */

static ngx_uint_t
ngx_http_twofa_redis_demoted(ngx_http_twofa_redis_t *rd, redisReply *reply)
{
    if (reply == NULL || reply->type != REDIS_REPLY_ERROR) {
        return 0;
    }

    if ((reply->len >= 8 && ngx_strncmp(reply->str, "READONLY", 8) == 0)
        || (reply->len >= 10
            && ngx_strncmp(reply->str, "MASTERDOWN", 10) == 0))
    {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "twofa redis: \"%V\" is no longer the primary: %*s",
                      &rd->addr, (size_t) reply->len, reply->str);
        return 1;
    }

    return 0;
}


/*
 * A deep copy of a reply, allocated as hiredis allocates its own, so that
 * freeReplyObject() frees it.
 */

static redisReply *
ngx_http_twofa_redis_reply_copy(redisReply *reply)
{
    size_t       i;
    redisReply  *copy;

    copy = malloc(sizeof(redisReply));
    if (copy == NULL) {
        return NULL;
    }

    ngx_memcpy(copy, reply, sizeof(redisReply));
    copy->str = NULL;
    copy->element = NULL;
    copy->elements = 0;

    if (reply->str) {
        copy->str = malloc(reply->len + 1);
        if (copy->str == NULL) {
            goto failed;
        }

        ngx_memcpy(copy->str, reply->str, reply->len);
        copy->str[reply->len] = '\0';
    }

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements) {
        copy->element = calloc(reply->elements, sizeof(redisReply *));
        if (copy->element == NULL) {
            goto failed;
        }

        for (i = 0; i < reply->elements; i++) {
            copy->element[i] =
                ngx_http_twofa_redis_reply_copy(reply->element[i]);

            if (copy->element[i] == NULL) {
                goto failed;
            }

            copy->elements = i + 1;
        }
    }

    return copy;

failed:

    freeReplyObject(copy);

    return NULL;
}


static void
ngx_http_twofa_redis_timeout(ngx_event_t *ev)
{
    ngx_http_twofa_redis_cmd_t *cmd = ev->data;

    ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                  "twofa redis: no answer from \"%V\" within %Mms",
                  &cmd->client->addr, cmd->client->conf->timeout);

    cmd->timed_out = 1;

    if (!cmd->client->conf->sentinel_node) {
        ngx_http_twofa_counters_redis(NGX_HTTP_TWOFA_M_REDIS_TIMEOUT, 0);
    }

    /* the record stays queued in hiredis until the late reply frees it */

    ngx_http_twofa_redis_deliver(cmd, NULL);
}


static void
ngx_http_twofa_redis_detach(void *data)
{
    ngx_http_twofa_redis_cmd_t *cmd = data;

    cmd->handler = NULL;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }
}


static ngx_http_twofa_redis_cmd_t *
ngx_http_twofa_redis_cmd_alloc(ngx_http_twofa_redis_t *rd)
{
    ngx_http_twofa_redis_cmd_t  *cmd;

    if (rd->free) {
        cmd = rd->free;
        rd->free = cmd->next;
        rd->nfree--;

    } else {
        cmd = ngx_alloc(sizeof(ngx_http_twofa_redis_cmd_t), rd->log);
        if (cmd == NULL) {
            return NULL;
        }
    }

    ngx_memzero(cmd, sizeof(ngx_http_twofa_redis_cmd_t));
    cmd->client = rd;

    return cmd;
}


static void
ngx_http_twofa_redis_cmd_free(ngx_http_twofa_redis_cmd_t *cmd)
{
    ngx_http_twofa_redis_t  *rd;

    rd = cmd->client;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    if (cmd->saved) {
        freeReplyObject(cmd->saved);
        cmd->saved = NULL;
    }

    if (rd->exiting || rd->nfree >= NGX_HTTP_TWOFA_REDIS_FREE_MAX) {
        ngx_free(cmd);
        return;
    }

    cmd->next = rd->free;
    rd->free = cmd;
    rd->nfree++;
}


/* a monotonic clock in microseconds, for the latency histogram */

static uint64_t
ngx_http_twofa_redis_now_us(void)
{
    struct timespec  ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        return 0;
    }

    return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}
