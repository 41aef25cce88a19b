/*
 * user show and user reset: one user's TOTP state, read as a page reads
 * it, and the module's reset.
 */

#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>

#include "twofa_admin.h"


#define TWOFA_ADMIN_STATE_LEN    18      /* elements of state.lua's reply */


static int twofa_admin_state_check(twofa_admin_t *adm, redisReply *reply);
static void twofa_admin_user_print(twofa_admin_t *adm, redisReply **e);


/*
 * state.lua, as a page reads a user's state: no hold, no pending
 * enrollment, no sealed response.  Its reply carries the sealed secret
 * too (element 7): every string in it is wiped before the reply is freed.
 */

int
twofa_admin_user_show(twofa_admin_t *adm)
{
    int                  rc;
    size_t               i;
    redisReply          *reply;
    twofa_admin_args_t   args;

    /* the keys, for a cluster's redirects; the script names its own */

    memset(&args, 0, sizeof(twofa_admin_args_t));
    twofa_admin_key_arg(adm, &args, TWOFA_KEY_DEPLOYMENT, NULL, NULL);
    twofa_admin_key_arg(adm, &args, TWOFA_KEY_USER, adm->org, adm->user);
    twofa_admin_arg(&args, adm->prefix, adm->prefix_len);
    twofa_admin_arg(&args, "", 0);                 /* no hold */
    twofa_admin_arg(&args, adm->org, strlen(adm->org));
    twofa_admin_arg(&args, adm->user, strlen(adm->user));
    twofa_admin_arg(&args, "0", 1);                /* no response */
    twofa_admin_arg(&args, "", 0);                 /* no pending binding */

    reply = twofa_admin_script(adm, TWOFA_SCRIPT_STATE, &args);
    if (reply == NULL) {
        return TWOFA_ADMIN_EREDIS;
    }

    rc = twofa_admin_state_check(adm, reply);

    if (rc == TWOFA_ADMIN_OK) {
        twofa_admin_out_begin(adm);
        twofa_admin_user_print(adm, reply->element);
        rc = twofa_admin_out_end(adm);
    }

    for (i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements;
         i++)
    {
        if (reply->element[i]->type == REDIS_REPLY_STRING) {
            OPENSSL_cleanse(reply->element[i]->str, reply->element[i]->len);
        }
    }

    freeReplyObject(reply);

    return rc;
}


/* state.lua's reply: {-1} without the deployment mark, else 18 elements */

static int
twofa_admin_state_check(twofa_admin_t *adm, redisReply *reply)
{
    size_t        i;
    redisReply  **e;

    static const int  types[TWOFA_ADMIN_STATE_LEN] = {
        REDIS_REPLY_INTEGER, REDIS_REPLY_INTEGER, REDIS_REPLY_INTEGER,
        REDIS_REPLY_STRING, REDIS_REPLY_STRING, REDIS_REPLY_INTEGER,
        REDIS_REPLY_INTEGER, REDIS_REPLY_STRING, REDIS_REPLY_STRING,
        REDIS_REPLY_STRING, REDIS_REPLY_STRING, REDIS_REPLY_INTEGER,
        REDIS_REPLY_INTEGER, REDIS_REPLY_INTEGER, REDIS_REPLY_STRING,
        REDIS_REPLY_STRING, REDIS_REPLY_STRING, REDIS_REPLY_STRING
    };

    e = reply->element;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
        || e[0]->type != REDIS_REPLY_INTEGER)
    {
        return twofa_admin_unexpected(adm, TWOFA_SCRIPT_STATE);
    }

    if (reply->elements == 1 && e[0]->integer == -1) {
        return twofa_admin_no_deployment(adm);
    }

    if (reply->elements != TWOFA_ADMIN_STATE_LEN || e[0]->integer != 0) {
        return twofa_admin_unexpected(adm, TWOFA_SCRIPT_STATE);
    }

    for (i = 0; i < TWOFA_ADMIN_STATE_LEN; i++) {
        if (e[i]->type != types[i]) {
            return twofa_admin_unexpected(adm, TWOFA_SCRIPT_STATE);
        }
    }

    return TWOFA_ADMIN_OK;
}


/*
 * What user show prints of state.lua's reply: enabled (6), enrolled_at
 * (9), required (5), recovery codes left (11), failures (12) and the
 * failure window's PTTL (13); never the secret (7).
 */

