/*
 * hiredis's async client on nginx's event loop: one connection per worker,
 * pipelined, a timer on every command, reconnects with capped backoff.
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
 *
 * In Sentinel mode (conf->sentinels) a client has no address of its own:
 * ngx_http_twofa_redis_use() gives it the one a sentinel named, ROLE must
 * say "master" before it takes commands, and when the connection is lost,
 * refused, stalled or answered READONLY or MASTERDOWN it forgets the
 * address and calls its lost handler (ngx_http_twofa_sentinel.c) instead
 * of reconnecting: a restarted old primary is empty, and only a sentinel
 * may say where the data is now.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_http_twofa.h"


#define NGX_HTTP_TWOFA_REDIS_BACKOFF_MIN   100
#define NGX_HTTP_TWOFA_REDIS_BACKOFF_MAX   5000
#define NGX_HTTP_TWOFA_REDIS_FREE_MAX      256


typedef enum {
    NGX_HTTP_TWOFA_REDIS_DISCONNECTED = 0,
    NGX_HTTP_TWOFA_REDIS_CONNECTING,
    NGX_HTTP_TWOFA_REDIS_VERIFYING,          /* Sentinel: ROLE asked */
    NGX_HTTP_TWOFA_REDIS_CONNECTED
} ngx_http_twofa_redis_state_e;


typedef struct ngx_http_twofa_redis_cmd_s  ngx_http_twofa_redis_cmd_t;

struct ngx_http_twofa_redis_cmd_s {
    ngx_http_twofa_redis_reply_pt   handler;    /* NULL once detached */
    void                           *data;       /* the handler's */
    ngx_event_t                     timer;      /* fails it on timeout */
    ngx_pool_cleanup_t             *cleanup;    /* in the owner's pool */
    ngx_http_twofa_redis_t         *client;
    ngx_http_twofa_redis_cmd_t     *next;       /* on the free list */
    uint64_t                        sent_us;    /* for the latency */
    redisReply                     *saved;      /* a copy, until WAIT */
    unsigned                        pending:2;  /* hiredis callbacks due */
    unsigned                        acked:1;    /* WAIT follows it */
    unsigned                        timed_out:1; /* counted as such */
};


struct ngx_http_twofa_redis_s {
    ngx_http_twofa_redis_conf_t    *conf;
    ngx_str_t                       addr;       /* for logs */
    ngx_str_t                       host;       /* connected to */
    in_port_t                       port;
    u_char                          addr_buf[NGX_SOCKADDR_STRLEN + 8];
    u_char                          host_buf[NGX_SOCKADDR_STRLEN + 1];
    ngx_http_twofa_redis_lost_pt    lost;       /* Sentinel mode */
    void                           *lost_data;
    ngx_str_t                       channel;    /* subscriber: or empty */
    ngx_http_twofa_redis_message_pt on_message; /* its messages */
    void                           *data;       /* on_message's */
    redisAsyncContext              *ac;         /* NULL: no connection */
    ngx_connection_t               *conn;       /* events of ac's socket */
    ngx_http_twofa_redis_state_e    state;
    ngx_event_t                     reconnect;  /* backoff timer */
    ngx_event_t                     flush;      /* posted: write once */
    ngx_event_t                     watch;      /* stall check */
    ngx_msec_t                      since;      /* connect began */
    ngx_msec_t                      last_read;  /* or first outstanding */
    ngx_uint_t                      outstanding; /* callbacks due */
    ngx_uint_t                      replicas;   /* ROLE's, at connect */
    ngx_msec_t                      backoff;
    ngx_uint_t                      failures;   /* connects in a row */
    ngx_http_twofa_redis_cmd_t     *free;       /* spare command records */
    ngx_uint_t                      nfree;
    ngx_log_t                      *log;
    unsigned                        flushing:1;
    unsigned                        switching:1; /* use(): not lost */
    unsigned                        exiting:1;
};


static void ngx_http_twofa_redis_connect(ngx_http_twofa_redis_t *rd);
static ngx_int_t ngx_http_twofa_redis_setup(ngx_http_twofa_redis_t *rd,
    redisAsyncContext *ac);
