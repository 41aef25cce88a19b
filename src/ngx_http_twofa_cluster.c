/*
 * twofa-edge: Redis Cluster (twofa_redis cluster=...), per worker: the
 * slot map, one connection per primary, and commands sent to the owner of
 * their slot, following MOVED and ASK.
 *
 * The map comes from CLUSTER SLOTS, asked of the nodes this worker knows
 * (the seeds first) in turn, on the event loop with the command timeout.
 * Each node has a connection of the redis client, which has no address of
 * its own here either: it goes where the map (or a MOVED, or an ASK) says,
 * and when it is lost, closed or refused, it tells this file, which asks
 * for the map again instead of reconnecting on its own.  The map is asked
 * for again: on a MOVED, on a lost primary (with a backoff while the
 * cluster still names a dead one), and every few seconds.
 *
 * A command is a record in its request's pool: MOVED sends it again to the
 * node named (and corrects that slot at once), ASK sends ASKING then the
 * command to the node named, TRYAGAIN (keys of a slot in migration, split
 * between two nodes) sends it again after a short wait, all within the
 * command's timeout and a few redirects.  Anything else, CLUSTERDOWN
 * included, goes to the caller as the answer: an error fails closed.
 * Addresses in the map must be IP literals: a name would need DNS, which
 * blocks the worker.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"
#include "twofa_slot.h"
#include "twofa_slots.h"


#define NGX_HTTP_TWOFA_CLUSTER_NODES        64
#define NGX_HTTP_TWOFA_CLUSTER_REDIRECTS    5    /* MOVED, per command */
#define NGX_HTTP_TWOFA_CLUSTER_ASKS         32   /* ASK, TRYAGAIN between */
#define NGX_HTTP_TWOFA_CLUSTER_BACKOFF_MIN  50
#define NGX_HTTP_TWOFA_CLUSTER_BACKOFF_MAX  500
#define NGX_HTTP_TWOFA_CLUSTER_PERIOD       5000
#define NGX_HTTP_TWOFA_CLUSTER_TRYAGAIN     10


typedef struct {
    ngx_str_t                       host;       /* an IP literal */
    in_port_t                       port;
    u_char                          host_buf[NGX_SOCKADDR_STRLEN + 1];
    ngx_http_twofa_redis_t         *rd;
    unsigned                        seed:1;
    unsigned                        primary:1;  /* in the map now */
} ngx_http_twofa_cluster_node_t;


struct ngx_http_twofa_cluster_s {
    ngx_http_twofa_discovery_t      discovery; /* first: CLUSTER SLOTS */
    ngx_http_twofa_redis_conf_t    *conf;
    ngx_cycle_t                    *cycle;
    ngx_http_twofa_cluster_node_t   nodes[NGX_HTTP_TWOFA_CLUSTER_NODES];
    u_char                         *slots;     /* node index + 1; 0: none */
    u_char                         *fresh;     /* the map being read */
    u_char                          fresh_primary[
                                        NGX_HTTP_TWOFA_CLUSTER_NODES];
    ngx_log_t                      *log;
};


/* a command on its way, in the pool of the request it serves */

typedef struct {
    ngx_http_twofa_cluster_t       *cl;
    unsigned                        slot;
    ngx_pool_t                     *owner;
    ngx_log_t                      *log;
    ngx_http_twofa_redis_reply_pt   handler;
    void                           *data;
    int                             argc;
    const char                    **argv;
    const size_t                   *lens;
    ngx_uint_t                      flags;
    ngx_msec_t                      started;
    ngx_uint_t                      redirects;
    ngx_uint_t                      asks;
    ngx_uint_t                      node;      /* ASK: index + 1; or 0 */
    ngx_msec_t                      wait;      /* the next TRYAGAIN's */
    ngx_event_t                     timer;     /* sends it again */
} ngx_http_twofa_cluster_cmd_t;


