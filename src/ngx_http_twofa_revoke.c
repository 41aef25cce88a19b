/*
 * twofa-edge: session revocation without Redis on the gate path.
 *
 * A reset or a disable writes, in its own script, "sessions of this user
 * made before T are revoked" into the hash {prefix}revocations and
 * publishes the same on the channel of that name.  Every worker of every
 * edge keeps a subscriber connection and a small table of those stamps;
 * the session check consults the table (a hash lookup, and nothing at all
 * while it is empty).  After each (re)subscription the worker reads the
 * whole hash again, so a message missed while the connection was down is
 * not lost.  While the subscriber is down the table keeps what it knew:
 * the gate goes on with it (documented), and catches up on reconnect.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"
#include "twofa_slot.h"


#define NGX_HTTP_TWOFA_REVOKE_SIZE_MIN  64      /* slots, a power of two */
#define NGX_HTTP_TWOFA_REVOKE_RETRY     500     /* ms, resync not possible */


typedef struct {
    uint32_t                    hash;
    int64_t                     stamp;      /* sessions made before: out */
    u_char                     *subject;    /* "org\nuser"; NULL: free */
    size_t                      len;
} ngx_http_twofa_revoked_t;


/* one resync in flight: its own pool, destroyed with the reply */
typedef struct {
    ngx_http_twofa_revocations_t  *rv;
    ngx_pool_t                    *pool;
    const char                    *argv[2];  /* live until the reply */
    size_t                         lens[2];
} ngx_http_twofa_revoke_req_t;


struct ngx_http_twofa_revocations_s {
    ngx_http_twofa_revoked_t   *slots;
    ngx_uint_t                  size;       /* a power of two */
    ngx_uint_t                  count;
    ngx_http_twofa_main_conf_t *tmcf;
    ngx_http_twofa_redis_t     *subscriber;
    ngx_str_t                   key;        /* and channel */
    ngx_event_t                 resync;     /* retry timer */
    ngx_log_t                  *log;
};


static void ngx_http_twofa_revoke_message(void *data, ngx_str_t *payload);
static void ngx_http_twofa_revoke_resync(ngx_event_t *ev);
static void ngx_http_twofa_revoke_resynced(void *data, redisReply *reply);
static ngx_int_t ngx_http_twofa_revoke_set(ngx_http_twofa_revocations_t *rv,
    u_char *subject, size_t len, int64_t stamp);
static ngx_int_t ngx_http_twofa_revoke_grow(ngx_http_twofa_revocations_t *rv);
static void ngx_http_twofa_revoke_clear(ngx_http_twofa_revocations_t *rv);
static uint32_t ngx_http_twofa_revoke_hash(u_char *org, size_t org_len,
    u_char *user, size_t user_len);


ngx_http_twofa_revocations_t *
ngx_http_twofa_revoke_init(ngx_cycle_t *cycle,
    ngx_http_twofa_main_conf_t *tmcf)
{
    u_char                        *p;
    ngx_http_twofa_revocations_t  *rv;

    rv = ngx_pcalloc(cycle->pool, sizeof(ngx_http_twofa_revocations_t));
    if (rv == NULL) {
        return NULL;
    }

    rv->tmcf = tmcf;
    rv->log = cycle->log;

    rv->key.len = tmcf->prefix.len + sizeof("revocations") - 1;
    rv->key.data = ngx_pnalloc(cycle->pool, rv->key.len);
    if (rv->key.data == NULL) {
        return NULL;
    }

    p = ngx_cpymem(rv->key.data, tmcf->prefix.data, tmcf->prefix.len);
    ngx_memcpy(p, "revocations", sizeof("revocations") - 1);

    ngx_http_twofa_event_init(&rv->resync, ngx_http_twofa_revoke_resync, rv,
                              cycle->log);
    rv->resync.cancelable = 1;

    rv->subscriber = ngx_http_twofa_redis_subscriber(cycle, tmcf->redis,
                                                &rv->key,
                                                ngx_http_twofa_revoke_message,
                                                rv);
    if (rv->subscriber == NULL) {
        return NULL;
    }

    /* revocations are published on the primary: follow it */

    if (tmcf->sentinel) {
        ngx_http_twofa_sentinel_attach(tmcf->sentinel, rv->subscriber);
    }

    /* a cluster sends every PUBLISH to every node: any one will do */

    if (tmcf->cluster) {
        ngx_http_twofa_cluster_attach(tmcf->cluster, rv->subscriber);
    }

    return rv;
}


void
ngx_http_twofa_revoke_exit(ngx_http_twofa_revocations_t *rv)
{
    if (rv == NULL) {
        return;
    }

    if (rv->resync.timer_set) {
        ngx_del_timer(&rv->resync);
    }

    ngx_http_twofa_redis_destroy(rv->subscriber);
    ngx_http_twofa_revoke_clear(rv);

    if (rv->slots) {
        ngx_free(rv->slots);
        rv->slots = NULL;
    }
}