static void ngx_http_twofa_redis_schedule(ngx_http_twofa_redis_t *rd);
static void ngx_http_twofa_redis_retry(ngx_http_twofa_redis_t *rd);
static void ngx_http_twofa_redis_close(ngx_http_twofa_redis_t *rd);
static void ngx_http_twofa_redis_watch_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_twofa_redis_role(ngx_http_twofa_redis_t *rd);
static void ngx_http_twofa_redis_role_reply(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_twofa_redis_wait_reply(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_twofa_redis_deliver(ngx_http_twofa_redis_cmd_t *cmd,
    redisReply *reply);
static ngx_uint_t ngx_http_twofa_redis_demoted(ngx_http_twofa_redis_t *rd,
    redisReply *reply);
static void ngx_http_twofa_redis_done(ngx_http_twofa_redis_cmd_t *cmd);
static redisReply *ngx_http_twofa_redis_reply_copy(redisReply *reply);
static void ngx_http_twofa_redis_gauge(ngx_http_twofa_redis_t *rd,
    uint64_t up);
static void ngx_http_twofa_redis_reconnect_handler(ngx_event_t *ev);
static void ngx_http_twofa_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_twofa_redis_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_http_twofa_redis_setup_reply(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_twofa_redis_info_reply(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_twofa_redis_message(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_twofa_redis_read_handler(ngx_event_t *ev);
static void ngx_http_twofa_redis_write_handler(ngx_event_t *ev);
static void ngx_http_twofa_redis_flush_handler(ngx_event_t *ev);
static void ngx_http_twofa_redis_write(ngx_http_twofa_redis_t *rd);
static void ngx_http_twofa_redis_event(ngx_http_twofa_redis_t *rd,
    ngx_uint_t write, ngx_uint_t on);
static void ngx_http_twofa_redis_add_read(void *data);
static void ngx_http_twofa_redis_del_read(void *data);
static void ngx_http_twofa_redis_add_write(void *data);
static void ngx_http_twofa_redis_del_write(void *data);
static void ngx_http_twofa_redis_cleanup(void *data);
static void ngx_http_twofa_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_twofa_redis_timeout(ngx_event_t *ev);
static void ngx_http_twofa_redis_detach(void *data);
static ngx_http_twofa_redis_cmd_t *ngx_http_twofa_redis_cmd_alloc(
    ngx_http_twofa_redis_t *rd);
static void ngx_http_twofa_redis_cmd_free(ngx_http_twofa_redis_cmd_t *cmd);
static uint64_t ngx_http_twofa_redis_now_us(void);


/*
 * What the handler of a replay guard gets when no replica acknowledged
 * it: an error reply, not NULL, since an error reply always fails closed
 * (NULL, no answer at all, may be let through by twofa_on_redis_error
 * open).  Never freed: hiredis does not own it.
 */

static char  ngx_http_twofa_redis_noreplica_text[] =
    "NOREPLICA no replica acknowledged the write in time";

/* by name: hiredis 1.x has more fields than 0.14 */
static redisReply  ngx_http_twofa_redis_noreplica = {
    .type = REDIS_REPLY_ERROR,
    .len = sizeof(ngx_http_twofa_redis_noreplica_text) - 1,
    .str = ngx_http_twofa_redis_noreplica_text
};


ngx_http_twofa_redis_t *
ngx_http_twofa_redis_create(ngx_cycle_t *cycle,
    ngx_http_twofa_redis_conf_t *conf)
{
    return ngx_http_twofa_redis_subscriber(cycle, conf, NULL, NULL, NULL);
}


/*
 * A connection in subscriber mode (channel given): after a connect it
 * subscribes to the channel; on_message(data, NULL) says it (re)subscribed
 * and may have missed messages meanwhile, on_message(data, &payload) is
 * one message.  It takes no commands.
 */

ngx_http_twofa_redis_t *
ngx_http_twofa_redis_subscriber(ngx_cycle_t *cycle,
    ngx_http_twofa_redis_conf_t *conf, ngx_str_t *channel,
    ngx_http_twofa_redis_message_pt on_message, void *data)
{
    ngx_http_twofa_redis_t  *rd;

    rd = ngx_pcalloc(cycle->pool, sizeof(ngx_http_twofa_redis_t));
    if (rd == NULL) {
        return NULL;
    }

    if (channel) {
        rd->channel = *channel;
        rd->on_message = on_message;
        rd->data = data;
    }

    rd->conf = conf;
    rd->log = cycle->log;
    rd->backoff = NGX_HTTP_TWOFA_REDIS_BACKOFF_MIN;

    /* in Sentinel mode, the address comes with ngx_http_twofa_redis_use() */

    rd->addr = conf->addr;
    rd->host = conf->host;
    rd->port = conf->port;

    rd->reconnect.handler = ngx_http_twofa_redis_reconnect_handler;
    rd->reconnect.data = rd;
    rd->reconnect.log = cycle->log;

    /* a pending reconnect must not hold up a graceful shutdown */
    rd->reconnect.cancelable = 1;

    rd->flush.handler = ngx_http_twofa_redis_flush_handler;
    rd->flush.data = rd;
    rd->flush.log = cycle->log;

    rd->watch.handler = ngx_http_twofa_redis_watch_handler;
    rd->watch.data = rd;
    rd->watch.log = cycle->log;
    rd->watch.cancelable = 1;

    if (conf->sentinels == NULL) {
        ngx_http_twofa_redis_connect(rd);
    }

    return rd;
}


/* Sentinel mode: who to tell when the primary is gone */

void
ngx_http_twofa_redis_set_lost(ngx_http_twofa_redis_t *rd,
    ngx_http_twofa_redis_lost_pt lost, void *data)
{
    rd->lost = lost;
    rd->lost_data = data;
}


/*
 * Sentinel mode: connect to the primary a sentinel named (host is an IP
 * literal: hiredis would resolve a name, blocking).  Already there: as
 * is; elsewhere: that connection is dropped, its commands fail.
 */

void
ngx_http_twofa_redis_use(ngx_http_twofa_redis_t *rd, ngx_str_t *host,
    in_port_t port)
{
    if (rd->exiting || host->len == 0 || host->len >= sizeof(rd->host_buf)) {
        return;
    }

    if (rd->ac && rd->port == port && rd->host.len == host->len
        && ngx_strncmp(rd->host.data, host->data, host->len) == 0)
    {
        return;
    }

    if (rd->ac) {
        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "twofa redis: leaving \"%V\" for \"%V:%d\"",
                      &rd->addr, host, (int) port);

        /* the sentinels sent us there: no need to ask them again */

        rd->switching = 1;
        redisAsyncFree(rd->ac);
        rd->switching = 0;
    }

    ngx_memcpy(rd->host_buf, host->data, host->len);
    rd->host_buf[host->len] = '\0';
    rd->host.data = rd->host_buf;
    rd->host.len = host->len;
    rd->port = port;

    /* an IPv6 address in brackets, as in the configuration */

    rd->addr.data = rd->addr_buf;
    rd->addr.len = ngx_sprintf(rd->addr_buf,
                               ngx_strlchr(host->data, host->data + host->len,
                                           ':')
                               ? "[%V]:%d" : "%V:%d", host, (int) port)
                   - rd->addr_buf;

    if (rd->reconnect.timer_set) {
        ngx_del_timer(&rd->reconnect);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "twofa redis: using \"%V\"", &rd->addr);

    ngx_http_twofa_redis_connect(rd);
}


void
ngx_http_twofa_redis_destroy(ngx_http_twofa_redis_t *rd)
{
    ngx_http_twofa_redis_cmd_t  *cmd;

    rd->exiting = 1;

    if (rd->reconnect.timer_set) {
        ngx_del_timer(&rd->reconnect);
    }

    if (rd->watch.timer_set) {
        ngx_del_timer(&rd->watch);
    }

    if (rd->ac) {
        /* runs every waiting callback with NULL, then our cleanup hook */
        redisAsyncFree(rd->ac);
    }

    while (rd->free) {
        cmd = rd->free;
        rd->free = cmd->next;
        ngx_free(cmd);
    }

    rd->nfree = 0;
}


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
    size_t                       lens[3];
    u_char                       ms[NGX_INT_T_LEN];
    const char                  *wait[3];
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

    cmd->timer.handler = ngx_http_twofa_redis_timeout;
    cmd->timer.data = cmd;
    cmd->timer.log = log;
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
        cmd->acked = 1;

        wait[0] = "WAIT";
        lens[0] = 4;
        wait[1] = "1";
        lens[1] = 1;
        wait[2] = (const char *) ms;
        lens[2] = ngx_sprintf(ms, "%M", rd->conf->replica_wait) - ms;

        if (redisAsyncCommandArgv(rd->ac, ngx_http_twofa_redis_wait_reply,
                                  cmd, 3, wait, lens)
            == REDIS_OK)
        {
            cmd->pending = 2;
            rd->outstanding++;

        } else {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "twofa redis: cannot queue WAIT after a command");
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                       "twofa redis: WAIT 1 %Mms follows",
                       rd->conf->replica_wait);
    }

    if (cln) {
        cln->handler = ngx_http_twofa_redis_detach;
        cln->data = cmd;
    }

    /* not cancelable: a graceful shutdown waits for the answer */
    ngx_add_timer(&cmd->timer, rd->conf->timeout);

    return NGX_OK;
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
     * A late reply was counted as a timeout already.  NOSCRIPT is the
     * expected answer of a Redis that has not seen a script yet (the
     * store sends it again as EVAL): an answer, not an error.  The
     * counters are the data's: the sentinels' questions are not counted.
     */

    if (!cmd->timed_out && !rd->conf->sentinel_node) {
        ngx_http_twofa_counters_redis(
            (reply == NULL
             || (reply->type == REDIS_REPLY_ERROR
                 && (reply->len < 8
                     || ngx_strncmp(reply->str, "NOSCRIPT", 8) != 0)))
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


static void
ngx_http_twofa_redis_connect(ngx_http_twofa_redis_t *rd)
{
    ngx_connection_t             *c;
    redisAsyncContext            *ac;
    ngx_http_twofa_redis_conf_t  *conf;

    conf = rd->conf;

    if (conf->unix_path.len) {
        ac = redisAsyncConnectUnix((const char *) conf->unix_path.data);

    } else if (rd->host.len) {
        ac = redisAsyncConnect((const char *) rd->host.data, rd->port);

    } else {
        /* Sentinel mode, no primary named: nothing to connect to */
        ngx_http_twofa_redis_retry(rd);
        return;
    }

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "twofa redis: cannot allocate a connection to \"%V\"",
                      &rd->addr);
        ngx_http_twofa_redis_retry(rd);
        return;
    }

    if (ac->err) {
        if (rd->failures == 0) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "twofa redis: cannot connect to \"%V\": %s",
                          &rd->addr, ac->errstr);
        }

        redisAsyncFree(ac);
        ngx_http_twofa_redis_retry(rd);
        return;
    }

    /*
     * A peer that vanishes without a word (a host gone, a black-holed
     * route) is found by keepalive, and sooner by the stall check.
     */

    if (conf->unix_path.len == 0 && redisEnableKeepAlive(&ac->c) != REDIS_OK)
    {
        /* hiredis marks the context failed: a plain retry */

        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "twofa redis: no TCP keepalive on \"%V\": %s",
                      &rd->addr, ac->errstr);
        redisAsyncFree(ac);
        ngx_http_twofa_redis_retry(rd);
        return;
    }

    c = ngx_get_connection(ac->c.fd, rd->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_http_twofa_redis_retry(rd);
        return;
    }

    c->data = rd;
    c->read->handler = ngx_http_twofa_redis_read_handler;
    c->write->handler = ngx_http_twofa_redis_write_handler;
    c->read->log = rd->log;
    c->write->log = rd->log;

    rd->ac = ac;
    rd->conn = c;
    rd->state = NGX_HTTP_TWOFA_REDIS_CONNECTING;
    rd->since = ngx_current_msec;
    rd->outstanding = 0;

    ac->data = rd;
    ac->ev.data = rd;
    ac->ev.addRead = ngx_http_twofa_redis_add_read;
    ac->ev.delRead = ngx_http_twofa_redis_del_read;
    ac->ev.addWrite = ngx_http_twofa_redis_add_write;
    ac->ev.delWrite = ngx_http_twofa_redis_del_write;
    ac->ev.cleanup = ngx_http_twofa_redis_cleanup;

    redisAsyncSetConnectCallback(ac, ngx_http_twofa_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, ngx_http_twofa_redis_on_disconnect);

    /* queued first, so they precede every command on this connection */

    if (ngx_http_twofa_redis_setup(rd, ac) != NGX_OK) {
        goto failed;
    }

    /*
     * The connect completes on the first write event; until then commands
     * are refused (the state is CONNECTING), so none waits for a server
     * that may be down.
     */

    ngx_http_twofa_redis_add_write(rd);

    if (!rd->watch.timer_set) {
        ngx_add_timer(&rd->watch, conf->timeout);
    }

    return;

