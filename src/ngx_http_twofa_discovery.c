/*
 * twofa-edge: what Sentinel and Cluster share to find their primaries
 * (ngx_http_twofa_sentinel.c, ngx_http_twofa_cluster.c): one question,
 * put to their nodes in turn, the node that answered last first, on a
 * timer; a round that no node answered is tried again after a backoff
 * that doubles up to a ceiling.  One question at a time: news that comes
 * while one is in flight asks once more after its answer, since that
 * answer may predate the news.  And the addresses the answers name, which
 * must be IP literals: resolving a name would block the worker.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"


static void ngx_http_twofa_discovery_handler(ngx_event_t *ev);
static void ngx_http_twofa_discovery_next(ngx_http_twofa_discovery_t *dv);


/*
 * The owner, size bytes zeroed in the cycle's pool, with its discovery
 * (the first member) ready: the first question goes out soon, once the
 * owner's connections are being made.  NULL: no memory.
 */

void *
ngx_http_twofa_discovery_create(ngx_cycle_t *cycle,
    const ngx_http_twofa_discovery_spec_t *spec, size_t size)
{
    ngx_http_twofa_discovery_t  *dv;

    dv = ngx_pcalloc(cycle->pool, size);
    if (dv == NULL) {
        return NULL;
    }

    if (ngx_array_init(&dv->clients, cycle->pool, 2,
                       sizeof(ngx_http_twofa_redis_t *))
        != NGX_OK
        || ngx_array_init(&dv->owned, cycle->pool, 4,
                          sizeof(ngx_http_twofa_redis_t *))
           != NGX_OK)
    {
        return NULL;
    }

    dv->spec = spec;
    dv->data = dv;
    dv->log = cycle->log;
    dv->backoff = spec->backoff_min;

    ngx_http_twofa_event_init(&dv->timer, ngx_http_twofa_discovery_handler,
                              dv, cycle->log);

    /* a question not asked yet must not hold up a graceful shutdown */
    dv->timer.cancelable = 1;

    ngx_add_timer(&dv->timer, spec->backoff_min);

    return dv;
}


/* rd, a node's connection, destroyed on stop; NULL: none (rd is freed) */

ngx_http_twofa_redis_t *
ngx_http_twofa_discovery_own(ngx_http_twofa_discovery_t *dv,
    ngx_http_twofa_redis_t *rd)
{
    ngx_http_twofa_redis_t  **slot;

    if (rd == NULL) {
        return NULL;
    }

    slot = ngx_array_push(&dv->owned);
    if (slot == NULL) {
        ngx_http_twofa_redis_destroy(rd);
        return NULL;
    }

    *slot = rd;

    return rd;
}


/*
 * A client that goes where the answers say; its losses are the owner's
 * news.  NGX_ERROR: it is never connected, so its commands are refused,
 * failing closed.
 */

ngx_int_t
ngx_http_twofa_discovery_attach(ngx_http_twofa_discovery_t *dv,
    ngx_http_twofa_redis_t *rd)
{
    ngx_http_twofa_redis_t  **slot;

    slot = ngx_array_push(&dv->clients);
    if (slot == NULL) {
        ngx_log_error(NGX_LOG_ALERT, dv->log, 0,
                      "twofa %s: cannot attach a client", dv->spec->name);
        return NGX_ERROR;
    }

    *slot = rd;

    ngx_http_twofa_redis_set_lost(rd, dv->spec->lost, dv->data);

    return NGX_OK;
}


void
ngx_http_twofa_discovery_stop(ngx_http_twofa_discovery_t *dv)
{
    ngx_uint_t                i;
    ngx_http_twofa_redis_t  **rd;

    dv->exiting = 1;

    if (dv->timer.timer_set) {
        ngx_del_timer(&dv->timer);
    }

    rd = dv->owned.elts;

    for (i = 0; i < dv->owned.nelts; i++) {
        ngx_http_twofa_redis_destroy(rd[i]);
    }
}


/* ask after delay ms, unless a question is in flight or due sooner */

void
ngx_http_twofa_discovery_schedule(ngx_http_twofa_discovery_t *dv,
    ngx_msec_t delay)
{
    if (dv->exiting) {
        return;
    }

    if (dv->asking) {
        dv->again = 1;
        return;
    }

    if (dv->timer.timer_set) {
        if (delay >= dv->timer.timer.key - ngx_current_msec
            || dv->timer.timer.key <= ngx_current_msec)
        {
            return;
        }

        ngx_del_timer(&dv->timer);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, dv->log, 0,
                   "twofa %s: asking in %Mms", dv->spec->name, delay);

    ngx_add_timer(&dv->timer, delay);
}