static ngx_int_t ngx_http_twofa_cluster_ask(void *data, ngx_uint_t i);
static void ngx_http_twofa_cluster_none(void *data);
static void ngx_http_twofa_cluster_map_reply(void *data, redisReply *reply);
static ngx_int_t ngx_http_twofa_cluster_parse(ngx_http_twofa_cluster_t *cl,
    redisReply *reply, ngx_http_twofa_cluster_node_t *asked, const char **err);
static void ngx_http_twofa_cluster_connect(ngx_http_twofa_cluster_t *cl,
    ngx_uint_t seeds);
static ngx_int_t ngx_http_twofa_cluster_node(ngx_http_twofa_cluster_t *cl,
    u_char *host, size_t len, ngx_int_t port);
static void ngx_http_twofa_cluster_lost(void *data,
    ngx_http_twofa_redis_t *rd);
static ngx_int_t ngx_http_twofa_cluster_send(
    ngx_http_twofa_cluster_cmd_t *cc);
static void ngx_http_twofa_cluster_reply(void *data, redisReply *reply);
static ngx_int_t ngx_http_twofa_cluster_redirect(
    ngx_http_twofa_cluster_cmd_t *cc, redisReply *reply, ngx_uint_t ask);
static ngx_int_t ngx_http_twofa_cluster_later(
    ngx_http_twofa_cluster_cmd_t *cc);
static void ngx_http_twofa_cluster_timer_handler(ngx_event_t *ev);
static void ngx_http_twofa_cluster_cmd_cleanup(void *data);
static void ngx_http_twofa_cluster_ignore(void *data, redisReply *reply);
static ngx_uint_t ngx_http_twofa_cluster_is(redisReply *reply,
    const char *word);


/*
 * What a command gets when a redirect or TRYAGAIN led nowhere within its
 * timeout: an error reply, as the cluster's own would be.
 */

static const ngx_http_twofa_discovery_spec_t
    ngx_http_twofa_cluster_discovery = {
    "cluster",
    NGX_HTTP_TWOFA_CLUSTER_BACKOFF_MIN,
    NGX_HTTP_TWOFA_CLUSTER_BACKOFF_MAX,
    ngx_http_twofa_cluster_ask,
    ngx_http_twofa_cluster_none,
    ngx_http_twofa_cluster_lost
};


static redisReply  ngx_http_twofa_cluster_unserved =
    ngx_http_twofa_redis_error_reply(
        "TRYAGAIN the slot was not served within the timeout");


ngx_http_twofa_cluster_t *
ngx_http_twofa_cluster_create(ngx_cycle_t *cycle,
    ngx_http_twofa_redis_conf_t *conf)
{
    ngx_int_t                     n;
    ngx_uint_t                    i;
    ngx_http_twofa_cluster_t     *cl;
    ngx_http_twofa_redis_conf_t  *seed;

    cl = ngx_http_twofa_discovery_create(cycle,
                                         &ngx_http_twofa_cluster_discovery,
                                         sizeof(ngx_http_twofa_cluster_t));
    if (cl == NULL) {
        return NULL;
    }

    cl->slots = ngx_pcalloc(cycle->pool, TWOFA_SLOTS);
    cl->fresh = ngx_pcalloc(cycle->pool, TWOFA_SLOTS);

    if (cl->slots == NULL || cl->fresh == NULL) {
        return NULL;
    }

    cl->conf = conf;
    cl->cycle = cycle;
    cl->log = cycle->log;

    seed = conf->cluster->elts;

    for (i = 0; i < conf->cluster->nelts; i++) {
        n = ngx_http_twofa_cluster_node(cl, seed[i].host.data,
                                        seed[i].host.len, seed[i].port);
        if (n == NGX_ERROR) {
            return NULL;
        }

        cl->nodes[n].seed = 1;
        ngx_http_twofa_redis_use(cl->nodes[n].rd, &cl->nodes[n].host,
                                 cl->nodes[n].port);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cl->log, 0,
                   "twofa cluster: %ui seeds", cl->discovery.nnodes);

    return cl;
}