failed:

    ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                  "twofa redis: cannot queue the setup of \"%V\"",
                  &rd->addr);

    redisAsyncFree(ac);
}


/*
 * What every connection sends first: AUTH and SELECT; ROLE in Sentinel
 * mode; then SUBSCRIBE on a subscriber, or a look at the eviction policy
 * on a command connection.  A sentinel gets AUTH (its own password) and
 * SUBSCRIBE only.
 */

static ngx_int_t
ngx_http_twofa_redis_setup(ngx_http_twofa_redis_t *rd,
    redisAsyncContext *ac)
{
    int                           argc;
    size_t                        lens[2];
    u_char                        db[NGX_INT_T_LEN];
    const char                   *argv[2];
    ngx_http_twofa_redis_conf_t  *conf;

    conf = rd->conf;

    if (conf->password.len) {
        argv[0] = "AUTH";
        lens[0] = 4;
        argv[1] = (const char *) conf->password.data;
        lens[1] = conf->password.len;
        argc = 2;

        if (redisAsyncCommandArgv(ac, ngx_http_twofa_redis_setup_reply,
                                  (void *) "AUTH", argc, argv, lens)
            != REDIS_OK)
        {
            return NGX_ERROR;
        }
    }

    if (conf->sentinels && ngx_http_twofa_redis_role(rd) != NGX_OK) {
        return NGX_ERROR;
    }

    if (conf->db && !conf->sentinel_node) {
        argv[0] = "SELECT";
        lens[0] = 6;
        argv[1] = (const char *) db;
        lens[1] = ngx_sprintf(db, "%ui", conf->db) - db;
        argc = 2;

        if (redisAsyncCommandArgv(ac, ngx_http_twofa_redis_setup_reply,
                                  (void *) "SELECT", argc, argv, lens)
            != REDIS_OK)
        {
            return NGX_ERROR;
        }
    }

    if (rd->channel.len) {
        argv[0] = "SUBSCRIBE";
        lens[0] = 9;
        argv[1] = (const char *) rd->channel.data;
        lens[1] = rd->channel.len;

        if (redisAsyncCommandArgv(ac, ngx_http_twofa_redis_message, rd, 2,
                                  argv, lens)
            != REDIS_OK)
        {
            return NGX_ERROR;
        }

    } else if (!conf->sentinel_node) {
        /*
         * An evicting Redis drops what it likes when memory runs short:
         * enrollments, failure counters, the deployment mark.  Say so.
         */

        argv[0] = "INFO";
        lens[0] = 4;
        argv[1] = "memory";
        lens[1] = 6;

        if (redisAsyncCommandArgv(ac, ngx_http_twofa_redis_info_reply, NULL,
                                  2, argv, lens)
            != REDIS_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_http_twofa_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_twofa_redis_t *rd = ac->data;

    if (status != REDIS_OK) {
        /* hiredis frees the context right after: cleanup and retry */

        if (rd->failures == 0) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "twofa redis: cannot connect to \"%V\": %s",
                          &rd->addr, ac->errstr);
        }

        return;
    }

    if (rd->failures) {
        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "twofa redis: connected to \"%V\" again after %ui "
                      "attempts", &rd->addr, rd->failures);

    } else {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "twofa redis: connected to \"%V\"", &rd->addr);
    }

    rd->failures = 0;
    rd->backoff = NGX_HTTP_TWOFA_REDIS_BACKOFF_MIN;

    /* in Sentinel mode, commands wait for ROLE to say "master" */

    if (rd->conf->sentinels) {
        rd->state = NGX_HTTP_TWOFA_REDIS_VERIFYING;
        rd->since = ngx_current_msec;
        return;
    }

    rd->state = NGX_HTTP_TWOFA_REDIS_CONNECTED;
    ngx_http_twofa_redis_gauge(rd, 1);
}