/*
 * The revocation stamp of a user (seconds), or -1: sessions made at or
 * before it are revoked, so none of the same second survives.  A session
 * made after a revocation is dated after its stamp (see the session
 * cookie), and a disable dates the session it hands out a second later.
 */

int64_t
ngx_http_twofa_revocation(ngx_http_twofa_revocations_t *rv, u_char *org,
    size_t org_len, u_char *user, size_t user_len)
{
    uint32_t                   hash;
    ngx_uint_t                 i, mask;
    ngx_http_twofa_revoked_t  *e;

    if (rv == NULL || rv->count == 0) {
        return -1;
    }

    hash = ngx_http_twofa_revoke_hash(org, org_len, user, user_len);
    mask = rv->size - 1;

    for (i = hash & mask; /* void */ ; i = (i + 1) & mask) {
        e = &rv->slots[i];

        if (e->subject == NULL) {
            return -1;
        }

        if (e->hash == hash && e->len == org_len + 1 + user_len
            && ngx_memcmp(e->subject, org, org_len) == 0
            && e->subject[org_len] == '\n'
            && ngx_memcmp(e->subject + org_len + 1, user, user_len) == 0)
        {
            return e->stamp;
        }
    }
}


/* 1 when a reset or disable revoked this session after it was made. */

ngx_uint_t
ngx_http_twofa_revoked(ngx_http_twofa_revocations_t *rv,
    const twofa_session_t *s)
{
    int64_t  stamp;

    if (rv == NULL || rv->count == 0) {
        return 0;
    }

    stamp = ngx_http_twofa_revocation(rv, (u_char *) s->org, s->org_len,
                                      (u_char *) s->user, s->user_len);

    return stamp >= 0 && s->iat <= stamp;
}


/* "stamp\norg\nuser", or NULL: (re)subscribed, read the whole hash. */

static void
ngx_http_twofa_revoke_message(void *data, ngx_str_t *payload)
{
    ngx_http_twofa_revocations_t *rv = data;

    u_char     *nl;
    ngx_int_t   stamp;

    if (payload == NULL) {
        ngx_http_twofa_revoke_resync(&rv->resync);
        return;
    }

    nl = ngx_strlchr(payload->data, payload->data + payload->len, '\n');
    if (nl == NULL) {
        return;
    }

    stamp = ngx_atoi(payload->data, nl - payload->data);
    if (stamp == NGX_ERROR) {
        return;
    }

    nl++;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rv->log, 0,
                   "twofa revoke: sessions before %i revoked", stamp);

    if (ngx_http_twofa_revoke_set(rv, nl, payload->data + payload->len - nl,
                                  stamp)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, rv->log, 0,
                      "twofa revoke: out of memory for a revocation");
    }
}


static void
ngx_http_twofa_revoke_resync(ngx_event_t *ev)
{
    ngx_http_twofa_revocations_t *rv = ev->data;

    ngx_int_t                    rc;
    ngx_pool_t                  *pool;
    ngx_http_twofa_revoke_req_t *req;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    pool = ngx_create_pool(256, rv->log);
    if (pool == NULL) {
        goto retry;
    }

    req = ngx_palloc(pool, sizeof(ngx_http_twofa_revoke_req_t));
    if (req == NULL) {
        ngx_destroy_pool(pool);
        goto retry;
    }

    req->rv = rv;
    req->pool = pool;

    req->argv[0] = "HGETALL";
    req->lens[0] = 7;
    req->argv[1] = (const char *) rv->key.data;
    req->lens[1] = rv->key.len;

    if (rv->tmcf->cluster) {
        rc = ngx_http_twofa_cluster_command(rv->tmcf->cluster,
                                            twofa_slot((char *) rv->key.data,
                                                       rv->key.len),
                                            pool, rv->log,
                                            ngx_http_twofa_revoke_resynced,
                                            req, 2, req->argv, req->lens, 0);

    } else {
        rc = ngx_http_twofa_redis_command(rv->tmcf->client, pool, rv->log,
                                          ngx_http_twofa_revoke_resynced,
                                          req, 2, req->argv, req->lens);
    }
    if (rc == NGX_OK) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, rv->log, 0,
                       "twofa revoke: reading every revocation");
        return;
    }

    ngx_destroy_pool(pool);

retry:

    /* the command connection may not be up yet: soon again */

    if (!rv->resync.timer_set) {
        ngx_add_timer(&rv->resync, NGX_HTTP_TWOFA_REVOKE_RETRY);
    }
}


/* The whole hash, field "org\nuser", value the stamp: the table anew. */