/*
 * A client that may use any node (the revocation subscriber: a cluster
 * sends every PUBLISH to every node); told of one once the map is known.
 */

void
ngx_http_twofa_cluster_attach(ngx_http_twofa_cluster_t *cl,
    ngx_http_twofa_redis_t *rd)
{
    if (ngx_http_twofa_discovery_attach(&cl->discovery, rd) == NGX_OK) {
        ngx_http_twofa_cluster_connect(cl, 0);
    }
}


void
ngx_http_twofa_cluster_destroy(ngx_http_twofa_cluster_t *cl)
{
    if (cl) {
        ngx_http_twofa_discovery_stop(&cl->discovery);
    }
}


/*
 * One command for the keys of one slot, to the primary the map names.
 * The same contract as ngx_http_twofa_redis_command_flags(), but owner is
 * required (the record lives in it) and argv and lens must live as long.
 */

ngx_int_t
ngx_http_twofa_cluster_command(ngx_http_twofa_cluster_t *cl, unsigned slot,
    ngx_pool_t *owner, ngx_log_t *log, ngx_http_twofa_redis_reply_pt handler,
    void *data, int argc, const char **argv, const size_t *argvlen,
    ngx_uint_t flags)
{
    ngx_pool_cleanup_t            *cln;
    ngx_http_twofa_cluster_cmd_t  *cc;

    cln = ngx_pool_cleanup_add(owner, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cc = ngx_pcalloc(owner, sizeof(ngx_http_twofa_cluster_cmd_t));
    if (cc == NULL) {
        return NGX_ERROR;
    }

    cc->cl = cl;
    cc->slot = slot & (TWOFA_SLOTS - 1);
    cc->owner = owner;
    cc->log = log;
    cc->handler = handler;
    cc->data = data;
    cc->argc = argc;
    cc->argv = argv;
    cc->lens = argvlen;
    cc->flags = flags;
    cc->started = ngx_current_msec;
    cc->wait = NGX_HTTP_TWOFA_CLUSTER_TRYAGAIN;

    ngx_http_twofa_event_init(&cc->timer, ngx_http_twofa_cluster_timer_handler,
                              cc, log);

    cln->handler = ngx_http_twofa_cluster_cmd_cleanup;
    cln->data = cc;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                   "twofa cluster: a command for slot %ui", cc->slot);

    return ngx_http_twofa_cluster_send(cc);
}


/* to the owner of the slot, or to the node an ASK named (ASKING first) */

static ngx_int_t
ngx_http_twofa_cluster_send(ngx_http_twofa_cluster_cmd_t *cc)
{
    size_t                          lens[1];
    ngx_uint_t                      n;
    const char                     *argv[1];
    ngx_http_twofa_cluster_t       *cl;
    ngx_http_twofa_cluster_node_t  *node;

    cl = cc->cl;
    n = cc->node ? cc->node : cl->slots[cc->slot];

    if (n == 0) {
        ngx_log_error(NGX_LOG_ERR, cc->log, 0,
                      "twofa cluster: no node serves slot %ui",
                      cc->slot);
        return NGX_DECLINED;
    }

    node = &cl->nodes[n - 1];

    if (cc->node) {
        argv[0] = "ASKING";
        lens[0] = 6;

        if (ngx_http_twofa_redis_command(node->rd, NULL, cc->log,
                                         ngx_http_twofa_cluster_ignore, NULL,
                                         1, argv, lens)
            != NGX_OK)
        {
            return NGX_DECLINED;
        }
    }

    return ngx_http_twofa_redis_command_flags(node->rd, cc->owner, cc->log,
                                              ngx_http_twofa_cluster_reply,
                                              cc, cc->argc, cc->argv,
                                              cc->lens, cc->flags);
}


