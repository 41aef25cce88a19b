/*
 * --redis "cluster=H:P[,H:P...]": the slot map, asked of the seeds in
 * turn (CLUSTER SLOTS); each command then goes to the primary of its
 * org's slot, with the keys of that slot ("{prefix}{TAG}...", the
 * module's layout: include/twofa_keys.h), and follows MOVED, ASK and
 * TRYAGAIN as the module does.  init marks every slot.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "twofa_admin.h"
#include "twofa_slot.h"
#include "twofa_slots.h"


#define TWOFA_ADMIN_REDIRECTS    5
#define TWOFA_ADMIN_TRYAGAIN_US  20000


static int twofa_admin_cluster_map(twofa_admin_t *adm);
static int twofa_admin_cluster_node(twofa_admin_t *adm, const char *host,
    size_t len, long port);
static int twofa_admin_cluster_open(twofa_admin_t *adm, int node);
static int twofa_admin_cluster_follow(twofa_admin_t *adm, redisReply *reply,
    int *tries, long *waited);
static int twofa_admin_cluster_mark(twofa_admin_t *adm, int node,
    const char *now, const char *by, long *created);


/* "cluster=H:P[,H:P...]", split in place in a copy, each address checked */

int
twofa_admin_cluster_parse(twofa_admin_t *adm, const char *value)
{
    size_t  len;

    len = strlen(value);

    if (len <= 8 || len >= sizeof(adm->spec) || strchr(value, ' ')) {
        return -1;
    }

    memcpy(adm->spec, value, len + 1);

    return twofa_admin_parse_list(adm->spec + 8, 6379, adm->seed,
                                  &adm->ncluster);
}


/* the seeds in turn, until one gives the slot map */

int
twofa_admin_cluster_connect(twofa_admin_t *adm)
{
    int  i, rc;

    adm->node = -1;
    rc = TWOFA_ADMIN_EREDIS;

    memcpy(adm->base_prefix, adm->prefix, adm->prefix_len + 1);

    for (i = 0; i < adm->ncluster; i++) {
        adm->addr = adm->seed[i];

        if (twofa_admin_parse_hostport(adm->seed[i], 6379, adm->host,
                                       &adm->port)
            != 0)
        {
            continue;
        }

        if (adm->c) {
            redisFree(adm->c);
            adm->c = NULL;
        }

        rc = twofa_admin_open(adm);

        if (rc == TWOFA_ADMIN_OK) {
            rc = twofa_admin_cluster_map(adm);
        }

        if (rc == TWOFA_ADMIN_OK) {
            return rc;
        }
    }

    fprintf(stderr, "twofa-admin: no seed of the cluster gave its slot "
            "map\n");

    return rc;
}


/*
 * CLUSTER SLOTS, read as include/twofa_slots.h says, into adm->slots.  A
 * range whose primary twofa_admin_cluster_node() refuses stays unserved.
 */

static int
twofa_admin_cluster_map(twofa_admin_t *adm)
{
    int                   i, n, nranges;
    size_t                covered;
    const char           *err;
    redisReply           *reply;
    twofa_slots_range_t  *ranges, *r;

    ranges = malloc(TWOFA_SLOTS_RANGES * sizeof(twofa_slots_range_t));
    if (ranges == NULL) {
        fprintf(stderr, "twofa-admin: out of memory\n");
        return TWOFA_ADMIN_EREDIS;
    }

    reply = redisCommand(adm->c, "CLUSTER SLOTS");

    nranges = twofa_slots_parse(reply, adm->host, strlen(adm->host), ranges,
                                TWOFA_SLOTS_RANGES, &err);
    if (nranges < 0) {
        fprintf(stderr, "twofa-admin: redis %s: no slot map: %s\n",
                adm->addr, err);
        freeReplyObject(reply);
        free(ranges);
        return TWOFA_ADMIN_EREDIS;
    }

    memset(adm->slots, 0, sizeof(adm->slots));
    covered = 0;

    for (i = 0; i < nranges; i++) {
        r = &ranges[i];

        n = twofa_admin_cluster_node(adm, r->host, r->host_len,
                                     (long) r->port);
        if (n < 0) {
            continue;
        }

        memset(&adm->slots[r->first], n + 1, r->last - r->first + 1);
        covered += r->last - r->first + 1;
    }

    freeReplyObject(reply);
    free(ranges);

    if (covered != TWOFA_SLOTS) {
        fprintf(stderr, "twofa-admin: the cluster serves %zu of %d slots\n",
                covered, TWOFA_SLOTS);
    }

    return TWOFA_ADMIN_OK;
}


