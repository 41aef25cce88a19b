/*
 * twofa-edge: typed operations over the Redis keys (include/twofa_keys.h
 * builds them, the README lists them).  Each operation is one Lua script
 * of lua/ (one round trip, atomic, so two edges can never both accept one
 * code or both release one hold), sent as EVALSHA and, after NOSCRIPT
 * (a restarted or flushed Redis), once as EVAL, which loads it again.
 * Each reply is parsed into the operation's own outcome
 * (ngx_http_twofa_store_send.c sends them).
 *
 * In a Redis Cluster every key of one operation lives in one slot: the
 * keys' prefix holds the hash tag of the slot of the org (README, "Redis"),
 * a hold token carries that slot too, and the command goes to the slot's
 * primary (ngx_http_twofa_cluster.c).  The one script that names keys at
 * run time (state, from a hold's owner) builds them from that prefix, so
 * they stay in the slot.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"
#include "twofa_keys.h"
#include "twofa_scripts.h"
#include "twofa_slot.h"


/*
 * Where an operation's keys live: their prefix and, in a cluster, their
 * slot (the tag of the org's slot follows the prefix); and a cluster's
 * reset or disable: the revocation to copy where every worker reads them
 * (key, field, stamp), or an empty key.
 */
typedef struct {
    ngx_str_t                   prefix;
    unsigned                    slot;
    ngx_str_t                   revoke[3];
} ngx_http_twofa_store_at_t;


static ngx_int_t ngx_http_twofa_store_eval(ngx_http_request_t *r,
    ngx_http_twofa_store_at_t *at, twofa_script_id_t id, ngx_uint_t nkeys,
    ngx_str_t *args, ngx_uint_t nargs, ngx_http_twofa_store_parse_t *parse,
    ngx_http_twofa_store_handler_pt handler);
static ngx_int_t ngx_http_twofa_store_eval_audited(ngx_http_request_t *r,
    ngx_http_twofa_store_at_t *at, twofa_script_id_t id, ngx_uint_t nkeys,
    ngx_str_t *args, ngx_uint_t nargs, ngx_str_t *org, ngx_str_t *user,
    ngx_http_twofa_store_parse_t *parse,
    ngx_http_twofa_store_handler_pt handler);
static ngx_int_t ngx_http_twofa_store_key(ngx_http_request_t *r,
    ngx_http_twofa_store_at_t *at, ngx_str_t *key, twofa_key_kind_t kind,
    ngx_str_t *a, ngx_str_t *b);
static ngx_int_t ngx_http_twofa_store_check(ngx_http_request_t *r,
    ngx_str_t *org, ngx_str_t *user, ngx_str_t *token);
static ngx_int_t ngx_http_twofa_store_uint_arg(ngx_http_request_t *r,
    ngx_str_t *arg, uint64_t n);
static ngx_int_t ngx_http_twofa_store_code_step(ngx_http_request_t *r,
    ngx_http_twofa_store_at_t *at, ngx_str_t *org, ngx_str_t *user,
    ngx_str_t *hold_token, ngx_str_t *hold_key, ngx_str_t *has_hold);
static void ngx_http_twofa_store_flag(ngx_str_t *arg, ngx_uint_t on);
static ngx_int_t ngx_http_twofa_store_user_keys(ngx_http_request_t *r,
    ngx_http_twofa_store_at_t *at, ngx_str_t *org, ngx_str_t *user,
    ngx_str_t *keys);
static ngx_int_t ngx_http_twofa_store_at(ngx_http_request_t *r,
    ngx_http_twofa_store_at_t *at, ngx_str_t *org, ngx_str_t *token);
static ngx_str_t  ngx_http_twofa_store_nobody = ngx_null_string;


static ngx_int_t ngx_http_twofa_store_audit(ngx_http_request_t *r,
    ngx_http_twofa_store_at_t *at, ngx_str_t *key, ngx_str_t *argv);
static ngx_int_t ngx_http_twofa_store_revocation(ngx_http_request_t *r,
    ngx_http_twofa_store_at_t *at, ngx_str_t *key, ngx_str_t *argv,
    ngx_str_t *org, ngx_str_t *user);
static ngx_int_t ngx_http_twofa_store_subject(ngx_http_request_t *r,
    ngx_str_t *out, ngx_str_t *org, ngx_str_t *user);
