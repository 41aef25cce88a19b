/*
 * twofa-edge: the primary of a service, found through Redis Sentinel
 * (twofa_redis sentinel=... service=...), per worker.
 *
 * Each sentinel gets two connections of the redis client: one for
 * SENTINEL GET-MASTER-ADDR-BY-NAME, one subscribed to +switch-master.
 * The sentinels are asked in turn, the last one that answered first;
 * the address named is handed to every attached client (the command
 * connection, the revocation subscriber), which checks ROLE itself.
 * They are asked again when an attached client lost its primary (closed,
 * refused, stalled, READONLY, MASTERDOWN, ROLE not master), and at once
 * on a +switch-master event.  Nothing here blocks: the replies come on
 * the event loop, each command has the client's timeout, and the
 * addresses are IP literals (anything else a sentinel names is refused:
 * resolving it would block the worker).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"


#define NGX_HTTP_TWOFA_SENTINEL_BACKOFF_MIN   50
#define NGX_HTTP_TWOFA_SENTINEL_BACKOFF_MAX   1000

/* a primary kept this long was a good one: the next loss asks at once */
#define NGX_HTTP_TWOFA_SENTINEL_STABLE        5000


typedef struct {
    ngx_http_twofa_redis_conf_t    *conf;
    ngx_http_twofa_redis_t         *query;     /* commands */
    ngx_http_twofa_redis_t         *events;    /* +switch-master */
} ngx_http_twofa_sentinel_node_t;


struct ngx_http_twofa_sentinel_s {
    ngx_http_twofa_discovery_t      discovery; /* first: GET-MASTER-ADDR */
    ngx_http_twofa_redis_conf_t    *conf;
    ngx_http_twofa_sentinel_node_t *nodes;
    ngx_msec_t                      named_at;  /* when a primary was named */
    ngx_str_t                       host;      /* named, or empty */
    in_port_t                       port;
    u_char                          host_buf[NGX_SOCKADDR_STRLEN + 1];
    ngx_log_t                      *log;
};


static ngx_int_t ngx_http_twofa_sentinel_ask(void *data, ngx_uint_t i);
static void ngx_http_twofa_sentinel_reply(void *data, redisReply *reply);
static ngx_int_t ngx_http_twofa_sentinel_parse(ngx_http_twofa_sentinel_t *sn,
    redisReply *reply, ngx_str_t *host, in_port_t *port);
static void ngx_http_twofa_sentinel_event(void *data, ngx_str_t *payload);
static void ngx_http_twofa_sentinel_lost(void *data,
    ngx_http_twofa_redis_t *rd);


static ngx_str_t  ngx_http_twofa_sentinel_channel =
    ngx_string("+switch-master");

static const ngx_http_twofa_discovery_spec_t
    ngx_http_twofa_sentinel_discovery = {
    "sentinel",
    NGX_HTTP_TWOFA_SENTINEL_BACKOFF_MIN,
    NGX_HTTP_TWOFA_SENTINEL_BACKOFF_MAX,
    ngx_http_twofa_sentinel_ask,
    NULL,
    ngx_http_twofa_sentinel_lost
};


