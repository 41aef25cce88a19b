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
    ngx_http_twofa_redis_conf_t    *conf;
    ngx_http_twofa_sentinel_node_t *nodes;
    ngx_uint_t                      nnodes;
    ngx_array_t                     clients;   /* ngx_http_twofa_redis_t * */
    ngx_event_t                     ask;       /* timer: ask them */
    ngx_msec_t                      backoff;
    ngx_msec_t                      named_at;  /* when a primary was named */
    ngx_uint_t                      next;      /* the sentinel asked first */
    ngx_uint_t                      tried;     /* asked in this round */
    ngx_str_t                       host;      /* named, or empty */
    in_port_t                       port;
    u_char                          host_buf[NGX_SOCKADDR_STRLEN + 1];
    ngx_log_t                      *log;
    unsigned                        asking:1;  /* a question in flight */
    unsigned                        again:1;   /* news came meanwhile */
    unsigned                        exiting:1;
};


static void ngx_http_twofa_sentinel_schedule(ngx_http_twofa_sentinel_t *sn,
    ngx_msec_t delay);
static void ngx_http_twofa_sentinel_ask_handler(ngx_event_t *ev);
static void ngx_http_twofa_sentinel_ask_next(ngx_http_twofa_sentinel_t *sn);
static void ngx_http_twofa_sentinel_reply(void *data, redisReply *reply);
static ngx_int_t ngx_http_twofa_sentinel_parse(ngx_http_twofa_sentinel_t *sn,
    redisReply *reply, ngx_str_t *host, in_port_t *port);
static void ngx_http_twofa_sentinel_event(void *data, ngx_str_t *payload);
static void ngx_http_twofa_sentinel_lost(void *data,
    ngx_http_twofa_redis_t *rd);


static ngx_str_t  ngx_http_twofa_sentinel_channel =
    ngx_string("+switch-master");


