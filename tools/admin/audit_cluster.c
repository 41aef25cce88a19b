/*
 * audit of a cluster without --org: the trail is one stream per slot
 * ({prefix}{TAG}audit, the orgs of that slot).  The streams there are
 * found with one pipeline of EXISTS per primary (each of the slots it
 * serves), then read with audit_read.lua, a page at a time each, and
 * merged: oldest first by entry id (ms-seq, each primary's clock), then
 * by slot.  An entry's id is shown as "ms-seq@slot", one name in the
 * whole cluster.  Any node failing fails the command: no partial trail.
 * --follow: every stream to its end, then every second the new streams
 * and what each has after its last entry, merged, until SIGINT or
 * SIGTERM (blocked, taken by sigtimedwait() between calls).
 */

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "twofa_admin.h"
#include "twofa_slot.h"


#define TWOFA_ADMIN_MERGE_PAGE   100     /* rows read of a stream at once */

/* an org no entry has (an identity has no ':'): audit_read.lua skips */
#define TWOFA_ADMIN_NO_ORG       ":"

/* "ms-seq@slot" */
#define TWOFA_ADMIN_MERGED_ID    (TWOFA_ADMIN_ID_MAX + 1 + 5)


typedef struct {
    unsigned             slot;
    int                  end;
    char                 from[TWOFA_ADMIN_ID_MAX];
    redisReply          *page;          /* the last call's reply, or NULL */
    size_t               next;          /* its next row, from 1 */
    unsigned long long   ms;            /* that row's id */
    unsigned long long   seq;
} twofa_admin_stream_t;


static int twofa_admin_merge_list(twofa_admin_t *adm,
    twofa_admin_stream_t *s, int n, long limit);
static int twofa_admin_merge_skip(twofa_admin_t *adm,
    twofa_admin_stream_t *s, int n);
static int twofa_admin_merge_find(twofa_admin_t *adm,
    twofa_admin_stream_t *s, int *n, unsigned char *known);
static int twofa_admin_merge_node(twofa_admin_t *adm, int node,
    twofa_admin_stream_t *s, int *n, unsigned char *known);
static int twofa_admin_merge_head(twofa_admin_t *adm,
    twofa_admin_stream_t *s);
static int twofa_admin_merge_before(const twofa_admin_stream_t *a,
    const twofa_admin_stream_t *b);
static int twofa_admin_merge_print(twofa_admin_t *adm,
    twofa_admin_stream_t *s);


int
twofa_admin_audit_cluster(twofa_admin_t *adm)
{
    int                    i, n, rc;
    sigset_t               stop;
    unsigned char         *known;
    twofa_admin_stream_t  *s;

    s = calloc(TWOFA_SLOTS, sizeof(twofa_admin_stream_t));
    known = calloc(TWOFA_SLOTS, 1);

    if (s == NULL || known == NULL) {
        free(s);
        free(known);
        fprintf(stderr, "twofa-admin: out of memory\n");
        return TWOFA_ADMIN_EREDIS;
    }

    n = 0;
    if (twofa_admin_audit_signals(adm, &stop) != TWOFA_ADMIN_OK) {
        rc = TWOFA_ADMIN_EREDIS;
        goto done;
    }

    rc = twofa_admin_merge_find(adm, s, &n, known);
    if (rc != TWOFA_ADMIN_OK) {
        goto done;
    }

    rc = twofa_admin_merge_list(adm, s, n, adm->limit);
    if (rc != TWOFA_ADMIN_OK || !adm->follow) {
        goto done;
    }

    /* past what the limit left out, printing nothing; then what comes */

    rc = twofa_admin_merge_skip(adm, s, n);

    while (rc == TWOFA_ADMIN_OK) {
        if (twofa_admin_audit_stopped(&stop, 1)) {
            break;
        }

        rc = twofa_admin_merge_find(adm, s, &n, known);

        if (rc == TWOFA_ADMIN_OK) {
            rc = twofa_admin_merge_list(adm, s, n, LONG_MAX);
        }
    }

done:

    for (i = 0; i < n; i++) {
        freeReplyObject(s[i].page);
    }

    free(s);
    free(known);

    return rc;
}


/* the first limit rows of the streams, merged; each stream read on */

static int
twofa_admin_merge_list(twofa_admin_t *adm, twofa_admin_stream_t *s, int n,
    long limit)
{
    int   i, rc, best;
    long  left;

    for (i = 0; i < n; i++) {
        s[i].end = 0;
    }

    for (left = limit; left > 0; left--) {
        best = -1;

        for (i = 0; i < n; i++) {
            rc = twofa_admin_merge_head(adm, &s[i]);
            if (rc != TWOFA_ADMIN_OK) {
                return rc;
            }

            if (s[i].page != NULL
                && (best < 0 || twofa_admin_merge_before(&s[i], &s[best])))
            {
                best = i;
            }
        }

        if (best < 0) {
            break;
        }

        rc = twofa_admin_merge_print(adm, &s[best]);
        if (rc != TWOFA_ADMIN_OK) {
            return rc;
        }
    }

    return twofa_admin_out_flush();
}


/* --follow: every stream to its end, the rows --limit left out dropped */

static int
twofa_admin_merge_skip(twofa_admin_t *adm, twofa_admin_stream_t *s, int n)
{
    int          i, rc;
    redisReply  *page;

    for (i = 0; i < n; i++) {
        freeReplyObject(s[i].page);
        s[i].page = NULL;

        while (!s[i].end) {
            rc = twofa_admin_cluster_slot(adm, s[i].slot);

            if (rc == TWOFA_ADMIN_OK) {
                rc = twofa_admin_audit_fetch(adm, s[i].from,
                                             TWOFA_ADMIN_NO_ORG,
                                             TWOFA_AUDIT_READ_MOST, &page,
                                             &s[i].end);
            }

            if (rc != TWOFA_ADMIN_OK) {
                return rc;
            }

            freeReplyObject(page);
        }
    }

    return TWOFA_ADMIN_OK;
}