ngx_http_twofa_sentinel_t *
ngx_http_twofa_sentinel_create(ngx_cycle_t *cycle,
    ngx_http_twofa_redis_conf_t *conf)
{
    ngx_uint_t                    i;
    ngx_http_twofa_sentinel_t    *sn;
    ngx_http_twofa_redis_conf_t  *node;

    sn = ngx_http_twofa_discovery_create(cycle,
                                         &ngx_http_twofa_sentinel_discovery,
                                         sizeof(ngx_http_twofa_sentinel_t));
    if (sn == NULL) {
        return NULL;
    }

    sn->conf = conf;
    sn->log = cycle->log;
    sn->host.data = sn->host_buf;

    sn->discovery.nnodes = conf->sentinels->nelts;
    sn->nodes = ngx_pcalloc(cycle->pool,
                            sn->discovery.nnodes
                            * sizeof(ngx_http_twofa_sentinel_node_t));
    if (sn->nodes == NULL) {
        return NULL;
    }

    node = conf->sentinels->elts;

    for (i = 0; i < sn->discovery.nnodes; i++) {
        sn->nodes[i].conf = &node[i];

        sn->nodes[i].query = ngx_http_twofa_discovery_own(&sn->discovery,
                                 ngx_http_twofa_redis_create(cycle, &node[i]));

        sn->nodes[i].events = ngx_http_twofa_discovery_own(&sn->discovery,
                                  ngx_http_twofa_redis_subscriber(cycle,
                                      &node[i],
                                      &ngx_http_twofa_sentinel_channel,
                                      ngx_http_twofa_sentinel_event, sn));

        if (sn->nodes[i].query == NULL || sn->nodes[i].events == NULL) {
            return NULL;
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, sn->log, 0,
                   "twofa sentinel: %ui sentinels for \"%V\"",
                   sn->discovery.nnodes, &conf->service);

    return sn;
}


/* a client that follows the primary: told now if one is known */

void
ngx_http_twofa_sentinel_attach(ngx_http_twofa_sentinel_t *sn,
    ngx_http_twofa_redis_t *rd)
{
    if (ngx_http_twofa_discovery_attach(&sn->discovery, rd) == NGX_OK
        && sn->host.len)
    {
        ngx_http_twofa_redis_use(rd, &sn->host, sn->port);
    }
}


void
ngx_http_twofa_sentinel_destroy(ngx_http_twofa_sentinel_t *sn)
{
    if (sn) {
        ngx_http_twofa_discovery_stop(&sn->discovery);
    }
}


/* one question, to sentinel i: NGX_OK if it went */

static ngx_int_t
ngx_http_twofa_sentinel_ask(void *data, ngx_uint_t i)
{
    ngx_http_twofa_sentinel_t *sn = data;

    size_t       lens[3];
    const char  *argv[3];

    argv[0] = "SENTINEL";
    lens[0] = 8;
    argv[1] = "get-master-addr-by-name";
    lens[1] = 23;
    argv[2] = (const char *) sn->conf->service.data;
    lens[2] = sn->conf->service.len;

    if (ngx_http_twofa_redis_command(sn->nodes[i].query, NULL, sn->log,
                                     ngx_http_twofa_sentinel_reply, sn,
                                     3, argv, lens)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, sn->log, 0,
                   "twofa sentinel: asking \"%V\" for \"%V\"",
                   &sn->nodes[i].conf->addr, &sn->conf->service);

    return NGX_OK;
}


static void
ngx_http_twofa_sentinel_reply(void *data, redisReply *reply)
{
    ngx_http_twofa_sentinel_t *sn = data;

    in_port_t                        port;
    ngx_str_t                        host;
    ngx_uint_t                       i;
    ngx_http_twofa_redis_t         **rd;
    ngx_http_twofa_sentinel_node_t  *node;

    if (!ngx_http_twofa_discovery_answered(&sn->discovery)) {
        return;
    }

    node = &sn->nodes[sn->discovery.next];

    if (ngx_http_twofa_sentinel_parse(sn, reply, &host, &port) != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, sn->log, 0,
                      "twofa sentinel: \"%V\" names no primary of \"%V\"",
                      &node->conf->addr, &sn->conf->service);

        ngx_http_twofa_discovery_skip(&sn->discovery);
        return;
    }

    if (sn->host.len != host.len || sn->port != port
        || ngx_strncmp(sn->host.data, host.data, host.len) != 0)
    {
        ngx_log_error(NGX_LOG_NOTICE, sn->log, 0,
                      "twofa sentinel: \"%V\" names \"%V:%d\" the primary "
                      "of \"%V\"", &node->conf->addr, &host, (int) port,
                      &sn->conf->service);
    }

    ngx_memcpy(sn->host_buf, host.data, host.len);
    sn->host.len = host.len;
    sn->port = port;
    sn->named_at = ngx_current_msec;

    rd = sn->discovery.clients.elts;

    for (i = 0; i < sn->discovery.clients.nelts; i++) {
        ngx_http_twofa_redis_use(rd[i], &sn->host, sn->port);
    }

    (void) ngx_http_twofa_discovery_again(&sn->discovery, 0);
}


/*
 * [ip, port], the ip a literal: a name would need DNS, which blocks;
 * NGX_DECLINED for anything else (nil: the sentinel does not know the
 * service; NULL: no answer in time, or the connection was lost).
 */

static ngx_int_t
ngx_http_twofa_sentinel_parse(ngx_http_twofa_sentinel_t *sn,
    redisReply *reply, ngx_str_t *host, in_port_t *port)
{
    ngx_int_t    n;
    redisReply  *ip, *p;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2)
    {
        return NGX_DECLINED;
    }

    ip = reply->element[0];
    p = reply->element[1];

    if (ip->type != REDIS_REPLY_STRING || p->type != REDIS_REPLY_STRING) {
        return NGX_DECLINED;
    }

    n = ngx_atoi((u_char *) p->str, p->len);

    if (ngx_http_twofa_discovery_address(&sn->discovery, (u_char *) ip->str,
                                         ip->len, n)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    host->data = (u_char *) ip->str;
    host->len = ip->len;
    *port = (in_port_t) n;

    return NGX_OK;
}


/*
 * +switch-master: "NAME old-ip old-port new-ip new-port", from any
 * sentinel: ask at once (the event says what one sentinel saw; the
 * question goes through the same checks as any other).  payload NULL:
 * (re)subscribed, events may have been missed.
 */

static void
ngx_http_twofa_sentinel_event(void *data, ngx_str_t *payload)
{
    ngx_http_twofa_sentinel_t *sn = data;

    ngx_str_t  *svc;

    if (payload == NULL) {
        if (sn->host.len == 0) {
            ngx_http_twofa_discovery_schedule(&sn->discovery, 0);
        }

        return;
    }

    svc = &sn->conf->service;

    if (payload->len <= svc->len || payload->data[svc->len] != ' '
        || ngx_strncmp(payload->data, svc->data, svc->len) != 0)
    {
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, sn->log, 0,
                  "twofa sentinel: +switch-master %V", payload);

    ngx_http_twofa_discovery_now(&sn->discovery);
}


/*
 * An attached client lost its primary: forget it (no client may go back
 * there unless a sentinel names it again) and ask.  A primary that served
 * a while is asked about at once; one lost right after it was named (the
 * sentinels do not know yet that it died) is asked about after a growing
 * backoff, so that a dead primary is not hammered.
 */

static void
ngx_http_twofa_sentinel_lost(void *data, ngx_http_twofa_redis_t *rd)
{
    ngx_http_twofa_sentinel_t *sn = data;

    if (sn->discovery.exiting) {
        return;
    }

    if (sn->host.len) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, sn->log, 0,
                       "twofa sentinel: lost \"%V\"", &sn->host);
    }

    sn->host.len = 0;

    if (ngx_current_msec - sn->named_at >= NGX_HTTP_TWOFA_SENTINEL_STABLE) {
        ngx_http_twofa_discovery_now(&sn->discovery);
        return;
    }

    ngx_http_twofa_discovery_backoff(&sn->discovery);
}
