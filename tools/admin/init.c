/*
 * init: the deployment mark, by which the module tells a new Redis from
 * one that lost its data.
 */

#include <string.h>

#include "twofa_admin.h"


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