/*
 * ROLE of the node a sentinel named: ["master", offset, [replica...]].
 * Anything else (a replica, a sentinel's stale answer): leave it, and let
 * the sentinels be asked again.
 */

static void
ngx_http_twofa_redis_role_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    ngx_http_twofa_redis_t *rd = privdata;

    ngx_uint_t   replicas;
    redisReply  *reply = r, *role;

    if (rd->outstanding) {
        rd->outstanding--;
    }

    if (reply == NULL || rd->exiting) {
        return;
    }

    role = (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1)
           ? reply->element[0] : NULL;

    if (role == NULL || role->type != REDIS_REPLY_STRING || role->len != 6
        || ngx_strncmp(role->str, "master", 6) != 0)
    {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "twofa redis: \"%V\" was named the primary of "
                      "\"%V\" but ROLE says \"%*s\": asking the "
                      "sentinels again", &rd->addr, &rd->conf->service,
                      (size_t) (role && role->str ? role->len : 0),
                      role && role->str ? role->str : "");

        ngx_http_twofa_redis_close(rd);
        return;
    }

    replicas = (reply->elements >= 3
                && reply->element[2]->type == REDIS_REPLY_ARRAY)
               ? reply->element[2]->elements : 0;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "twofa redis: ROLE of \"%V\": master, %ui replicas",
                   &rd->addr, replicas);

    if (rd->state == NGX_HTTP_TWOFA_REDIS_VERIFYING) {
        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "twofa redis: using \"%V\", primary of \"%V\", "
                      "replicas: %ui", &rd->addr, &rd->conf->service,
                      replicas);

        rd->state = NGX_HTTP_TWOFA_REDIS_CONNECTED;
        ngx_http_twofa_redis_gauge(rd, 1);

    } else if (replicas != rd->replicas) {
        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "twofa redis: the primary \"%V\" now has replicas: "
                      "%ui", &rd->addr, replicas);

    } else {
        return;
    }

    rd->replicas = replicas;

    if (replicas == 0 && rd->conf->replica_wait && !rd->channel.len) {
        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "twofa redis: \"%V\" has no replica: codes and "
                      "releases are refused until one acknowledges them",
                      &rd->addr);
    }
}