static void
twofa_admin_user_print(twofa_admin_t *adm, redisReply **e)
{
    int      enrolled;
    int64_t  enrolled_at, failures, ttl;

    enrolled = (e[6]->integer == 1);

    if (!enrolled
        || twofa_admin_parse_int64(e[9]->str, e[9]->len, &enrolled_at) != 0)
    {
        enrolled_at = 0;
    }

    /* the script counts a counter that is no number as 0; so do we < 0 */

    failures = e[12]->integer < 0 ? 0 : (int64_t) e[12]->integer;

    /* PTTL: -2 no counter, -1 a counter that never expires */

    ttl = e[13]->integer;
    ttl = ttl == -2 ? 0 : (ttl < 0 ? -1 : (ttl + 999) / 1000);

    twofa_admin_out_str(adm, "org", adm->org);
    twofa_admin_out_str(adm, "user", adm->user);
    twofa_admin_out_flag(adm, "enrolled", enrolled, "yes", "no");
    twofa_admin_out_time(adm, "enrolled_at", enrolled_at);
    twofa_admin_out_flag(adm, "org_require", e[5]->integer == 1, "on",
                         "off");
    twofa_admin_out_flag(adm, "locked", failures >= adm->lockout,
                         "yes", "no");
    twofa_admin_out_int(adm, "failures", (long long) failures);
    twofa_admin_out_int(adm, "failures_ttl", (long long) ttl);
    twofa_admin_out_int(adm, "lockout", (long long) adm->lockout);
    twofa_admin_out_int(adm, "recovery_left", (long long) e[11]->integer);
}


/*
 * reset.lua, the module's reset: the user's TOTP state, live holds and
 * failures go, and the sessions made before now are revoked on every edge
 * (the revocations hash, and a message on the channel of the same name);
 * what was there before is read in the same atomic step.
 */

int
twofa_admin_user_reset(twofa_admin_t *adm)
{
    int                  rc;
    char                 hold[TWOFA_ADMIN_KEY_MAX];
    char                 channel[TWOFA_ADMIN_KEY_MAX];
    char                 subject[2 * TWOFA_ID_MAX + 2];
    time_t               now;
    redisReply          *reply, **e;
    twofa_admin_args_t   args;

    now = twofa_admin_now();

    memset(&args, 0, sizeof(twofa_admin_args_t));
    twofa_admin_key_arg(adm, &args, TWOFA_KEY_USER, adm->org, adm->user);
    twofa_admin_key_arg(adm, &args, TWOFA_KEY_FAIL, adm->org, adm->user);
    twofa_admin_key_arg(adm, &args, TWOFA_KEY_HOLDS, adm->org, adm->user);
    twofa_admin_key_arg(adm, &args, TWOFA_KEY_REVOCATIONS, NULL, NULL);
    twofa_admin_key_arg(adm, &args, TWOFA_KEY_AUDIT, NULL, NULL);

    twofa_admin_arg(&args, hold,
                    twofa_admin_key(adm, hold, TWOFA_KEY_HOLD, NULL, NULL));
    twofa_admin_arg_now(&args, now);
    twofa_admin_arg(&args, subject,
                    (size_t) snprintf(subject, sizeof(subject), "%s\n%s",
                                      adm->org, adm->user));
    /* the channel: the revocations' name without a cluster's tag */

    twofa_admin_arg(&args, channel,
                    (size_t) snprintf(channel, sizeof(channel),
                                      "%srevocations",
                                      adm->ncluster ? adm->base_prefix
                                                    : adm->prefix));
    twofa_admin_audit_args(adm, &args, adm->org, adm->user);

    reply = twofa_admin_script(adm, TWOFA_SCRIPT_RESET, &args);
    if (reply == NULL) {
        return TWOFA_ADMIN_EREDIS;
    }

    if (!twofa_admin_is_pair(reply)) {
        /* the keys may be gone: say so, the change cannot be confirmed */
        freeReplyObject(reply);
        return twofa_admin_unexpected(adm, TWOFA_SCRIPT_RESET);
    }

    e = reply->element;

    twofa_admin_out_begin(adm);
    twofa_admin_out_str(adm, "org", adm->org);
    twofa_admin_out_str(adm, "user", adm->user);
    twofa_admin_out_flag(adm, "existed", e[0]->integer != 0, "yes", "no");
    twofa_admin_out_flag(adm, "was_enrolled", e[1]->integer != 0, "yes",
                         "no");
    twofa_admin_audit(adm, now, "user reset");
    rc = twofa_admin_out_end(adm);

    freeReplyObject(reply);

    /* a cluster: copied where the module's workers read revocations */

    if (adm->ncluster && rc == TWOFA_ADMIN_OK) {
        rc = twofa_admin_cluster_revocation(adm, channel, subject, now);
    }

    return rc;
}