static int
twofa_admin_cluster_node(twofa_admin_t *adm, const char *host, size_t len,
    long port)
{
    int  i;

    if (len == 0 || len > TWOFA_ADMIN_HOST_MAX || port < 1 || port > 65535) {
        return -1;
    }

    for (i = 0; i < adm->nnodes; i++) {
        if (adm->nodes[i].port == port && strlen(adm->nodes[i].host) == len
            && memcmp(adm->nodes[i].host, host, len) == 0)
        {
            return i;
        }
    }

    if (adm->nnodes == TWOFA_ADMIN_CLUSTER_NODES) {
        return -1;
    }

    memcpy(adm->nodes[adm->nnodes].host, host, len);
    adm->nodes[adm->nnodes].host[len] = '\0';
    adm->nodes[adm->nnodes].port = (int) port;

    return adm->nnodes++;
}


/* the connection to one node, unless it is the one open */

static int
twofa_admin_cluster_open(twofa_admin_t *adm, int node)
{
    if (adm->c && adm->node == node) {
        return TWOFA_ADMIN_OK;
    }

    if (adm->c) {
        redisFree(adm->c);
        adm->c = NULL;
    }

    adm->node = node;
    snprintf(adm->node_addr, sizeof(adm->node_addr), "%s:%d",
             adm->nodes[node].host, adm->nodes[node].port);
    adm->addr = adm->node_addr;
    snprintf(adm->host, sizeof(adm->host), "%s", adm->nodes[node].host);
    adm->port = adm->nodes[node].port;

    return twofa_admin_open(adm);
}


/*
 * The keys of an org's slot from now on, and the connection to its
 * primary.  Without an org, audit reads the whole trail, merged from
 * every slot's stream (audit_cluster.c): no one slot here.
 */

int
twofa_admin_cluster_org(twofa_admin_t *adm, const char *org)
{
    if (org == NULL) {
        return TWOFA_ADMIN_OK;
    }

    return twofa_admin_cluster_slot(adm, twofa_slot_of_org(org,
                                                           strlen(org)));
}


/* the keys of one slot from now on, and the connection to its primary */

int
twofa_admin_cluster_slot(twofa_admin_t *adm, unsigned slot)
{
    adm->prefix_len = twofa_key_cluster_prefix(adm->tagged, adm->base_prefix,
                                               strlen(adm->base_prefix),
                                               slot);
    adm->tagged[adm->prefix_len] = '\0';
    adm->prefix = adm->tagged;

    if (adm->slots[slot] == 0) {
        fprintf(stderr, "twofa-admin: no node serves slot %u\n", slot);
        return TWOFA_ADMIN_EREDIS;
    }

    return twofa_admin_cluster_open(adm, adm->slots[slot] - 1);
}


/*
 * The loop of every command a cluster may redirect: while this says 1,
 * *reply is freed and the command is to be sent again; at 0 *reply
 * stands, NULL (freed) where a redirect failed, which each caller takes
 * as no reply.
 */

int
twofa_admin_cluster_redirect(twofa_admin_t *adm, redisReply **reply,
    int *tries, long *waited)
{
    int  rc;

    rc = twofa_admin_cluster_follow(adm, *reply, tries, waited);

    if (rc == 0) {
        return 0;
    }

    freeReplyObject(*reply);
    *reply = NULL;

    return rc > 0;
}


/*
 * A reply that says the command belongs elsewhere: MOVED (reconnect
 * there), ASK (there, after ASKING), TRYAGAIN (a moment, inside the
 * timeout).  1: send it again; 0: the reply stands; -1: failed.
 */

static int
twofa_admin_cluster_follow(twofa_admin_t *adm, redisReply *reply,
    int *tries, long *waited)
{
    int          n, ask;
    long         port;
    char        *space, *colon;
    redisReply       *ok;
    struct timespec   pause;

    pause.tv_sec = 0;
    pause.tv_nsec = TWOFA_ADMIN_TRYAGAIN_US * 1000L;

    if (adm->ncluster == 0 || reply == NULL
        || reply->type != REDIS_REPLY_ERROR)
    {
        return 0;
    }

    if (strncmp(reply->str, "TRYAGAIN", 8) == 0) {
        if (*waited + TWOFA_ADMIN_TRYAGAIN_US / 1000 >= adm->timeout) {
            return 0;
        }

        nanosleep(&pause, NULL);
        *waited += TWOFA_ADMIN_TRYAGAIN_US / 1000;

        return 1;
    }

    ask = (strncmp(reply->str, "ASK ", 4) == 0);

    if (!ask && strncmp(reply->str, "MOVED ", 6) != 0) {
        return 0;
    }

    if (++*tries > TWOFA_ADMIN_REDIRECTS) {
        return 0;
    }

    space = strrchr(reply->str, ' ');
    colon = space ? strrchr(space, ':') : NULL;

    if (colon == NULL
        || twofa_admin_parse_long(colon + 1, 1, 65535, &port) != 0)
    {
        return 0;
    }

    n = twofa_admin_cluster_node(adm, space + 1, (size_t) (colon - space - 1),
                                 port);
    if (n < 0 || twofa_admin_cluster_open(adm, n) != TWOFA_ADMIN_OK) {
        return -1;
    }

    if (ask) {
        ok = redisCommand(adm->c, "ASKING");

        if (ok == NULL || ok->type == REDIS_REPLY_ERROR) {
            freeReplyObject(ok);
            return -1;
        }

        freeReplyObject(ok);
    }

    return 1;
}


