/*
 * init: the deployment mark, by which the module tells a new Redis from
 * one that lost its data.
 */

#include <stdio.h>
#include <string.h>

#include "twofa_admin.h"


static int twofa_admin_init_cluster(twofa_admin_t *adm, time_t now,
    const char *by);


/*
 * init.lua: marks this Redis as holding a twofa deployment; the module
 * refuses every login on a Redis without the mark (one that lost its
 * data).  The mark records who made it, as the audit line names them.
 */

int
twofa_admin_init(twofa_admin_t *adm)
{
    int                  rc;
    time_t               now;
    const char          *by;
    redisReply          *reply;
    twofa_admin_args_t   args;

    now = twofa_admin_now();

    by = twofa_admin_who();
    if (by == NULL) {
        by = "twofa-admin";
    }

    if (adm->ncluster) {
        return twofa_admin_init_cluster(adm, now, by);
    }

    memset(&args, 0, sizeof(twofa_admin_args_t));
    twofa_admin_key_arg(adm, &args, TWOFA_KEY_DEPLOYMENT, NULL, NULL);
    twofa_admin_key_arg(adm, &args, TWOFA_KEY_AUDIT, NULL, NULL);
    twofa_admin_arg_now(&args, now);
    twofa_admin_arg(&args, by, strlen(by));
    twofa_admin_audit_args(adm, &args, "", "");

    reply = twofa_admin_script(adm, TWOFA_SCRIPT_INIT, &args);
    if (reply == NULL) {
        return TWOFA_ADMIN_EREDIS;
    }

    if (reply->type != REDIS_REPLY_INTEGER) {
        freeReplyObject(reply);
        return twofa_admin_unexpected(adm, TWOFA_SCRIPT_INIT);
    }

    twofa_admin_out_begin(adm);
    twofa_admin_out_flag(adm, "initialised", 1, "yes", "no");
    twofa_admin_out_flag(adm, "created", reply->integer == 1, "yes", "no");

    if (reply->integer == 1) {
        twofa_admin_audit(adm, now, "init");
    }

    rc = twofa_admin_out_end(adm);

    freeReplyObject(reply);

    return rc;
}


/*
 * With a cluster: the mark in every slot (cluster.c).  The audit trail
 * of a cluster is kept per org's slot: this one event of no org is only
 * printed.
 */

static int
twofa_admin_init_cluster(twofa_admin_t *adm, time_t now, const char *by)
{
    int   rc;
    long  created;
    char  when[TWOFA_ADMIN_INT_LEN];

    snprintf(when, sizeof(when), "%lld", (long long) now);

    rc = twofa_admin_cluster_init(adm, when, by, &created);
    if (rc != TWOFA_ADMIN_OK) {
        return rc;
    }

    twofa_admin_out_begin(adm);
    twofa_admin_out_flag(adm, "initialised", 1, "yes", "no");
    twofa_admin_out_flag(adm, "created", created > 0, "yes", "no");

    if (created > 0) {
        twofa_admin_audit(adm, now, "init");
    }

    return twofa_admin_out_end(adm);
}