ngx_http_twofa_sentinel_t *
ngx_http_twofa_sentinel_create(ngx_cycle_t *cycle,
    ngx_http_twofa_redis_conf_t *conf)
{
    ngx_uint_t                    i;
    ngx_http_twofa_sentinel_t    *sn;
    ngx_http_twofa_redis_conf_t  *node;

    sn = ngx_pcalloc(cycle->pool, sizeof(ngx_http_twofa_sentinel_t));
    if (sn == NULL) {
        return NULL;
    }

    if (ngx_array_init(&sn->clients, cycle->pool, 2,
                       sizeof(ngx_http_twofa_redis_t *))
        != NGX_OK)
    {
        return NULL;
    }

    sn->conf = conf;
    sn->log = cycle->log;
    sn->backoff = NGX_HTTP_TWOFA_SENTINEL_BACKOFF_MIN;
    sn->host.data = sn->host_buf;

    sn->ask.handler = ngx_http_twofa_sentinel_ask_handler;
    sn->ask.data = sn;
    sn->ask.log = cycle->log;
    sn->ask.cancelable = 1;

    sn->nnodes = conf->sentinels->nelts;
    sn->nodes = ngx_pcalloc(cycle->pool,
                            sn->nnodes
                            * sizeof(ngx_http_twofa_sentinel_node_t));
    if (sn->nodes == NULL) {
        return NULL;
    }

    node = conf->sentinels->elts;

    for (i = 0; i < sn->nnodes; i++) {
        sn->nodes[i].conf = &node[i];

        sn->nodes[i].query = ngx_http_twofa_redis_create(cycle, &node[i]);
        if (sn->nodes[i].query == NULL) {
            return NULL;
        }

        sn->nodes[i].events = ngx_http_twofa_redis_subscriber(cycle,
                                  &node[i], &ngx_http_twofa_sentinel_channel,
                                  ngx_http_twofa_sentinel_event, sn);
        if (sn->nodes[i].events == NULL) {
            return NULL;
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, sn->log, 0,
                   "twofa sentinel: %ui sentinels for \"%V\"",
                   sn->nnodes, &conf->service);

    /* the connections to the sentinels are being made: ask soon */

    ngx_http_twofa_sentinel_schedule(sn, NGX_HTTP_TWOFA_SENTINEL_BACKOFF_MIN);

    return sn;
}


/* a client that follows the primary: told now if one is known */

void
ngx_http_twofa_sentinel_attach(ngx_http_twofa_sentinel_t *sn,
    ngx_http_twofa_redis_t *rd)
{
    ngx_http_twofa_redis_t  **slot;

    slot = ngx_array_push(&sn->clients);
    if (slot == NULL) {
        /* never connected: its commands are refused, failing closed */
        ngx_log_error(NGX_LOG_ALERT, sn->log, 0,
                      "twofa sentinel: cannot attach a client");
        return;
    }

    *slot = rd;

    ngx_http_twofa_redis_set_lost(rd, ngx_http_twofa_sentinel_lost, sn);

    if (sn->host.len) {
        ngx_http_twofa_redis_use(rd, &sn->host, sn->port);
    }
}


void
ngx_http_twofa_sentinel_destroy(ngx_http_twofa_sentinel_t *sn)
{
    ngx_uint_t  i;

    sn->exiting = 1;

    if (sn->ask.timer_set) {
        ngx_del_timer(&sn->ask);
    }

    for (i = 0; i < sn->nnodes; i++) {
        if (sn->nodes[i].query) {
            ngx_http_twofa_redis_destroy(sn->nodes[i].query);
        }

        if (sn->nodes[i].events) {
            ngx_http_twofa_redis_destroy(sn->nodes[i].events);
        }
    }
}


/* ask after delay ms, unless a question is in flight or already due */

static void
ngx_http_twofa_sentinel_schedule(ngx_http_twofa_sentinel_t *sn,
    ngx_msec_t delay)
{
    if (sn->exiting) {
        return;
    }

    if (sn->asking) {
        /* the answer may predate the news: ask once more after it */
        sn->again = 1;
        return;
    }

    if (sn->ask.timer_set) {
        if (delay) {
            return;
        }

        ngx_del_timer(&sn->ask);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, sn->log, 0,
                   "twofa sentinel: asking in %Mms", delay);

    ngx_add_timer(&sn->ask, delay);
}


static void
ngx_http_twofa_sentinel_ask_handler(ngx_event_t *ev)
{
    ngx_http_twofa_sentinel_t *sn = ev->data;

    if (sn->exiting || sn->asking || ngx_exiting || ngx_quit
        || ngx_terminate)
    {
        return;
    }

    sn->tried = 0;
    ngx_http_twofa_sentinel_ask_next(sn);
}


/*
 * One question, to the next sentinel connected; none left in this round:
 * the next round after a backoff.
 */

static void
ngx_http_twofa_sentinel_ask_next(ngx_http_twofa_sentinel_t *sn)
{
    size_t                           lens[3];
    ngx_int_t                        rc;
    const char                      *argv[3];
    ngx_http_twofa_sentinel_node_t  *node;

    argv[0] = "SENTINEL";
    lens[0] = 8;
    argv[1] = "get-master-addr-by-name";
    lens[1] = 23;
    argv[2] = (const char *) sn->conf->service.data;
    lens[2] = sn->conf->service.len;

    while (sn->tried < sn->nnodes) {
        node = &sn->nodes[sn->next];

        rc = ngx_http_twofa_redis_command(node->query, NULL, sn->log,
                                          ngx_http_twofa_sentinel_reply, sn,
                                          3, argv, lens);
        if (rc == NGX_OK) {
            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, sn->log, 0,
                           "twofa sentinel: asking \"%V\" for \"%V\"",
                           &node->conf->addr, &sn->conf->service);
            sn->asking = 1;
            return;
        }

        sn->tried++;
        sn->next = (sn->next + 1) % sn->nnodes;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, sn->log, 0,
                   "twofa sentinel: no sentinel answered, again in %Mms",
                   sn->backoff);

    ngx_http_twofa_sentinel_schedule(sn, sn->backoff);

    sn->backoff *= 2;
    if (sn->backoff > NGX_HTTP_TWOFA_SENTINEL_BACKOFF_MAX) {
        sn->backoff = NGX_HTTP_TWOFA_SENTINEL_BACKOFF_MAX;
    }
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

    sn->asking = 0;

    if (sn->exiting) {
        return;
    }

    node = &sn->nodes[sn->next];

    if (ngx_http_twofa_sentinel_parse(sn, reply, &host, &port) != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, sn->log, 0,
                      "twofa sentinel: \"%V\" names no primary of \"%V\"",
                      &node->conf->addr, &sn->conf->service);

        sn->tried++;
        sn->next = (sn->next + 1) % sn->nnodes;
        ngx_http_twofa_sentinel_ask_next(sn);
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

    rd = sn->clients.elts;

    for (i = 0; i < sn->clients.nelts; i++) {
        ngx_http_twofa_redis_use(rd[i], &sn->host, sn->port);
    }

    if (sn->again) {
        sn->again = 0;
        ngx_http_twofa_sentinel_schedule(sn, 0);
    }
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
    ngx_int_t     n;
    redisReply   *ip, *p;
#if (NGX_HAVE_INET6)
    u_char        addr6[16];
#endif

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2)
    {
        return NGX_DECLINED;
    }

    ip = reply->element[0];
    p = reply->element[1];

    if (ip->type != REDIS_REPLY_STRING || p->type != REDIS_REPLY_STRING
        || ip->len == 0 || (size_t) ip->len > NGX_SOCKADDR_STRLEN)
    {
        return NGX_DECLINED;
    }

    n = ngx_atoi((u_char *) p->str, p->len);
    if (n < 1 || n > 65535) {
        return NGX_DECLINED;
    }

    if (ngx_inet_addr((u_char *) ip->str, ip->len) == INADDR_NONE
#if (NGX_HAVE_INET6)
        && ngx_inet6_addr((u_char *) ip->str, ip->len, addr6) != NGX_OK
#endif
       )
    {
        ngx_log_error(NGX_LOG_ERR, sn->log, 0,
                      "twofa sentinel: the primary of \"%V\" is named "
                      "\"%*s\", not an IP address: refused (no DNS in a "
                      "worker)", &sn->conf->service, (size_t) ip->len,
                      ip->str);
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
            ngx_http_twofa_sentinel_schedule(sn, 0);
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

    sn->backoff = NGX_HTTP_TWOFA_SENTINEL_BACKOFF_MIN;
    ngx_http_twofa_sentinel_schedule(sn, 0);
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

    if (sn->exiting) {
        return;
    }

    if (sn->host.len) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, sn->log, 0,
                       "twofa sentinel: lost \"%V\"", &sn->host);
    }

    sn->host.len = 0;

    if (ngx_current_msec - sn->named_at >= NGX_HTTP_TWOFA_SENTINEL_STABLE) {
        sn->backoff = NGX_HTTP_TWOFA_SENTINEL_BACKOFF_MIN;
        ngx_http_twofa_sentinel_schedule(sn, 0);
        return;
    }

    ngx_http_twofa_sentinel_schedule(sn, sn->backoff);

    sn->backoff *= 2;
    if (sn->backoff > NGX_HTTP_TWOFA_SENTINEL_BACKOFF_MAX) {
        sn->backoff = NGX_HTTP_TWOFA_SENTINEL_BACKOFF_MAX;
    }
}