/*
 * init with a cluster: the deployment mark in every slot (the module
 * checks the one of the slot it works in), each primary's slots in one
 * pipeline; an existing mark is kept (HSETNX).
 */

int
twofa_admin_cluster_init(twofa_admin_t *adm, const char *now, const char *by,
    long *created)
{
    int  n, rc;

    *created = 0;

    for (n = 0; n < adm->nnodes; n++) {
        rc = twofa_admin_cluster_mark(adm, n, now, by, created);
        if (rc != TWOFA_ADMIN_OK) {
            return rc;
        }
    }

    return TWOFA_ADMIN_OK;
}


static int
twofa_admin_cluster_mark(twofa_admin_t *adm, int node, const char *now,
    const char *by, long *created)
{
    int          rc, queued;
    char         prefix[TWOFA_ADMIN_PREFIX_MAX + TWOFA_KEY_CLUSTER_EXTRA];
    char         key[TWOFA_ADMIN_KEY_MAX];
    size_t       len, plen;
    unsigned     slot;
    redisReply  *reply;

    queued = 0;

    for (slot = 0; slot < TWOFA_SLOTS; slot++) {
        if (adm->slots[slot] != node + 1) {
            continue;
        }

        if (queued == 0) {
            rc = twofa_admin_cluster_open(adm, node);
            if (rc != TWOFA_ADMIN_OK) {
                return rc;
            }
        }

        plen = twofa_key_cluster_prefix(prefix, adm->base_prefix,
                                        strlen(adm->base_prefix), slot);
        len = twofa_key(key, TWOFA_KEY_DEPLOYMENT, prefix, plen, NULL, 0,
                        NULL, 0);

        if (redisAppendCommand(adm->c, "HSETNX %b created %s", key, len,
                               now)
            != REDIS_OK
            || redisAppendCommand(adm->c, "HSETNX %b by %s", key, len, by)
               != REDIS_OK)
        {
            fprintf(stderr, "twofa-admin: out of memory\n");
            return TWOFA_ADMIN_EREDIS;
        }

        queued += 2;
    }

    rc = TWOFA_ADMIN_OK;

    for ( /* void */ ; queued > 0; queued--) {
        if (redisGetReply(adm->c, (void **) &reply) != REDIS_OK) {
            fprintf(stderr, "twofa-admin: redis %s: init: %s\n", adm->addr,
                    adm->c->errstr);
            return TWOFA_ADMIN_EREDIS;
        }

        if (reply->type == REDIS_REPLY_ERROR) {
            if (rc == TWOFA_ADMIN_OK) {
                fprintf(stderr, "twofa-admin: redis %s: init: %s\n",
                        adm->addr, reply->str);
            }

            rc = TWOFA_ADMIN_EREDIS;

        } else if (reply->type == REDIS_REPLY_INTEGER && (queued % 2) == 0) {
            *created += reply->integer;
        }

        freeReplyObject(reply);
    }

    return rc;
}


/*
 * A reset's revocation, written by reset.lua in the org's slot and
 * published, copied into the hash the module's workers read after they
 * (re)subscribe: key (the prefix's "revocations"), in a slot of its own.
 */

int
twofa_admin_cluster_revocation(twofa_admin_t *adm, const char *key,
    const char *subject, time_t now)
{
    int          tries;
    long         waited;
    unsigned     slot;
    redisReply  *reply;

    slot = twofa_slot(key, strlen(key));

    if (adm->slots[slot] == 0
        || twofa_admin_cluster_open(adm, adm->slots[slot] - 1)
           != TWOFA_ADMIN_OK)
    {
        goto failed;
    }

    tries = 0;
    waited = 0;

    do {
        reply = redisCommand(adm->c, "HSET %s %s %lld", key, subject,
                             (long long) now);
    } while (twofa_admin_cluster_redirect(adm, &reply, &tries, &waited));

    if (reply && reply->type == REDIS_REPLY_INTEGER) {
        freeReplyObject(reply);
        return TWOFA_ADMIN_OK;
    }

    freeReplyObject(reply);

failed:

    fprintf(stderr, "twofa-admin: the reset is done and published, but its "
            "revocation could not be copied to %s: a worker that "
            "reconnects meanwhile may miss it; run the reset again\n", key);

    return TWOFA_ADMIN_EREDIS;
}