static void
ngx_http_twofa_revoke_resynced(void *data, redisReply *reply)
{
    ngx_http_twofa_revoke_req_t *req = data;

    size_t                         i;
    ngx_int_t                      stamp;
    redisReply                    *f, *v;
    ngx_http_twofa_revocations_t  *rv;

    rv = req->rv;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements % 2)
    {
        ngx_log_error(NGX_LOG_WARN, rv->log, 0,
                      "twofa revoke: cannot read \"%V\"; sessions are "
                      "checked against what this worker knew, and it "
                      "tries again", &rv->key);

        if (!rv->resync.timer_set && !ngx_exiting) {
            ngx_add_timer(&rv->resync, NGX_HTTP_TWOFA_REVOKE_RETRY);
        }

        goto done;
    }

    ngx_http_twofa_revoke_clear(rv);

    for (i = 0; i < reply->elements; i += 2) {
        f = reply->element[i];
        v = reply->element[i + 1];

        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }

        stamp = ngx_atoi((u_char *) v->str, v->len);
        if (stamp == NGX_ERROR) {
            continue;
        }

        if (ngx_http_twofa_revoke_set(rv, (u_char *) f->str, f->len, stamp)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, rv->log, 0,
                          "twofa revoke: out of memory for revocations");
            break;
        }
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rv->log, 0,
                   "twofa revoke: %ui revocations known", rv->count);

done:

    ngx_destroy_pool(req->pool);
}


static ngx_int_t
ngx_http_twofa_revoke_set(ngx_http_twofa_revocations_t *rv, u_char *subject,
    size_t len, int64_t stamp)
{
    u_char                    *nl;
    uint32_t                   hash;
    ngx_uint_t                 i, mask;
    ngx_http_twofa_revoked_t  *e;

    nl = ngx_strlchr(subject, subject + len, '\n');
    if (nl == NULL) {
        return NGX_OK;
    }

    if ((rv->count + 1) * 2 > rv->size
        && ngx_http_twofa_revoke_grow(rv) != NGX_OK)
    {
        return NGX_ERROR;
    }

    hash = ngx_http_twofa_revoke_hash(subject, nl - subject, nl + 1,
                                      subject + len - nl - 1);
    mask = rv->size - 1;

    for (i = hash & mask; /* void */ ; i = (i + 1) & mask) {
        e = &rv->slots[i];

        if (e->subject == NULL) {
            break;
        }

        if (e->hash == hash && e->len == len
            && ngx_memcmp(e->subject, subject, len) == 0)
        {
            if (stamp > e->stamp) {
                e->stamp = stamp;
            }

            return NGX_OK;
        }
    }

    e->subject = ngx_alloc(len, rv->log);
    if (e->subject == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(e->subject, subject, len);
    e->len = len;
    e->hash = hash;
    e->stamp = stamp;
    rv->count++;

    return NGX_OK;
}


/* Twice the slots (at least the minimum), every entry moved over. */

static ngx_int_t
ngx_http_twofa_revoke_grow(ngx_http_twofa_revocations_t *rv)
{
    ngx_uint_t                 i, j, size, mask;
    ngx_http_twofa_revoked_t  *slots;

    size = rv->size ? rv->size * 2 : NGX_HTTP_TWOFA_REVOKE_SIZE_MIN;

    slots = ngx_calloc(size * sizeof(ngx_http_twofa_revoked_t), rv->log);
    if (slots == NULL) {
        return NGX_ERROR;
    }

    mask = size - 1;

    for (i = 0; i < rv->size; i++) {
        if (rv->slots[i].subject == NULL) {
            continue;
        }

        for (j = rv->slots[i].hash & mask;
             slots[j].subject;
             j = (j + 1) & mask)
        {
            /* void */
        }

        slots[j] = rv->slots[i];
    }

    if (rv->slots) {
        ngx_free(rv->slots);
    }

    rv->slots = slots;
    rv->size = size;

    return NGX_OK;
}


static void
ngx_http_twofa_revoke_clear(ngx_http_twofa_revocations_t *rv)
{
    ngx_uint_t  i;

    for (i = 0; i < rv->size; i++) {
        if (rv->slots[i].subject) {
            ngx_free(rv->slots[i].subject);
            rv->slots[i].subject = NULL;
        }
    }

    rv->count = 0;
}


/* FNV-1a of "org\nuser" */

static uint32_t
ngx_http_twofa_revoke_hash(u_char *org, size_t org_len, u_char *user,
    size_t user_len)
{
    size_t    i;
    uint32_t  h;

    h = 2166136261u;

    for (i = 0; i < org_len; i++) {
        h = (h ^ org[i]) * 16777619u;
    }

    h = (h ^ '\n') * 16777619u;

    for (i = 0; i < user_len; i++) {
        h = (h ^ user[i]) * 16777619u;
    }

    return h;
}