/*
 * ROLE, in Sentinel mode: first on every connection, then on an idle
 * command connection at each stall check, so that a primary that was
 * demoted, or stopped answering, is found without waiting for a login.
 * Counted as an answer due, for the stall check.
 */

static ngx_int_t
ngx_http_twofa_redis_role(ngx_http_twofa_redis_t *rd)
{
    size_t       lens[1];
    const char  *argv[1];

    argv[0] = "ROLE";
    lens[0] = 4;

    if (redisAsyncCommandArgv(rd->ac, ngx_http_twofa_redis_role_reply, rd, 1,
                              argv, lens)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    if (rd->outstanding++ == 0) {
        rd->last_read = ngx_current_msec;
    }

    return NGX_OK;
}


/* the connection gauges count the data connections, not the sentinels */

static void
ngx_http_twofa_redis_gauge(ngx_http_twofa_redis_t *rd, uint64_t up)
{
    if (rd->conf->sentinel_node) {
        return;
    }

    ngx_http_twofa_gauge(rd->channel.len
                         ? NGX_HTTP_TWOFA_M_REDIS_UP_SUBSCRIBER
                         : NGX_HTTP_TWOFA_M_REDIS_UP_COMMAND, up);
}


static void
ngx_http_twofa_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    ngx_http_twofa_redis_t *rd = ac->data;

    if (!rd->exiting) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "twofa redis: connection to \"%V\" lost: %s",
                      &rd->addr,
                      ac->errstr ? ac->errstr : "closed");
    }
}