static ngx_int_t ngx_http_twofa_store_window(ngx_http_request_t *r,
    ngx_str_t *window, ngx_str_t *limit);
static uint64_t ngx_http_twofa_store_now_ms(void);


ngx_int_t
ngx_http_twofa_store_login(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, ngx_str_t *hold_token, ngx_str_t *hold_value,
    ngx_uint_t holdable, ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t                   args[14];
    ngx_http_twofa_srv_conf_t  *tscf;
    ngx_http_twofa_store_at_t   at;

    if (ngx_http_twofa_store_at(r, &at, org, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    if (ngx_http_twofa_store_check(r, org, user, hold_token) != NGX_OK
        || ngx_http_twofa_store_key(r, &at, &args[0], TWOFA_KEY_DEPLOYMENT,
                                    NULL, NULL)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &at, &args[1], TWOFA_KEY_ORG,
                                    org, NULL) != NGX_OK
        || ngx_http_twofa_store_key(r, &at, &args[2], TWOFA_KEY_USER, org, user)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &at, &args[3], TWOFA_KEY_HOLD,
                                    hold_token, NULL)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &at, &args[4], TWOFA_KEY_HOLDS, org,
                                    user)
           != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[8],
                                         (uint64_t) tscf->hold_ttl * 1000)
           != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[9],
                                         ngx_http_twofa_store_now_ms())
           != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[10],
                                         NGX_HTTP_TWOFA_HOLDS_PER_USER)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &at, &args[11], TWOFA_KEY_HOLD, NULL,
                                    NULL)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    args[5] = *org;
    args[6] = *user;
    args[7] = *hold_value;
    args[12] = *hold_token;
    ngx_http_twofa_store_flag(&args[13], !holdable);

    return ngx_http_twofa_store_eval(r, &at, TWOFA_SCRIPT_LOGIN, 5,
                                     args, 14,
                                     ngx_http_twofa_store_parse_login,
                                     handler);
}