/* the next round after the backoff, which doubles for the one after */

void
ngx_http_twofa_discovery_backoff(ngx_http_twofa_discovery_t *dv)
{
    ngx_http_twofa_discovery_schedule(dv, dv->backoff);

    dv->backoff *= 2;
    if (dv->backoff > dv->spec->backoff_max) {
        dv->backoff = dv->spec->backoff_max;
    }
}


/* news: asked about at once, and a loss after it backs off from the start */

void
ngx_http_twofa_discovery_now(ngx_http_twofa_discovery_t *dv)
{
    dv->backoff = dv->spec->backoff_min;
    ngx_http_twofa_discovery_schedule(dv, 0);
}


static void
ngx_http_twofa_discovery_handler(ngx_event_t *ev)
{
    ngx_http_twofa_discovery_t *dv = ev->data;

    if (dv->exiting || dv->asking || ngx_exiting || ngx_quit
        || ngx_terminate)
    {
        return;
    }

    dv->tried = 0;
    ngx_http_twofa_discovery_next(dv);
}


/*
 * The question to the next node that takes it; none left in this round:
 * the owner is told (none), and the next round comes after a backoff.
 */

static void
ngx_http_twofa_discovery_next(ngx_http_twofa_discovery_t *dv)
{
    while (dv->tried < dv->nnodes) {
        if (dv->spec->ask(dv->data, dv->next) == NGX_OK) {
            dv->asking = 1;
            return;
        }

        dv->tried++;
        dv->next = (dv->next + 1) % dv->nnodes;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, dv->log, 0,
                   "twofa %s: no node answered, again in %Mms",
                   dv->spec->name, dv->backoff);

    if (dv->spec->none) {
        dv->spec->none(dv->data);
    }

    ngx_http_twofa_discovery_backoff(dv);
}


/*
 * The answer came (or its absence: NULL reply, a lost connection): the
 * question is no longer in flight.  0: the owner is going away, the
 * answer is not to be looked at.
 */

ngx_uint_t
ngx_http_twofa_discovery_answered(ngx_http_twofa_discovery_t *dv)
{
    dv->asking = 0;

    return !dv->exiting;
}


/* the answer was no good: the next node of the round is asked */

void
ngx_http_twofa_discovery_skip(ngx_http_twofa_discovery_t *dv)
{
    dv->tried++;
    dv->next = (dv->next + 1) % dv->nnodes;

    ngx_http_twofa_discovery_next(dv);
}


/*
 * After a good answer: 1 if news came meanwhile, asked about now;
 * otherwise, with a period, the backoff starts over and the next look is
 * in a period.
 */

ngx_uint_t
ngx_http_twofa_discovery_again(ngx_http_twofa_discovery_t *dv,
    ngx_msec_t period)
{
    if (dv->again) {
        dv->again = 0;
        ngx_http_twofa_discovery_schedule(dv, 0);
        return 1;
    }

    if (period) {
        dv->backoff = dv->spec->backoff_min;
        ngx_http_twofa_discovery_schedule(dv, period);
    }

    return 0;
}


/*
 * host:port, named by an answer, is an address a worker may connect to:
 * an IP literal (a name would need DNS, which blocks) and a port.
 */

ngx_int_t
ngx_http_twofa_discovery_address(ngx_http_twofa_discovery_t *dv,
    u_char *host, size_t len, ngx_int_t port)
{
#if (NGX_HAVE_INET6)
    u_char  addr6[16];
#endif

    if (len == 0 || len > NGX_SOCKADDR_STRLEN || port < 1 || port > 65535) {
        return NGX_DECLINED;
    }

    if (ngx_inet_addr(host, len) == INADDR_NONE
#if (NGX_HAVE_INET6)
        && ngx_inet6_addr(host, len, addr6) != NGX_OK
#endif
       )
    {
        ngx_log_error(NGX_LOG_ERR, dv->log, 0,
                      "twofa %s: a node is named \"%*s\", not an IP "
                      "address: refused (no DNS in a worker)",
                      dv->spec->name, len, host);
        return NGX_DECLINED;
    }

    return NGX_OK;
}