static void
ngx_http_twofa_redis_setup_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    ngx_http_twofa_redis_t *rd = ac->data;

    redisReply  *reply = r;

    if (reply && reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "twofa redis: %s on \"%V\" failed: %*s",
                      (char *) privdata, &rd->addr,
                      (size_t) reply->len, reply->str);
    }
}


static void
ngx_http_twofa_redis_info_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    ngx_http_twofa_redis_t *rd = ac->data;

    u_char      *p, *end, *eol;
    ngx_str_t    policy;
    redisReply  *reply = r;

    if (reply == NULL || reply->type != REDIS_REPLY_STRING) {
        return;
    }

    p = (u_char *) reply->str;
    end = p + reply->len;

    p = ngx_strlcasestrn(p, end, (u_char *) "maxmemory_policy:",
                         sizeof("maxmemory_policy:") - 2);
    if (p == NULL) {
        return;
    }

    policy.data = p + sizeof("maxmemory_policy:") - 1;

    for (eol = policy.data; eol < end && *eol != '\r' && *eol != '\n'; eol++)
    {
        /* void */
    }

    policy.len = eol - policy.data;

    if (policy.len == 10 && ngx_strncmp(policy.data, "noeviction", 10) == 0) {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                  "twofa redis: \"%V\" runs with maxmemory-policy \"%V\": "
                  "when memory runs short it evicts enrollments, failure "
                  "counters and holds; run it with \"noeviction\"",
                  &rd->addr, &policy);
}


/*
 * Replies on a subscriber connection: ["subscribe", channel, n] once
 * subscribed, then ["message", channel, payload]; NULL when the context
 * goes away.
 */

static void
ngx_http_twofa_redis_message(redisAsyncContext *ac, void *r, void *privdata)
{
    ngx_http_twofa_redis_t *rd = privdata;

    ngx_str_t    payload;
    redisReply  *reply = r, *kind;

    if (reply == NULL || rd->exiting || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 3)
    {
        return;
    }

    kind = reply->element[0];

    if (kind->type != REDIS_REPLY_STRING) {
        return;
    }

    if (kind->len == 9 && ngx_strncmp(kind->str, "subscribe", 9) == 0) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "twofa redis: subscribed to \"%V\"", &rd->channel);
        rd->on_message(rd->data, NULL);
        return;
    }

    if (kind->len == 7 && ngx_strncmp(kind->str, "message", 7) == 0
        && reply->element[2]->type == REDIS_REPLY_STRING)
    {
        payload.data = (u_char *) reply->element[2]->str;
        payload.len = reply->element[2]->len;
        rd->on_message(rd->data, &payload);
    }
}


