/*
 * The Redis client's private header, for its three files (nothing else
 * includes it): ngx_http_twofa_redis_conn.c, a connection's life;
 * ngx_http_twofa_redis.c, commands on it; ngx_http_twofa_redis_event.c,
 * hiredis's event hooks on nginx's events.
 */

#ifndef NGX_HTTP_TWOFA_REDIS_H
#define NGX_HTTP_TWOFA_REDIS_H


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
    unsigned                        up:1;       /* counted in the gauge */
    unsigned                        leaving:1;  /* leave(): not lost */
};


/* ngx_http_twofa_redis_conn.c: commands that find the node demoted */
void ngx_http_twofa_redis_close(ngx_http_twofa_redis_t *rd);

/* ngx_http_twofa_redis_event.c: the hooks a connection is given */
void ngx_http_twofa_redis_read_handler(ngx_event_t *ev);
void ngx_http_twofa_redis_write_handler(ngx_event_t *ev);
void ngx_http_twofa_redis_flush_handler(ngx_event_t *ev);
void ngx_http_twofa_redis_add_read(void *data);
void ngx_http_twofa_redis_del_read(void *data);
void ngx_http_twofa_redis_add_write(void *data);
void ngx_http_twofa_redis_del_write(void *data);


#endif /* NGX_HTTP_TWOFA_REDIS_H */