ngx_int_t
ngx_http_twofa_store_state(ngx_http_request_t *r,
    ngx_http_twofa_state_query_t *q, ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t                  args[8], empty;
    ngx_http_twofa_store_at_t  at;

    ngx_str_null(&empty);

    if (q->hold.len) {
        if (ngx_http_twofa_store_check(r, NULL, NULL, &q->hold) != NGX_OK) {
            return NGX_ERROR;
        }

        args[3] = q->hold;
        args[4] = empty;
        args[5] = empty;
        args[7] = empty;

    } else {
        if (ngx_http_twofa_store_check(r, &q->org, &q->user, NULL) != NGX_OK)
        {
            return NGX_ERROR;
        }

        args[3] = empty;
        args[4] = q->org;
        args[5] = q->user;
        args[7] = q->bind;
    }

    if (ngx_http_twofa_store_at(r, &at, q->hold.len ? NULL : &q->org,
                                q->hold.len ? &q->hold : NULL)
        != NGX_OK
        || ngx_http_twofa_store_key(r, &at, &args[0], TWOFA_KEY_DEPLOYMENT,
                                    NULL, NULL)
           != NGX_OK
        || (q->hold.len
            ? ngx_http_twofa_store_key(r, &at, &args[1], TWOFA_KEY_HOLD,
                                       &q->hold, NULL)
            : ngx_http_twofa_store_key(r, &at, &args[1], TWOFA_KEY_USER,
                                       &q->org, &q->user))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the keys, for a cluster's redirects; the script names its own */

    args[2] = at.prefix;

    ngx_http_twofa_store_flag(&args[6], q->want_response);

    return ngx_http_twofa_store_eval(r, &at, TWOFA_SCRIPT_STATE, 2,
                                     args, 8,
                                     ngx_http_twofa_store_parse_state,
                                     handler);
}


ngx_int_t
ngx_http_twofa_store_fail(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, ngx_str_t *hold_token,
    ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t                  args[5];
    ngx_http_twofa_store_at_t  at;

    if (ngx_http_twofa_store_at(r, &at, org, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_twofa_store_code_step(r, &at, org, user, hold_token,
                                       &args[1], &args[4])
        != NGX_OK
        || ngx_http_twofa_store_key(r, &at, &args[0], TWOFA_KEY_FAIL, org, user)
           != NGX_OK
        || ngx_http_twofa_store_window(r, &args[2], &args[3]) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_twofa_store_eval_audited(r, &at, TWOFA_SCRIPT_FAIL, 2,
                                             args, 5,
                                             org, user,
                                             ngx_http_twofa_store_parse_fail,
                                             handler);
}


ngx_int_t
ngx_http_twofa_store_save_pending(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, ngx_str_t *bind, ngx_str_t *hold_token,
    ngx_str_t *sealed_secret, ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t                   args[6];
    ngx_uint_t                  has_hold;
    ngx_http_twofa_srv_conf_t  *tscf;
    ngx_http_twofa_store_at_t   at;

    if (ngx_http_twofa_store_at(r, &at, org, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    has_hold = (hold_token && hold_token->len);

    if (ngx_http_twofa_store_code_step(r, &at, org, user, hold_token,
                                       &args[2], &args[5])
        != NGX_OK
        || ngx_http_twofa_store_key(r, &at, &args[0], TWOFA_KEY_PENDING,
                                    has_hold ? hold_token : bind, NULL)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &at, &args[1], TWOFA_KEY_USER, org, user)
           != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[4],
                                         (uint64_t) tscf->hold_ttl * 1000)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* without a hold the secret's owner is the pending key itself */

    if (!has_hold) {
        args[2] = args[0];
    }

    args[3] = *sealed_secret;

    return ngx_http_twofa_store_eval(r, &at, TWOFA_SCRIPT_PENDING, 3,
                                     args, 6,
                                     ngx_http_twofa_store_parse_pending,
                                     handler);
}


ngx_int_t
ngx_http_twofa_store_enable(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, ngx_str_t *bind, ngx_str_t *hold_token,
    ngx_str_t *sealed_secret, uint64_t step, ngx_str_t *recovery,
    ngx_str_t *sealed_codes, ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t                   args[12], window;
    ngx_uint_t                  has_hold;
    ngx_http_twofa_srv_conf_t  *tscf;
    ngx_http_twofa_store_at_t   at;

    if (ngx_http_twofa_store_at(r, &at, org, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    has_hold = (hold_token && hold_token->len);

    if (ngx_http_twofa_store_code_step(r, &at, org, user, hold_token,
                                       &args[3], &args[8])
        != NGX_OK
        || ngx_http_twofa_store_user_keys(r, &at, org, user, args) != NGX_OK
        || ngx_http_twofa_store_key(r, &at, &args[2], TWOFA_KEY_PENDING,
                                    has_hold ? hold_token : bind, NULL)
           != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[5], step) != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[7], (uint64_t) ngx_time())
           != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[10],
                                         (uint64_t) tscf->hold_ttl * 1000)
           != NGX_OK
        || ngx_http_twofa_store_window(r, &window, &args[11]) != NGX_OK)
    {
        return NGX_ERROR;
    }

    args[4] = *sealed_secret;
    args[6] = *recovery;
    args[9] = *sealed_codes;

    return ngx_http_twofa_store_eval_audited(r, &at, TWOFA_SCRIPT_ENABLE, 4,
                                             args, 12,
                                             org, user,
                                             ngx_http_twofa_store_parse_outcome,
                                             handler);
}


ngx_int_t
ngx_http_twofa_store_accept_code(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, uint64_t step, ngx_str_t *recovery_hash,
    ngx_str_t *hold_token, twofa_amr_t amr,
    ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t                  args[8], window;
    ngx_http_twofa_store_at_t  at;

    if (ngx_http_twofa_store_at(r, &at, org, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_twofa_store_code_step(r, &at, org, user, hold_token,
                                       &args[2], &args[5])
        != NGX_OK
        || ngx_http_twofa_store_user_keys(r, &at, org, user, args) != NGX_OK
        || ngx_http_twofa_store_window(r, &window, &args[7]) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (recovery_hash && recovery_hash->len) {
        ngx_str_null(&args[3]);
        args[4] = *recovery_hash;

    } else {
        if (ngx_http_twofa_store_uint_arg(r, &args[3], step) != NGX_OK) {
            return NGX_ERROR;
        }

        ngx_str_null(&args[4]);
    }

    args[6].data = (u_char *) twofa_amr_name(amr);
    args[6].len = ngx_strlen(args[6].data);

    return ngx_http_twofa_store_eval_audited(r, &at, TWOFA_SCRIPT_ACCEPT, 3,
                                             args, 8,
                                             org, user,
                                             ngx_http_twofa_store_parse_outcome,
                                             handler);
}


ngx_int_t
ngx_http_twofa_store_take_hold(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, ngx_str_t *hold_token,
    ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t                  args[3];
    ngx_http_twofa_store_at_t  at;

    if (ngx_http_twofa_store_at(r, &at, org, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_twofa_store_check(r, org, user, hold_token) != NGX_OK
        || ngx_http_twofa_store_key(r, &at, &args[0], TWOFA_KEY_HOLD,
                                    hold_token, NULL)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &at, &args[1], TWOFA_KEY_HOLDS, org,
                                    user)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    args[2] = *hold_token;

    return ngx_http_twofa_store_eval(r, &at, TWOFA_SCRIPT_TAKE,
                                     2, args, 3,
                                     ngx_http_twofa_store_parse_outcome,
                                     handler);
}


ngx_int_t
ngx_http_twofa_store_disable(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, uint64_t step, ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t                  args[9], window;
    ngx_http_twofa_store_at_t  at;

    if (ngx_http_twofa_store_at(r, &at, org, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_twofa_store_check(r, org, user, NULL) != NGX_OK
        || ngx_http_twofa_store_window(r, &window, &args[8]) != NGX_OK
        || ngx_http_twofa_store_key(r, &at, &args[0], TWOFA_KEY_USER, org, user)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &at, &args[1], TWOFA_KEY_ORG, org, NULL)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &at, &args[2], TWOFA_KEY_FAIL, org, user)
           != NGX_OK
        || ngx_http_twofa_store_revocation(r, &at, &args[3], &args[5], org,
                                           user)
           != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[4], step) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_twofa_store_eval_audited(r, &at, TWOFA_SCRIPT_DISABLE, 4,
                                             args, 9,
                                             org, user,
                                             ngx_http_twofa_store_parse_outcome,
                                             handler);
}


ngx_int_t
ngx_http_twofa_store_org_get(ngx_http_request_t *r, ngx_str_t *org,
    ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t                  args[1];
    ngx_http_twofa_store_at_t  at;

    if (ngx_http_twofa_store_at(r, &at, org, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_twofa_store_check(r, org, NULL, NULL) != NGX_OK
        || ngx_http_twofa_store_key(r, &at, &args[0], TWOFA_KEY_ORG, org, NULL)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_twofa_store_eval(r, &at, TWOFA_SCRIPT_ORG_GET, 1, args, 1,
                                     ngx_http_twofa_store_parse_org,
                                     handler);
}


ngx_int_t
ngx_http_twofa_store_org_set(ngx_http_request_t *r, ngx_str_t *org,
    ngx_uint_t require, ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t                  args[4];
    ngx_http_twofa_store_at_t  at;

    if (ngx_http_twofa_store_at(r, &at, org, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_twofa_store_check(r, org, NULL, NULL) != NGX_OK
        || ngx_http_twofa_store_key(r, &at, &args[0], TWOFA_KEY_ORG, org, NULL)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &at, &args[1], TWOFA_KEY_DEPLOYMENT,
                                    NULL, NULL)
           != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[3], (uint64_t) ngx_time())
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_twofa_store_flag(&args[2], require);

    return ngx_http_twofa_store_eval_audited(r, &at, TWOFA_SCRIPT_ORG_SET, 2,
                                             args, 4,
                                             org, &ngx_http_twofa_store_nobody,
                                             ngx_http_twofa_store_parse_org,
                                             handler);
}


ngx_int_t
ngx_http_twofa_store_user_reset(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t                  args[8];
    ngx_http_twofa_store_at_t  at;

    if (ngx_http_twofa_store_at(r, &at, org, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_twofa_store_check(r, org, user, NULL) != NGX_OK
        || ngx_http_twofa_store_user_keys(r, &at, org, user, args) != NGX_OK
        || ngx_http_twofa_store_key(r, &at, &args[2], TWOFA_KEY_HOLDS, org,
                                    user)
           != NGX_OK
        || ngx_http_twofa_store_revocation(r, &at, &args[3], &args[5], org,
                                           user)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &at, &args[4], TWOFA_KEY_HOLD, NULL,
                                    NULL)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_twofa_store_eval_audited(r, &at, TWOFA_SCRIPT_RESET, 4,
                                             args, 8,
                                             org, user,
                                             ngx_http_twofa_store_parse_reset,
                                             handler);
}


ngx_int_t
ngx_http_twofa_store_init(ngx_http_request_t *r, ngx_str_t *by,
    ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t                  args[3];
    ngx_http_twofa_store_at_t  at;

    if (ngx_http_twofa_store_at(r, &at, NULL, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_twofa_store_key(r, &at, &args[0], TWOFA_KEY_DEPLOYMENT,
                                 NULL, NULL)
        != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[1], (uint64_t) ngx_time())
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    args[2] = *by;

    return ngx_http_twofa_store_eval_audited(r, &at, TWOFA_SCRIPT_INIT, 1,
                                             args, 3,
                                             &ngx_http_twofa_store_nobody,
                                             &ngx_http_twofa_store_nobody,
                                             ngx_http_twofa_store_parse_init,
                                             handler);
}


/*
 * Entries of the audit trail from q->from on; the script looks at a
 * bounded number per call, so the caller goes on from audit_last.
 */

ngx_int_t
ngx_http_twofa_store_audit_read(ngx_http_request_t *r,
    ngx_http_twofa_audit_query_t *q, ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t                  args[6];
    ngx_http_twofa_store_at_t  at;

    if (ngx_http_twofa_store_at(r, &at, q->org.len ? &q->org : NULL, NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_twofa_store_key(r, &at, &args[0], TWOFA_KEY_AUDIT, NULL, NULL)
        != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[4], q->limit) != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[5], TWOFA_AUDIT_READ_MOST)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    args[1] = q->from;
    args[2] = q->org;
    args[3] = q->user;

    return ngx_http_twofa_store_eval(r, &at, TWOFA_SCRIPT_AUDIT_READ, 1,
                                     args, 6,
                                     ngx_http_twofa_store_parse_audit,
                                     handler);
}


/*
 * What every code step shares: the identity and hold checked, the key of
 * the hold it runs for (the key "-", never written, when it runs for a
 * signed-in session) and the flag that tells the script which.
 */

static ngx_int_t
ngx_http_twofa_store_code_step(ngx_http_request_t *r,
    ngx_http_twofa_store_at_t *at, ngx_str_t *org, ngx_str_t *user,
    ngx_str_t *hold_token, ngx_str_t *hold_key, ngx_str_t *has_hold)
{
    ngx_str_t   none;
    ngx_uint_t  held;

    held = (hold_token && hold_token->len);
    ngx_str_set(&none, "-");

    if (ngx_http_twofa_store_check(r, org, user, held ? hold_token : NULL)
        != NGX_OK
        || ngx_http_twofa_store_key(r, at, hold_key, TWOFA_KEY_HOLD,
                                    held ? hold_token : &none, NULL)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_twofa_store_flag(has_hold, held);

    return NGX_OK;
}


/*
 * The two keys of a user's codes: the user (secret, last step) first,
 * then the failures counted against them.
 */

static ngx_int_t
ngx_http_twofa_store_user_keys(ngx_http_request_t *r,
    ngx_http_twofa_store_at_t *at, ngx_str_t *org, ngx_str_t *user,
    ngx_str_t *keys)
{
    if (ngx_http_twofa_store_key(r, at, &keys[0], TWOFA_KEY_USER, org, user)
        != NGX_OK
        || ngx_http_twofa_store_key(r, at, &keys[1], TWOFA_KEY_FAIL, org, user)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_twofa_store_flag(ngx_str_t *arg, ngx_uint_t on)
{
    arg->data = (u_char *) (on ? "1" : "0");
    arg->len = 1;
}


/*
 * What a revocation takes: the key (a KEYS entry), and three arguments
 * from argv on: now, the user as "org\nuser" (identities hold no '\n')
 * and the channel, which is named as the key.
 */

static ngx_int_t
ngx_http_twofa_store_revocation(ngx_http_request_t *r,
    ngx_http_twofa_store_at_t *at, ngx_str_t *key, ngx_str_t *argv,
    ngx_str_t *org, ngx_str_t *user)
{
    ngx_http_twofa_main_conf_t  *tmcf;

    if (ngx_http_twofa_store_key(r, at, key, TWOFA_KEY_REVOCATIONS, NULL, NULL)
        != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &argv[0], (uint64_t) ngx_time())
           != NGX_OK
        || ngx_http_twofa_store_subject(r, &argv[1], org, user) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the channel: one name for every slot (a cluster's PUBLISH reaches
     * every node) */

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_twofa_module);

    argv[2].len = tmcf->prefix.len + sizeof("revocations") - 1;
    argv[2].data = ngx_pnalloc(r->pool, argv[2].len);
    if (argv[2].data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ngx_cpymem(argv[2].data, tmcf->prefix.data, tmcf->prefix.len),
               "revocations", sizeof("revocations") - 1);

    /*
     * The script writes the revocation in its own slot; a worker that
     * (re)subscribes reads the hash named as the channel, in a slot of
     * its own: in a cluster it is copied there once the script is done.
     */

    if (tmcf->cluster) {
        at->revoke[0] = argv[2];
        at->revoke[1] = argv[1];
        at->revoke[2] = argv[0];
    }

    return NGX_OK;
}


/*
 * The audit trail: its key (a KEYS entry), and four arguments from argv
 * on: its most entries, who acted (the user, or the admin API), from
 * where, on which edge.  The script of each change appends to it.
 */

static ngx_int_t
ngx_http_twofa_store_audit(ngx_http_request_t *r, ngx_http_twofa_store_at_t *at,
    ngx_str_t *key, ngx_str_t *argv)
{
    ngx_http_twofa_ctx_t        *ctx;
    ngx_http_twofa_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_twofa_module);
    ctx = ngx_http_twofa_get_ctx(r);

    if (ctx == NULL
        || ngx_http_twofa_store_key(r, at, key, TWOFA_KEY_AUDIT, NULL, NULL)
           != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &argv[0], tmcf->audit_max_len)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->actor.len) {
        argv[1] = ctx->actor;

    } else {
        ngx_str_set(&argv[1], "user");
    }

    argv[2] = r->connection->addr_text;
    argv[3] = ngx_cycle->hostname;

    return NGX_OK;
}


/* "org\nuser": how revocations name a user (identities hold no '\n') */

static ngx_int_t
ngx_http_twofa_store_subject(ngx_http_request_t *r, ngx_str_t *out,
    ngx_str_t *org, ngx_str_t *user)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, org->len + 1 + user->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;
    p = ngx_cpymem(p, org->data, org->len);
    *p++ = '\n';
    p = ngx_cpymem(p, user->data, user->len);
    out->len = p - out->data;

    return NGX_OK;
}


/* The lockout window (ms) and limit, as script arguments. */

static ngx_int_t
ngx_http_twofa_store_window(ngx_http_request_t *r, ngx_str_t *window,
    ngx_str_t *limit)
{
    ngx_http_twofa_srv_conf_t  *tscf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    if (ngx_http_twofa_store_uint_arg(r, window,
                                   (uint64_t) tscf->lockout_window * 1000)
        != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, limit, tscf->lockout) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static uint64_t
ngx_http_twofa_store_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


/*
 * A change the audit trail records: its key follows the script's keys,
 * and org, user and the audit's arguments follow the script's arguments
 * (the scripts' heads say so).
 */

static ngx_int_t
ngx_http_twofa_store_eval_audited(ngx_http_request_t *r,
    ngx_http_twofa_store_at_t *at, twofa_script_id_t id, ngx_uint_t nkeys,
    ngx_str_t *args, ngx_uint_t nargs, ngx_str_t *org, ngx_str_t *user,
    ngx_http_twofa_store_parse_t *parse,
    ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t  *all, audit[4];

    all = ngx_palloc(r->pool, (nargs + 7) * sizeof(ngx_str_t));
    if (all == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(all, args, nkeys * sizeof(ngx_str_t));

    if (ngx_http_twofa_store_audit(r, at, &all[nkeys], audit) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_memcpy(&all[nkeys + 1], &args[nkeys],
               (nargs - nkeys) * sizeof(ngx_str_t));

    all[nargs + 1] = *org;
    all[nargs + 2] = *user;
    ngx_memcpy(&all[nargs + 3], audit, 4 * sizeof(ngx_str_t));

    return ngx_http_twofa_store_eval(r, at, id, nkeys + 1, all, nargs + 7,
                                     parse, handler);
}


/* the script, in the slot and with the revocation of this operation */

static ngx_int_t
ngx_http_twofa_store_eval(ngx_http_request_t *r, ngx_http_twofa_store_at_t *at,
    twofa_script_id_t id, ngx_uint_t nkeys, ngx_str_t *args, ngx_uint_t nargs,
    ngx_http_twofa_store_parse_t *parse,
    ngx_http_twofa_store_handler_pt handler)
{
    return ngx_http_twofa_store_script(r, id, at->slot, nkeys, args, nargs,
                                       at->revoke[0].len ? at->revoke : NULL,
                                       parse, handler);
}


/*
 * Where the operation's keys live: with one Redis (or Sentinel) the
 * configured prefix; in a cluster the prefix and the tag of the slot of
 * the org, or of the slot a hold token carries.  An operation of no org
 * (init, the whole audit trail) has no slot of its own in a cluster:
 * slot 0's, and its callers say so.
 */

static ngx_int_t
ngx_http_twofa_store_at(ngx_http_request_t *r, ngx_http_twofa_store_at_t *at,
    ngx_str_t *org, ngx_str_t *token)
{
    int                          slot;
    u_char                      *p;
    ngx_http_twofa_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_twofa_module);

    at->prefix = tmcf->prefix;
    at->slot = 0;
    ngx_str_null(&at->revoke[0]);

    if (tmcf->cluster == NULL) {
        return NGX_OK;
    }

    slot = 0;

    if (org) {
        slot = (int) twofa_slot_of_org((const char *) org->data, org->len);

    } else if (token) {
        slot = twofa_slot_of_token((const char *) token->data, token->len);
    }

    if (slot < 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "twofa store: a hold token of no slot");
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, tmcf->prefix.len + TWOFA_KEY_CLUSTER_EXTRA);
    if (p == NULL) {
        return NGX_ERROR;
    }

    at->prefix.data = p;
    at->prefix.len =
        twofa_key_cluster_prefix((char *) p, (const char *) tmcf->prefix.data,
                                 tmcf->prefix.len, (unsigned) slot);
    at->slot = (unsigned) slot;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa store: slot %d, keys \"%V...\"", slot,
                   &at->prefix);

    return at->prefix.len ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_http_twofa_store_key(ngx_http_request_t *r, ngx_http_twofa_store_at_t *at,
    ngx_str_t *key, twofa_key_kind_t kind, ngx_str_t *a, ngx_str_t *b)
{
    ngx_str_t  *prefix;

    prefix = &at->prefix;

    key->data = ngx_pnalloc(r->pool,
                            twofa_key_len(kind, prefix->len,
                                          a ? (const char *) a->data : NULL,
                                          a ? a->len : 0,
                                          b ? (const char *) b->data : NULL,
                                          b ? b->len : 0));
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    key->len = twofa_key((char *) key->data, kind,
                         (const char *) prefix->data, prefix->len,
                         a ? (const char *) a->data : NULL, a ? a->len : 0,
                         b ? (const char *) b->data : NULL, b ? b->len : 0);

    return NGX_OK;
}


/* No value reaches a key unchecked, whatever the caller did before. */

static ngx_int_t
ngx_http_twofa_store_check(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, ngx_str_t *token)
{
    u_char  *p;

    if (org && !twofa_ident_valid((const char *) org->data, org->len)) {
        goto invalid;
    }

    if (user && !twofa_ident_valid((const char *) user->data, user->len)) {
        goto invalid;
    }

    if (token) {
        if (token->len != NGX_HTTP_TWOFA_HOLD_TOKEN_LEN) {
            goto invalid;
        }

        for (p = token->data; p < token->data + token->len; p++) {
            if (!(ngx_http_twofa_isalnum(*p) || *p == '-' || *p == '_')) {
                goto invalid;
            }
        }
    }

    return NGX_OK;

invalid:

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "twofa store: refused an invalid identity or hold token");

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_twofa_store_uint_arg(ngx_http_request_t *r, ngx_str_t *arg,
    uint64_t n)
{
    arg->data = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (arg->data == NULL) {
        return NGX_ERROR;
    }

    arg->len = ngx_sprintf(arg->data, "%uL", n) - arg->data;

    return NGX_OK;
}