static void
ngx_http_twofa_cluster_reply(void *data, redisReply *reply)
{
    ngx_http_twofa_cluster_cmd_t *cc = data;

    ngx_int_t  rc;

    cc->node = 0;

    if (ngx_http_twofa_cluster_is(reply, "MOVED")) {
        rc = ngx_http_twofa_cluster_redirect(cc, reply, 0);

    } else if (ngx_http_twofa_cluster_is(reply, "ASK")) {
        rc = ngx_http_twofa_cluster_redirect(cc, reply, 1);

    } else if (ngx_http_twofa_cluster_is(reply, "TRYAGAIN")) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cc->log, 0,
                       "twofa cluster: TRYAGAIN for slot %ui", cc->slot);
        rc = ngx_http_twofa_cluster_later(cc);

    } else {
        if (ngx_http_twofa_cluster_is(reply, "CLUSTERDOWN")) {
            ngx_log_error(NGX_LOG_ERR, cc->log, 0,
                          "twofa cluster: %*s", (size_t) reply->len,
                          reply->str);
        }

        cc->handler(cc->data, reply);
        return;
    }

    if (rc != NGX_OK) {
        /*
         * The cluster did answer, "elsewhere" or "later", and nothing
         * came of it: an error reply, which always fails closed (NULL,
         * no answer, may be let through by twofa_on_redis_error open).
         */
        cc->handler(cc->data, reply);
    }
}


/*
 * "MOVED slot host:port" (the slot is there now: the map is corrected at
 * once, and asked for again) or "ASK slot host:port" (this command only,
 * during a migration).
 */

static ngx_int_t
ngx_http_twofa_cluster_redirect(ngx_http_twofa_cluster_cmd_t *cc,
    redisReply *reply, ngx_uint_t ask)
{
    u_char                    *p, *end, *colon, *space;
    ngx_int_t                  n, port, slot;
    ngx_http_twofa_cluster_t  *cl;

    cl = cc->cl;

    /*
     * During a migration ASK and TRYAGAIN alternate until the slot has
     * moved (the timeout bounds that); MOVED goes round only if the
     * cluster disagrees with itself.
     */

    if (ask ? ++cc->asks > NGX_HTTP_TWOFA_CLUSTER_ASKS
            : ++cc->redirects > NGX_HTTP_TWOFA_CLUSTER_REDIRECTS)
    {
        ngx_log_error(NGX_LOG_ERR, cc->log, 0,
                      "twofa cluster: too many redirects for slot %ui",
                      cc->slot);
        return NGX_DECLINED;
    }

    p = (u_char *) reply->str;
    end = p + reply->len;

    p = ngx_strlchr(p, end, ' ');
    space = p ? ngx_strlchr(p + 1, end, ' ') : NULL;
    colon = space ? ngx_strlchr(space + 1, end, ':') : NULL;

    /* the last ':' separates the port from an IPv6 address */

    while (colon && ngx_strlchr(colon + 1, end, ':')) {
        colon = ngx_strlchr(colon + 1, end, ':');
    }

    if (colon == NULL) {
        goto invalid;
    }

    slot = ngx_atoi(p + 1, space - p - 1);
    port = ngx_atoi(colon + 1, end - colon - 1);

    if (slot < 0 || slot >= TWOFA_SLOTS || port < 1 || port > 65535) {
        goto invalid;
    }

    n = ngx_http_twofa_cluster_node(cl, space + 1, colon - space - 1, port);
    if (n == NGX_ERROR) {
        goto invalid;
    }

    ngx_http_twofa_redis_use(cl->nodes[n].rd, &cl->nodes[n].host,
                             cl->nodes[n].port);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, cc->log, 0,
                   "twofa cluster: %s slot %i to \"%V\"",
                   ask ? "ASK" : "MOVED", slot, &cl->nodes[n].host);

    if (ask) {
        cc->node = n + 1;

    } else {
        cl->slots[slot] = (u_char) (n + 1);
        ngx_http_twofa_discovery_schedule(&cl->discovery, 0);
    }

    if (ngx_http_twofa_cluster_send(cc) == NGX_OK) {
        return NGX_OK;
    }

    /* the node named is being connected to: a little later */

    return ngx_http_twofa_cluster_later(cc);

