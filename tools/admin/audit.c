/*
 * audit: the audit trail (the stream {prefix}audit), oldest first, read
 * with the module's audit_read.lua; and followed as it grows (--follow).
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "twofa_admin.h"


#define TWOFA_ADMIN_ROW_LEN      8       /* strings in one of its rows */

/* an org no entry has (an identity has no ':'): audit_read.lua skips */
#define TWOFA_ADMIN_NO_ORG       ":"


static int twofa_admin_audit_call(twofa_admin_t *adm, char *from,
    const char *org, long limit, long *rows, int *end);
static int twofa_admin_audit_check(twofa_admin_t *adm, redisReply *reply,
    long limit);
static int twofa_admin_audit_id(const redisReply *r);


/*
 * The first --limit entries from --since (or the oldest) on, of --org
 * and --user when given; each call of the script looks at no more than
 * TWOFA_AUDIT_READ_MOST entries, so none holds Redis for long.
 *
 * With --follow, then every entry added after the listing, waiting for
 * each on XREAD BLOCK (a second at a time, to look for a signal), until
 * SIGINT or SIGTERM (exit 0).  Those two stay blocked and
 * are taken by sigtimedwait() between calls: one never cuts a reply.  A
 * listing cut short by --limit goes on from the trail's end, not from the
 * entries the limit left out.
 *
 * Reading needs no deployment mark, as org show: a trail that is not
 * there lists nothing.
 */

int
twofa_admin_audit_read(twofa_admin_t *adm)
{
    int       rc, end;
    long      left, rows;
    char      from[TWOFA_ADMIN_ID_MAX];
    sigset_t  stop;

    if (adm->ncluster && adm->org == NULL) {
        return twofa_admin_audit_cluster(adm);
    }

    if (adm->since >= 0) {
        snprintf(from, sizeof(from), "%lld-0", (long long) adm->since * 1000);

    } else {
        snprintf(from, sizeof(from), "-");
    }

    if (twofa_admin_audit_signals(adm, &stop) != TWOFA_ADMIN_OK) {
        return TWOFA_ADMIN_EREDIS;
    }

    end = 0;
    rows = 0;

    for (left = adm->limit; left > 0 && !end; left -= rows) {
        rc = twofa_admin_audit_call(adm, from, adm->org, left, &rows, &end);
        if (rc != TWOFA_ADMIN_OK) {
            return rc;
        }

        if (adm->follow && twofa_admin_audit_stopped(&stop, 0)) {
            return twofa_admin_out_flush();
        }
    }

    /* with --follow, past what the limit left out, printing nothing */

    while (adm->follow && !end) {
        rc = twofa_admin_audit_call(adm, from, TWOFA_ADMIN_NO_ORG,
                                    TWOFA_AUDIT_READ_MOST, &rows, &end);
        if (rc != TWOFA_ADMIN_OK) {
            return rc;
        }

        if (twofa_admin_audit_stopped(&stop, 0)) {
            return twofa_admin_out_flush();
        }
    }

    /*
     * The listing goes out (to a pipe, it may have waited in the buffer)
     * once the trail's end is reached: what --follow prints next is new.
     */

    rc = twofa_admin_out_flush();
    if (rc != TWOFA_ADMIN_OK || !adm->follow) {
        return rc;
    }

    for ( ;; ) {
        rc = twofa_admin_audit_call(adm, from, adm->org,
                                    TWOFA_AUDIT_READ_MOST, &rows, &end);
        if (rc != TWOFA_ADMIN_OK) {
            return rc;
        }

        rc = twofa_admin_out_flush();
        if (rc != TWOFA_ADMIN_OK) {
            return rc;
        }

        /* at the end, XREAD BLOCK until the next entry (a second at most) */

        if (end) {
            rc = twofa_admin_audit_wait(adm, from);
            if (rc != TWOFA_ADMIN_OK) {
                return rc;
            }
        }

        if (twofa_admin_audit_stopped(&stop, 0)) {
            return TWOFA_ADMIN_OK;
        }
    }
}


/*
 * With --follow, SIGINT and SIGTERM are blocked and waited for
 * (twofa_admin_audit_stopped), so that a follow ends between two reads.
 */

int
twofa_admin_audit_signals(twofa_admin_t *adm, sigset_t *stop)
{
    sigemptyset(stop);

    if (!adm->follow) {
        return TWOFA_ADMIN_OK;
    }

    sigaddset(stop, SIGINT);
    sigaddset(stop, SIGTERM);

    if (sigprocmask(SIG_BLOCK, stop, NULL) != 0) {
        fprintf(stderr, "twofa-admin: sigprocmask: %s\n", strerror(errno));
        return TWOFA_ADMIN_EREDIS;
    }

    return TWOFA_ADMIN_OK;
}


/* whether SIGINT or SIGTERM came, waiting up to secs for one */

