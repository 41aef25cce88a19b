/*
 * org require and org show: an org's policy, as the module reads it.
 */

#include <string.h>

#include "twofa_admin.h"


static int twofa_admin_org_print(twofa_admin_t *adm, twofa_script_id_t id,
    redisReply *reply, time_t now);


/* org_set.lua: one HSET of require and updated, as the module's */

int
twofa_admin_org_require(twofa_admin_t *adm)
{
    time_t               now;
    redisReply          *reply;
    twofa_admin_args_t   args;

    now = twofa_admin_now();

    memset(&args, 0, sizeof(twofa_admin_args_t));
    twofa_admin_key_arg(adm, &args, TWOFA_KEY_ORG, adm->org, NULL);
    adm->key_org = args.keys[0];
    twofa_admin_key_arg(adm, &args, TWOFA_KEY_DEPLOYMENT, NULL, NULL);
    twofa_admin_key_arg(adm, &args, TWOFA_KEY_AUDIT, NULL, NULL);
    twofa_admin_arg(&args, adm->require ? "1" : "0", 1);
    twofa_admin_arg_now(&args, now);
    twofa_admin_audit_args(adm, &args, adm->org, "");

    reply = twofa_admin_script(adm, TWOFA_SCRIPT_ORG_SET, &args);
    if (reply == NULL) {
        return TWOFA_ADMIN_EREDIS;
    }

    return twofa_admin_org_print(adm, TWOFA_SCRIPT_ORG_SET, reply, now);
}


/*
 * org_get.lua: the policy as the module reads it (only "1" requires; an
 * org never set, or an "updated" that is no number, shows 0: none).
 */

int
twofa_admin_org_show(twofa_admin_t *adm)
{
    redisReply          *reply;
    twofa_admin_args_t   args;

    memset(&args, 0, sizeof(twofa_admin_args_t));
    twofa_admin_key_arg(adm, &args, TWOFA_KEY_ORG, adm->org, NULL);
    adm->key_org = args.keys[0];

    reply = twofa_admin_script(adm, TWOFA_SCRIPT_ORG_GET, &args);
    if (reply == NULL) {
        return TWOFA_ADMIN_EREDIS;
    }

    return twofa_admin_org_print(adm, TWOFA_SCRIPT_ORG_GET, reply, 0);
}


/*
 * org_set.lua's or org_get.lua's {required, updated}, printed, and freed;
 * a change gets its audit line.  {-1, 0} is org_set.lua's answer on a
 * Redis without the deployment mark.
 */

static int
twofa_admin_org_print(twofa_admin_t *adm, twofa_script_id_t id,
    redisReply *reply, time_t now)
{
    int           rc;
    redisReply  **e;

    if (!twofa_admin_is_pair(reply)) {
        rc = twofa_admin_unexpected(adm, id);
        goto done;
    }

    e = reply->element;

    if (e[0]->integer < 0) {
        rc = twofa_admin_no_deployment(adm);
        goto done;
    }

    twofa_admin_out_begin(adm);
    twofa_admin_out_str(adm, "org", adm->org);
    twofa_admin_out_flag(adm, "require", e[0]->integer == 1, "on", "off");
    twofa_admin_out_time(adm, "updated", (int64_t) e[1]->integer);

    /* a cluster's key holds its slot's tag: said, for redis-cli */

    if (adm->ncluster) {
        twofa_admin_out_str(adm, "key", adm->key_org);
    }

    if (id == TWOFA_SCRIPT_ORG_SET) {
        twofa_admin_audit(adm, now, adm->require ? "org require on"
                                                 : "org require off");
    }

    rc = twofa_admin_out_end(adm);

done:

    freeReplyObject(reply);

    return rc;
}