invalid:

    ngx_log_error(NGX_LOG_ERR, cc->log, 0,
                  "twofa cluster: cannot follow \"%*s\"",
                  (size_t) reply->len, reply->str);

    return NGX_DECLINED;
}


/*
 * Sends the command again after a short wait, growing, while the
 * command's timeout allows: TRYAGAIN (a slot in migration) or a node
 * named by a redirect that is not connected yet.
 */

static ngx_int_t
ngx_http_twofa_cluster_later(ngx_http_twofa_cluster_cmd_t *cc)
{
    ngx_msec_t  spent;

    spent = ngx_current_msec - cc->started;

    if (spent + cc->wait >= cc->cl->conf->timeout) {
        ngx_log_error(NGX_LOG_ERR, cc->log, 0,
                      "twofa cluster: slot %ui not served within %Mms",
                      cc->slot, cc->cl->conf->timeout);
        return NGX_DECLINED;
    }

    ngx_add_timer(&cc->timer, cc->wait);

    cc->wait *= 2;

    return NGX_OK;
}


static void
ngx_http_twofa_cluster_timer_handler(ngx_event_t *ev)
{
    ngx_http_twofa_cluster_cmd_t *cc = ev->data;

    ngx_int_t  rc;

    rc = ngx_http_twofa_cluster_send(cc);

    if (rc == NGX_DECLINED) {
        rc = ngx_http_twofa_cluster_later(cc);
    }

    if (rc != NGX_OK) {
        cc->handler(cc->data, &ngx_http_twofa_cluster_unserved);
    }
}


/* the request is gone: no more sending again */

static void
ngx_http_twofa_cluster_cmd_cleanup(void *data)
{
    ngx_http_twofa_cluster_cmd_t *cc = data;

    if (cc->timer.timer_set) {
        ngx_del_timer(&cc->timer);
    }
}


static void
ngx_http_twofa_cluster_ignore(void *data, redisReply *reply)
{
    /* ASKING's "+OK": the command after it says what matters */
}


static ngx_uint_t
ngx_http_twofa_cluster_is(redisReply *reply, const char *word)
{
    size_t  len;

    if (reply == NULL || reply->type != REDIS_REPLY_ERROR) {
        return 0;
    }

    len = ngx_strlen(word);

    return (size_t) reply->len >= len
           && ngx_strncmp(reply->str, word, len) == 0
           && ((size_t) reply->len == len || reply->str[len] == ' ');
}


/* CLUSTER SLOTS to node i, if it is a seed or a primary: NGX_OK if it went */

static ngx_int_t
ngx_http_twofa_cluster_ask(void *data, ngx_uint_t i)
{
    ngx_http_twofa_cluster_t *cl = data;

    size_t                          lens[2];
    const char                     *argv[2];
    ngx_http_twofa_cluster_node_t  *node;

    argv[0] = "CLUSTER";
    lens[0] = 7;
    argv[1] = "SLOTS";
    lens[1] = 5;

    node = &cl->nodes[i];

    if (!(node->seed || node->primary)
        || ngx_http_twofa_redis_command(node->rd, NULL, cl->log,
                                        ngx_http_twofa_cluster_map_reply,
                                        cl, 2, argv, lens)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cl->log, 0,
                   "twofa cluster: asking \"%V\" for the slots",
                   &node->host);

    return NGX_OK;
}


/* no node took the question: the seeds and the map's primaries, again */

static void
ngx_http_twofa_cluster_none(void *data)
{
    ngx_http_twofa_cluster_connect(data, 1);
}