/*
 * The connection lives until hiredis frees its context: on a disconnect,
 * a failed connect, or destroy.  This hook is called exactly once then,
 * before hiredis closes the socket: forget the events, give the connection
 * object back, and plan a reconnect.
 */

static void
ngx_http_twofa_redis_cleanup(void *data)
{
    ngx_http_twofa_redis_t *rd = data;

    ngx_connection_t  *c;

    c = rd->conn;

    rd->ac = NULL;
    rd->conn = NULL;
    rd->state = NGX_HTTP_TWOFA_REDIS_DISCONNECTED;
    rd->outstanding = 0;
    ngx_http_twofa_redis_gauge(rd, 0);

    if (rd->flush.posted) {
        ngx_delete_posted_event(&rd->flush);
    }

    if (rd->watch.timer_set) {
        ngx_del_timer(&rd->watch);
    }

    if (c) {
        if (c->read->timer_set) {
            ngx_del_timer(c->read);
        }

        if (c->write->timer_set) {
            ngx_del_timer(c->write);
        }

        if (c->read->posted) {
            ngx_delete_posted_event(c->read);
        }

        if (c->write->posted) {
            ngx_delete_posted_event(c->write);
        }

        /* hiredis closes the fd right after; epoll forgets it then */

        if (c->read->active) {
            ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
        }

        if (c->write->active) {
            ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
        }

        ngx_free_connection(c);

        /* stale events of this fd must see a closed connection */
        c->fd = (ngx_socket_t) -1;
    }

    if (!rd->exiting && !ngx_exiting && !ngx_terminate && !ngx_quit
        && !rd->switching)
    {
        ngx_http_twofa_redis_retry(rd);
    }
}


/*
 * After a failed connect or a lost connection: the same address again
 * after a backoff, or in Sentinel mode no address until a sentinel names
 * one (the lost handler asks them).
 */

static void
ngx_http_twofa_redis_retry(ngx_http_twofa_redis_t *rd)
{
    if (rd->conf->sentinels == NULL) {
        ngx_http_twofa_redis_schedule(rd);
        return;
    }

    /* rd->addr stays: the logs of this loss still name the node */

    rd->host.len = 0;

    if (rd->lost && !rd->exiting) {
        rd->lost(rd->lost_data, rd);
    }
}


/*
 * Drops the connection: its commands fail (their callbacks run with
 * NULL), then the cleanup hook retries.  Inside a hiredis callback the
 * context is freed once the callback returns.
 */

static void
ngx_http_twofa_redis_close(ngx_http_twofa_redis_t *rd)
{
    if (rd->ac == NULL) {
        return;
    }

    /* no new command meanwhile */
    rd->state = NGX_HTTP_TWOFA_REDIS_DISCONNECTED;

    redisAsyncFree(rd->ac);
}


/*
 * The stall check: a connection with commands waiting and nothing read
 * for a whole timeout, or one that did not become usable within it, is a
 * peer that stopped answering without closing: close it, so that its
 * commands fail now and the next ones go to a live node.
 */

static void
ngx_http_twofa_redis_watch_handler(ngx_event_t *ev)
{
    ngx_http_twofa_redis_t *rd = ev->data;

    ngx_msec_t  timeout;

    if (rd->ac == NULL || rd->exiting) {
        return;
    }

    timeout = rd->conf->timeout;

    if (rd->state != NGX_HTTP_TWOFA_REDIS_CONNECTED
        && ngx_current_msec - rd->since >= timeout)
    {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "twofa redis: \"%V\" not ready within %Mms: closed",
                      &rd->addr, timeout);
        ngx_http_twofa_redis_close(rd);
        return;
    }

    if (rd->outstanding && ngx_current_msec - rd->last_read >= timeout) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "twofa redis: \"%V\" stalled: %ui answers due, "
                      "nothing read for %Mms: closed",
                      &rd->addr, rd->outstanding,
                      ngx_current_msec - rd->last_read);
        ngx_http_twofa_redis_close(rd);
        return;
    }

    if (rd->conf->sentinels && rd->channel.len == 0 && rd->outstanding == 0
        && rd->state == NGX_HTTP_TWOFA_REDIS_CONNECTED
        && ngx_http_twofa_redis_role(rd) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "twofa redis: cannot queue ROLE on \"%V\"", &rd->addr);
    }

    ngx_add_timer(&rd->watch, timeout / 2 ? timeout / 2 : 1);
}


