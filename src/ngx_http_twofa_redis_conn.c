/*
 * A Redis connection's life on nginx's event loop (one per worker,
 * pipelined): connect, setup (AUTH, SELECT, ROLE, SUBSCRIBE), reconnects
 * with capped backoff, the stall check.  Commands on it are
 * ngx_http_twofa_redis.c's, its events ngx_http_twofa_redis_event.c's.
 *
 * hiredis owns the socket and closes it; nginx's connection object only
 * carries the events and is returned to the free list in the cleanup
 * hook, the one place hiredis tells us the context is going away.
 *
 * In Sentinel mode (conf->sentinels), and likewise in Cluster mode
 * (conf->cluster: the slot map names the nodes, ngx_http_twofa_cluster.c),
 * a client has no address of its own:
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
#include "ngx_http_twofa_redis.h"


static void ngx_http_twofa_redis_connect(ngx_http_twofa_redis_t *rd);
static redisAsyncContext *ngx_http_twofa_redis_dial(
    ngx_http_twofa_redis_t *rd);
static ngx_int_t ngx_http_twofa_redis_setup(ngx_http_twofa_redis_t *rd,
    redisAsyncContext *ac);
static void ngx_http_twofa_redis_schedule(ngx_http_twofa_redis_t *rd);
static void ngx_http_twofa_redis_retry(ngx_http_twofa_redis_t *rd);
static void ngx_http_twofa_redis_watch_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_twofa_redis_role(ngx_http_twofa_redis_t *rd);
static void ngx_http_twofa_redis_role_reply(redisAsyncContext *ac,
    void *r, void *privdata);
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
static void ngx_http_twofa_redis_cleanup(void *data);



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

    /*
     * in Sentinel and Cluster modes, the address comes with
     * ngx_http_twofa_redis_use()
     */

    rd->addr = conf->addr;
    rd->host = conf->host;
    rd->port = conf->port;

    ngx_http_twofa_event_init(&rd->reconnect,
                              ngx_http_twofa_redis_reconnect_handler, rd,
                              cycle->log);
    ngx_http_twofa_event_init(&rd->flush, ngx_http_twofa_redis_flush_handler,
                              rd, cycle->log);
    ngx_http_twofa_event_init(&rd->watch, ngx_http_twofa_redis_watch_handler,
                              rd, cycle->log);

    /* a pending reconnect or stall check must not hold up a shutdown */
    rd->reconnect.cancelable = 1;
    rd->watch.cancelable = 1;

    if (conf->sentinels == NULL && conf->cluster == NULL) {
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


/*
 * Cluster mode: a node the map does not name (a seed that is a replica,
 * a primary demoted) is left: its connection closed, without telling
 * the lost handler, and no address kept until use() gives one.  Inside
 * one of its own callbacks hiredis frees the context once it returns:
 * the flag waits for the cleanup hook.
 */

void
ngx_http_twofa_redis_leave(ngx_http_twofa_redis_t *rd)
{
    rd->host.len = 0;

    if (rd->ac == NULL || rd->exiting) {
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "twofa redis: leaving \"%V\", not in the map",
                   &rd->addr);

    rd->leaving = 1;
    rd->state = NGX_HTTP_TWOFA_REDIS_DISCONNECTED;

    redisAsyncFree(rd->ac);
}


/* 1 when the connection takes commands now */

ngx_uint_t
ngx_http_twofa_redis_ready(ngx_http_twofa_redis_t *rd)
{
    return rd->ac && rd->state == NGX_HTTP_TWOFA_REDIS_CONNECTED;
}


void
ngx_http_twofa_redis_destroy(ngx_http_twofa_redis_t *rd)
{
    ngx_http_twofa_redis_cmd_t  *cmd;

    if (rd == NULL) {
        return;
    }

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


/*
 * A hiredis context connecting to the address of the moment, with TCP
 * keepalive; NULL when there is none to connect to or it failed at once.
 */

static redisAsyncContext *
ngx_http_twofa_redis_dial(ngx_http_twofa_redis_t *rd)
{
    redisAsyncContext            *ac;
    ngx_http_twofa_redis_conf_t  *conf;

    conf = rd->conf;

    if (conf->unix_path.len) {
        ac = redisAsyncConnectUnix((const char *) conf->unix_path.data);

    } else if (rd->host.len) {
        ac = redisAsyncConnect((const char *) rd->host.data, rd->port);

    } else {
        /* Sentinel mode, no primary named: nothing to connect to */
        return NULL;
    }

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "twofa redis: cannot allocate a connection to \"%V\"",
                      &rd->addr);
        return NULL;
    }

    if (ac->err) {
        if (rd->failures == 0) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "twofa redis: cannot connect to \"%V\": %s",
                          &rd->addr, ac->errstr);
        }

        redisAsyncFree(ac);
        return NULL;
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
        return NULL;
    }

    return ac;
}


static void
ngx_http_twofa_redis_connect(ngx_http_twofa_redis_t *rd)
{
    ngx_connection_t             *c;
    redisAsyncContext            *ac;
    ngx_http_twofa_redis_conf_t  *conf;

    conf = rd->conf;

    ac = ngx_http_twofa_redis_dial(rd);
    if (ac == NULL) {
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


/*
 * The connection gauges count the data connections, not the sentinels:
 * one per worker, or in a cluster one per primary, so each connection
 * adds itself once up and takes itself away once down.
 */

static void
ngx_http_twofa_redis_gauge(ngx_http_twofa_redis_t *rd, uint64_t up)
{
    ngx_http_twofa_metric_e  m;

    if (rd->conf->sentinel_node || rd->up == up
        || ngx_http_twofa_counters == NULL)
    {
        return;
    }

    rd->up = up ? 1 : 0;

    m = rd->channel.len ? NGX_HTTP_TWOFA_M_REDIS_UP_SUBSCRIBER
                        : NGX_HTTP_TWOFA_M_REDIS_UP_COMMAND;

    if (up) {
        ngx_http_twofa_counters[m]++;

    } else if (ngx_http_twofa_counters[m]) {
        ngx_http_twofa_counters[m]--;
    }
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

    if (rd->leaving) {
        /* left on purpose (a node out of the map): nothing was lost */
        rd->leaving = 0;
        return;
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
    if (rd->conf->sentinels == NULL && rd->conf->cluster == NULL) {
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

void
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