static void
ngx_http_twofa_cluster_map_reply(void *data, redisReply *reply)
{
    ngx_http_twofa_cluster_t *cl = data;

    ngx_uint_t                      i, ready;
    const char                     *err;
    ngx_http_twofa_cluster_node_t  *asked;

    if (!ngx_http_twofa_discovery_answered(&cl->discovery)) {
        return;
    }

    asked = &cl->nodes[cl->discovery.next];

    if (ngx_http_twofa_cluster_parse(cl, reply, asked, &err) != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, cl->log, 0,
                      "twofa cluster: no slot map from \"%V:%d\": %s",
                      &asked->host, (int) asked->port, err);

        ngx_http_twofa_discovery_skip(&cl->discovery);
        return;
    }

    /* the map and its primaries change together, once it is whole */

    ngx_memcpy(cl->slots, cl->fresh, TWOFA_SLOTS);

    for (i = 0; i < cl->discovery.nnodes; i++) {
        cl->nodes[i].primary = cl->fresh_primary[i];
    }

    ngx_http_twofa_cluster_connect(cl, 0);

    /* every primary ready: all is well, the next look in a while */

    ready = 1;

    for (i = 0; i < cl->discovery.nnodes; i++) {
        if (cl->nodes[i].primary
            && !ngx_http_twofa_redis_ready(cl->nodes[i].rd))
        {
            ready = 0;
        }
    }

    if (!ngx_http_twofa_discovery_again(&cl->discovery,
                                        ready ? NGX_HTTP_TWOFA_CLUSTER_PERIOD
                                              : 0)
        && !ready)
    {
        /* a primary not connected yet: the map again, soon */
        ngx_http_twofa_discovery_backoff(&cl->discovery);
    }
}


/*
 * CLUSTER SLOTS, read as include/twofa_slots.h says, into cl->fresh and
 * cl->fresh_primary; *err says why not.  A range whose primary
 * ngx_http_twofa_cluster_node() refuses (a name, not an IP address, among
 * others) stays unserved.
 */

static ngx_int_t
ngx_http_twofa_cluster_parse(ngx_http_twofa_cluster_t *cl, redisReply *reply,
    ngx_http_twofa_cluster_node_t *asked, const char **err)
{
    int                   i, nranges;
    size_t                room;
    ngx_int_t             n;
    ngx_uint_t            covered;
    twofa_slots_range_t  *ranges, *r;

    /* room for the ranges the reply has; the parser checks the rest */

    room = 1;

    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements) {
        room = ngx_min(reply->elements, TWOFA_SLOTS_RANGES);
    }

    ranges = ngx_alloc(room * sizeof(twofa_slots_range_t), cl->log);
    if (ranges == NULL) {
        *err = "out of memory";
        return NGX_ERROR;
    }

    nranges = twofa_slots_parse(reply, (const char *) asked->host.data,
                                asked->host.len, ranges, room, err);
    if (nranges < 0) {
        ngx_free(ranges);
        return NGX_DECLINED;
    }

    ngx_memzero(cl->fresh, TWOFA_SLOTS);
    ngx_memzero(cl->fresh_primary, NGX_HTTP_TWOFA_CLUSTER_NODES);
    covered = 0;

    for (i = 0; i < nranges; i++) {
        r = &ranges[i];

        n = ngx_http_twofa_cluster_node(cl, (u_char *) r->host, r->host_len,
                                        (ngx_int_t) r->port);
        if (n == NGX_ERROR) {
            continue;
        }

        cl->fresh_primary[n] = 1;

        ngx_memset(&cl->fresh[r->first], (int) (n + 1),
                   r->last - r->first + 1);
        covered += r->last - r->first + 1;
    }

    ngx_free(ranges);

    if (covered != TWOFA_SLOTS) {
        ngx_log_error(NGX_LOG_WARN, cl->log, 0,
                      "twofa cluster: the slot map covers %ui of %d "
                      "slots: the others fail closed", covered,
                      TWOFA_SLOTS);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, cl->log, 0,
                   "twofa cluster: slot map: %ui slots from \"%V\"",
                   covered, &asked->host);

    return NGX_OK;
}