int
twofa_admin_audit_stopped(const sigset_t *stop, time_t secs)
{
    int              sig;
    struct timespec  ts;

    ts.tv_sec = secs;
    ts.tv_nsec = 0;

    sig = sigtimedwait(stop, NULL, &ts);

    return sig == SIGINT || sig == SIGTERM;
}


/*
 * One call of audit_read.lua from "from" on, its rows printed (none with
 * TWOFA_ADMIN_NO_ORG), at most limit of them.
 */

static int
twofa_admin_audit_call(twofa_admin_t *adm, char *from, const char *org,
    long limit, long *rows, int *end)
{
    int          rc;
    size_t       i;
    redisReply  *reply;

    rc = twofa_admin_audit_fetch(adm, from, org, limit, &reply, end);
    if (rc != TWOFA_ADMIN_OK) {
        return rc;
    }

    for (i = 1; i < reply->elements; i++) {
        rc = twofa_admin_out_entry(adm, reply->element[i]->element);
        if (rc != TWOFA_ADMIN_OK) {
            break;
        }
    }

    *rows = (long) reply->elements - 1;

    freeReplyObject(reply);

    return rc;
}


/*
 * One call of audit_read.lua from "from" on, its reply checked and given
 * in *out (the caller frees it): {last id looked at, rows...}, at most
 * limit rows.  "from" moves past the last entry the script looked at;
 * *end is set when it looked at none: the stream has nothing after
 * "from".
 */

int
twofa_admin_audit_fetch(twofa_admin_t *adm, char *from, const char *org,
    long limit, redisReply **out, int *end)
{
    int                  rc;
    char                 n[TWOFA_ADMIN_INT_LEN], most[TWOFA_ADMIN_INT_LEN];
    const char          *user;
    redisReply          *reply, *last;
    twofa_admin_args_t   args;

    user = adm->user ? adm->user : "";

    if (org == NULL) {
        org = "";
    }

    memset(&args, 0, sizeof(twofa_admin_args_t));
    twofa_admin_key_arg(adm, &args, TWOFA_KEY_AUDIT, NULL, NULL);
    twofa_admin_arg(&args, from, strlen(from));
    twofa_admin_arg(&args, org, strlen(org));
    twofa_admin_arg(&args, user, strlen(user));
    twofa_admin_arg(&args, n,
                    (size_t) snprintf(n, sizeof(n), "%ld", limit));
    twofa_admin_arg(&args, most,
                    (size_t) snprintf(most, sizeof(most), "%d",
                                      TWOFA_AUDIT_READ_MOST));

    reply = twofa_admin_script(adm, TWOFA_SCRIPT_AUDIT_READ, &args);
    if (reply == NULL) {
        return TWOFA_ADMIN_EREDIS;
    }

    rc = twofa_admin_audit_check(adm, reply, limit);
    if (rc != TWOFA_ADMIN_OK) {
        freeReplyObject(reply);
        return rc;
    }

    last = reply->element[0];

    *end = (last->len == 0);

    if (!*end) {
        from[0] = '(';
        memcpy(from + 1, last->str, last->len);
        from[last->len + 1] = '\0';
    }

    *out = reply;

    return TWOFA_ADMIN_OK;
}


/* {last id looked at or '', rows of eight strings...}, limit rows at most */

static int
twofa_admin_audit_check(twofa_admin_t *adm, redisReply *reply, long limit)
{
    size_t        i, j;
    redisReply  **e, *row;

    e = reply->element;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
        || reply->elements - 1 > (size_t) limit
        || e[0]->type != REDIS_REPLY_STRING
        || (e[0]->len != 0 && twofa_admin_audit_id(e[0]) != 0))
    {
        return twofa_admin_unexpected(adm, TWOFA_SCRIPT_AUDIT_READ);
    }

    for (i = 1; i < reply->elements; i++) {
        row = e[i];

        if (row->type != REDIS_REPLY_ARRAY
            || row->elements != TWOFA_ADMIN_ROW_LEN)
        {
            return twofa_admin_unexpected(adm, TWOFA_SCRIPT_AUDIT_READ);
        }

        for (j = 0; j < TWOFA_ADMIN_ROW_LEN; j++) {
            if (row->element[j]->type != REDIS_REPLY_STRING) {
                return twofa_admin_unexpected(adm, TWOFA_SCRIPT_AUDIT_READ);
            }
        }
    }

    return TWOFA_ADMIN_OK;
}


/* a stream entry id, "ms-seq": it goes back to Redis as "(ms-seq" */

static int
twofa_admin_audit_id(const redisReply *r)
{
    size_t  ms;

    if (r->len + 2 > TWOFA_ADMIN_ID_MAX) {
        return -1;
    }

    ms = strspn(r->str, "0123456789");

    if (ms == 0 || ms > 20 || r->str[ms] != '-'
        || r->len - ms - 1 == 0 || r->len - ms - 1 > 20
        || strspn(r->str + ms + 1, "0123456789") != r->len - ms - 1)
    {
        return -1;
    }

    return 0;
}