static void
ngx_http_twofa_redis_schedule(ngx_http_twofa_redis_t *rd)
{
    ngx_msec_t  delay;

    if (rd->exiting || rd->reconnect.timer_set) {
        return;
    }

    rd->failures++;

    /*
     * Exponential backoff with jitter: workers that lost Redis together
     * come back spread out, not as a storm.
     */

    delay = rd->backoff / 2 + (ngx_msec_t) ngx_random() % (rd->backoff / 2 + 1);

    rd->backoff *= 2;
    if (rd->backoff > NGX_HTTP_TWOFA_REDIS_BACKOFF_MAX) {
        rd->backoff = NGX_HTTP_TWOFA_REDIS_BACKOFF_MAX;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "twofa redis: reconnect in %Mms (attempt %ui)",
                   delay, rd->failures);

    ngx_add_timer(&rd->reconnect, delay);
}


static void
ngx_http_twofa_redis_reconnect_handler(ngx_event_t *ev)
{
    ngx_http_twofa_redis_t *rd = ev->data;

    if (rd->exiting || ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_http_twofa_redis_connect(rd);
}


/*
 * Read and write events: the socket is registered level-triggered, because
 * hiredis reads at most 16 KiB per call and does not report EAGAIN; with
 * nginx's usual edge-triggered epoll, the rest of a large reply would wait
 * for data that never comes.
 */

static void
ngx_http_twofa_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t        *c;
    ngx_http_twofa_redis_t  *rd;

    c = ev->data;
    rd = c->data;

    if (rd->ac) {
        rd->last_read = ngx_current_msec;
        redisAsyncHandleRead(rd->ac);
    }
}


static void
ngx_http_twofa_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t        *c;
    ngx_http_twofa_redis_t  *rd;

    c = ev->data;
    rd = c->data;

    ngx_http_twofa_redis_write(rd);
}


/*
 * Commands issued while handling one batch of events are written together
 * once the batch is done (a posted event): pipelining without a write
 * event per command.
 */

static void
ngx_http_twofa_redis_flush_handler(ngx_event_t *ev)
{
    ngx_http_twofa_redis_write(ev->data);
}


/* a write that cannot finish asks for the socket (add_write) */

static void
ngx_http_twofa_redis_write(ngx_http_twofa_redis_t *rd)
{
    if (rd->ac) {
        rd->flushing = 1;
        redisAsyncHandleWrite(rd->ac);
        rd->flushing = 0;
    }
}


static void
ngx_http_twofa_redis_add_read(void *data)
{
    ngx_http_twofa_redis_event(data, 0, 1);
}


static void
ngx_http_twofa_redis_del_read(void *data)
{
    ngx_http_twofa_redis_event(data, 0, 0);
}


static void
ngx_http_twofa_redis_add_write(void *data)
{
    ngx_http_twofa_redis_t *rd = data;

    if (rd->conn == NULL) {
        return;
    }

    /*
     * While connecting, and when a write could not finish, wait for the
     * socket; otherwise write after the current batch of events.
     */

    if (rd->state == NGX_HTTP_TWOFA_REDIS_CONNECTING || rd->flushing) {
        ngx_http_twofa_redis_event(rd, 1, 1);
        return;
    }

    if (!rd->flush.posted && !rd->conn->write->active) {
        ngx_post_event(&rd->flush, &ngx_posted_events);
    }
}


static void
ngx_http_twofa_redis_del_write(void *data)
{
    ngx_http_twofa_redis_event(data, 1, 0);
}


/* hiredis's four event hooks in one: a level-triggered event on or off */

static void
ngx_http_twofa_redis_event(ngx_http_twofa_redis_t *rd, ngx_uint_t write,
    ngx_uint_t on)
{
    ngx_int_t     event;
    ngx_event_t  *ev;

    if (rd->conn == NULL) {
        return;
    }

    ev = write ? rd->conn->write : rd->conn->read;
    event = write ? NGX_WRITE_EVENT : NGX_READ_EVENT;

    if (on && !ev->active) {
        if (ngx_add_event(ev, event, NGX_LEVEL_EVENT) != NGX_OK) {
            ngx_log_error(NGX_LOG_ALERT, rd->log, 0,
                          "twofa redis: cannot add a %s event",
                          write ? "write" : "read");
        }

    } else if (!on && ev->active) {
        ngx_del_event(ev, event, NGX_LEVEL_EVENT);
    }
}