/*
 * Every primary of the map (and the seeds, before there is a map or when
 * no primary answered) gets its connection made again if it lost it; a
 * node the map does not name is left, so that a worker keeps one
 * connection per primary; attached clients go to the primary of the
 * first slot served.
 */

static void
ngx_http_twofa_cluster_connect(ngx_http_twofa_cluster_t *cl,
    ngx_uint_t seeds)
{
    ngx_uint_t                       i, mapped;
    ngx_http_twofa_redis_t         **rd;
    ngx_http_twofa_cluster_node_t   *node;

    mapped = 0;

    for (i = 0; i < cl->discovery.nnodes; i++) {
        mapped |= cl->nodes[i].primary;
    }

    for (i = 0; i < cl->discovery.nnodes; i++) {
        node = &cl->nodes[i];

        if (node->primary || (node->seed && (seeds || !mapped))) {
            ngx_http_twofa_redis_use(node->rd, &node->host, node->port);

        } else if (mapped) {
            ngx_http_twofa_redis_leave(node->rd);
        }
    }

    node = NULL;

    for (i = 0; i < TWOFA_SLOTS; i++) {
        if (cl->slots[i]) {
            node = &cl->nodes[cl->slots[i] - 1];
            break;
        }
    }

    if (node == NULL) {
        return;
    }

    rd = cl->discovery.clients.elts;

    for (i = 0; i < cl->discovery.clients.nelts; i++) {
        if (!ngx_http_twofa_redis_ready(rd[i])) {
            ngx_http_twofa_redis_use(rd[i], &node->host, node->port);
        }
    }
}


/*
 * The index of the node at host:port (an IP literal), added with its
 * connection (not made yet) when new; NGX_ERROR for a name or no room.
 */

static ngx_int_t
ngx_http_twofa_cluster_node(ngx_http_twofa_cluster_t *cl, u_char *host,
    size_t len, ngx_int_t port)
{
    ngx_uint_t                      i;
    ngx_http_twofa_cluster_node_t  *node;

    if (ngx_http_twofa_discovery_address(&cl->discovery, host, len, port)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < cl->discovery.nnodes; i++) {
        node = &cl->nodes[i];

        if (node->port == port && node->host.len == len
            && ngx_strncmp(node->host.data, host, len) == 0)
        {
            return i;
        }
    }

    if (cl->discovery.nnodes == NGX_HTTP_TWOFA_CLUSTER_NODES) {
        ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                      "twofa cluster: more than %d nodes",
                      NGX_HTTP_TWOFA_CLUSTER_NODES);
        return NGX_ERROR;
    }

    node = &cl->nodes[cl->discovery.nnodes];

    node->rd = ngx_http_twofa_discovery_own(&cl->discovery,
                   ngx_http_twofa_redis_create(cl->cycle, cl->conf));
    if (node->rd == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(node->host_buf, host, len);
    node->host_buf[len] = '\0';
    node->host.data = node->host_buf;
    node->host.len = len;
    node->port = (in_port_t) port;

    ngx_http_twofa_redis_set_lost(node->rd, ngx_http_twofa_cluster_lost, cl);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, cl->log, 0,
                   "twofa cluster: node \"%V:%d\"", &node->host, (int) port);

    return cl->discovery.nnodes++;
}


/*
 * A node's connection was lost, closed or refused: the map is asked for
 * again (a primary that died is replaced by one of its replicas), after a
 * backoff while the cluster still names it.  Nothing reconnects to it
 * unless the map names it again.
 */

static void
ngx_http_twofa_cluster_lost(void *data, ngx_http_twofa_redis_t *rd)
{
    ngx_http_twofa_cluster_t *cl = data;

    if (cl->discovery.exiting) {
        return;
    }

    ngx_http_twofa_discovery_schedule(&cl->discovery,
                                      cl->discovery.backoff);
}
