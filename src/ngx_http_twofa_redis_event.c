/*
 * hiredis's event hooks on nginx's events, for the connections of
 * ngx_http_twofa_redis_conn.c: level-triggered reads and writes, and
 * commands of one batch of events written together.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_http_twofa.h"
#include "ngx_http_twofa_redis.h"


static void ngx_http_twofa_redis_write(ngx_http_twofa_redis_t *rd);
static void ngx_http_twofa_redis_event(ngx_http_twofa_redis_t *rd,
    ngx_uint_t write, ngx_uint_t on);


/*
 * Read and write events: the socket is registered level-triggered, because
 * hiredis reads at most 16 KiB per call and does not report EAGAIN; with
 * nginx's usual edge-triggered epoll, the rest of a large reply would wait
 * for data that never comes.
 */

void
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


void
ngx_http_twofa_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t *c = ev->data;

    ngx_http_twofa_redis_write(c->data);
}


/*
 * Commands issued while handling one batch of events are written together
 * once the batch is done (a posted event): pipelining without a write
 * event per command.
 */

void
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


void
ngx_http_twofa_redis_add_read(void *data)
{
    ngx_http_twofa_redis_event(data, 0, 1);
}


void
ngx_http_twofa_redis_del_read(void *data)
{
    ngx_http_twofa_redis_event(data, 0, 0);
}


void
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


void
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