/*
 * The slots that have an audit stream, each primary's in one pipeline:
 * those not known yet are added (--follow asks again), from --since.
 */

static int
twofa_admin_merge_find(twofa_admin_t *adm, twofa_admin_stream_t *s, int *n,
    unsigned char *known)
{
    int   i, node, rc, had;
    char  from[TWOFA_ADMIN_ID_MAX];

    had = *n;

    for (node = 0; node < adm->nnodes; node++) {
        rc = twofa_admin_merge_node(adm, node, s, n, known);
        if (rc != TWOFA_ADMIN_OK) {
            return rc;
        }
    }

    if (adm->since >= 0) {
        snprintf(from, sizeof(from), "%lld-0", (long long) adm->since * 1000);

    } else {
        snprintf(from, sizeof(from), "-");
    }

    for (i = had; i < *n; i++) {
        memcpy(s[i].from, from, sizeof(from));
    }

    return TWOFA_ADMIN_OK;
}


static int
twofa_admin_merge_node(twofa_admin_t *adm, int node, twofa_admin_stream_t *s,
    int *n, unsigned char *known)
{
    int          rc, queued;
    char         key[TWOFA_ADMIN_KEY_MAX];
    size_t       len;
    unsigned     slot, first;
    redisReply  *reply;

    queued = 0;
    first = TWOFA_SLOTS;

    for (slot = 0; slot < TWOFA_SLOTS; slot++) {
        if (adm->slots[slot] != node + 1 || known[slot]) {
            continue;
        }

        rc = twofa_admin_cluster_slot(adm, slot);
        if (rc != TWOFA_ADMIN_OK) {
            return rc;
        }

        if (first == TWOFA_SLOTS) {
            first = slot;
        }

        len = twofa_admin_key(adm, key, TWOFA_KEY_AUDIT, NULL, NULL);

        if (redisAppendCommand(adm->c, "EXISTS %b", key, len) != REDIS_OK) {
            fprintf(stderr, "twofa-admin: out of memory\n");
            return TWOFA_ADMIN_EREDIS;
        }

        queued++;
    }

    rc = TWOFA_ADMIN_OK;

    for (slot = first; queued > 0; slot++) {
        if (adm->slots[slot] != node + 1 || known[slot]) {
            continue;
        }

        queued--;

        if (redisGetReply(adm->c, (void **) &reply) != REDIS_OK) {
            fprintf(stderr, "twofa-admin: redis %s: audit: %s\n", adm->addr,
                    adm->c->errstr);
            return TWOFA_ADMIN_EREDIS;
        }

        if (reply->type != REDIS_REPLY_INTEGER) {
            if (rc == TWOFA_ADMIN_OK) {
                fprintf(stderr, "twofa-admin: redis %s: audit: %s\n",
                        adm->addr, reply->type == REDIS_REPLY_ERROR
                                   ? reply->str : "unexpected reply");
            }

            rc = TWOFA_ADMIN_EREDIS;

        } else if (reply->integer == 1) {
            known[slot] = 1;
            s[(*n)++].slot = slot;
        }

        freeReplyObject(reply);
    }

    return rc;
}


/*
 * A stream's next row, read when its page is used up (a call may find
 * none among the entries it looked at, and not be at the end): page
 * NULL when the stream has no more.
 */

static int
twofa_admin_merge_head(twofa_admin_t *adm, twofa_admin_stream_t *s)
{
    int          rc;
    redisReply  *id;

    while (s->page == NULL || s->next >= s->page->elements) {
        freeReplyObject(s->page);
        s->page = NULL;
        s->next = 1;

        if (s->end) {
            return TWOFA_ADMIN_OK;
        }

        rc = twofa_admin_cluster_slot(adm, s->slot);
        if (rc != TWOFA_ADMIN_OK) {
            return rc;
        }

        rc = twofa_admin_audit_fetch(adm, s->from, NULL,
                                     TWOFA_ADMIN_MERGE_PAGE, &s->page,
                                     &s->end);
        if (rc != TWOFA_ADMIN_OK) {
            return rc;
        }
    }

    /* audit_read.lua's ids are checked: digits, '-', digits */

    id = s->page->element[s->next]->element[0];

    if (sscanf(id->str, "%llu-%llu", &s->ms, &s->seq) != 2) {
        return twofa_admin_unexpected(adm, TWOFA_SCRIPT_AUDIT_READ);
    }

    return TWOFA_ADMIN_OK;
}


static int
twofa_admin_merge_before(const twofa_admin_stream_t *a,
    const twofa_admin_stream_t *b)
{
    if (a->ms != b->ms) {
        return a->ms < b->ms;
    }

    if (a->seq != b->seq) {
        return a->seq < b->seq;
    }

    return a->slot < b->slot;
}


/* the stream's head row, its id as "ms-seq@slot", and the next row */

static int
twofa_admin_merge_print(twofa_admin_t *adm, twofa_admin_stream_t *s)
{
    int          i;
    char         id[TWOFA_ADMIN_MERGED_ID];
    redisReply   named, **row, *e[8];

    row = s->page->element[s->next]->element;

    for (i = 0; i < 8; i++) {
        e[i] = row[i];
    }

    named = *row[0];
    named.str = id;
    named.len = (size_t) snprintf(id, sizeof(id), "%llu-%llu@%u", s->ms,
                                  s->seq, s->slot);
    e[0] = &named;

    s->next++;

    return twofa_admin_out_entry(adm, e);
}
