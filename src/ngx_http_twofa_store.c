/*
 * twofa-edge: typed operations over the Redis keys (include/twofa_keys.h
 * builds them, the README lists them).  Each operation is one Lua script
 * of lua/ (one round trip, atomic, so two edges can never both accept one
 * code or both release one hold), sent as EVALSHA and, after NOSCRIPT
 * (a restarted or flushed Redis), once as EVAL, which loads it again.
 * Each reply is parsed into the operation's own outcome
 * (ngx_http_twofa_store_send.c sends them).
 *
 * What an operation sends is told by its spec below, as its script's head
 * says; the operation itself sets only the arguments of its own, and
 * ngx_http_twofa_store_run() does the rest: checks the names, finds the
 * slot, builds the keys, adds the audit's arguments and sends the script.
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


#define NGX_HTTP_TWOFA_STORE_KEYS  5        /* the most of one script */

/* the names an operation's keys take (ngx_http_twofa_store_names()) */
#define NGX_HTTP_TWOFA_STORE_ORG   0x01
#define NGX_HTTP_TWOFA_STORE_USER  0x02
#define NGX_HTTP_TWOFA_STORE_HOLD  0x04


/*
 * What an operation sends: the script, the parser of its reply and
 * whether the audit trail records it (1: the audit's key follows the
 * keys, and org, user and the audit's arguments follow the arguments);
 * its keys by kind, each named by the operation's org, user, hold token
 * or binding as the kind takes them (ngx_http_twofa_store_names()); how
 * many arguments, keys included; and where, among those, a code step's
 * "with a hold" flag goes, a revocation's three arguments, and the hold
 * keys' prefix (0: none).
 */
typedef struct {
    twofa_script_id_t              script;
    ngx_http_twofa_store_parse_t  *parse;
    ngx_uint_t                     audited;
    ngx_uint_t                     nkeys;
    twofa_key_kind_t               keys[NGX_HTTP_TWOFA_STORE_KEYS];
    ngx_uint_t                     nargs;        /* keys included */
    ngx_uint_t                     step;         /* '1' with a hold */
    ngx_uint_t                     revoke;       /* now, user, channel */
    ngx_uint_t                     hold_prefix;  /* "{prefix}hold:" */
} ngx_http_twofa_store_spec_t;


/*
 * One operation under way: its spec and arguments; whom it is for (NULL
 * where it names none): the org and user, the hold token it runs for, a
 * signed-in session's pending binding; where its keys live: their prefix
 * and, in a cluster, their slot (the tag of the org's slot follows the
 * prefix); and a cluster's reset or disable: the revocation to copy where
 * every worker reads them (key, field, stamp), or an empty key.
 */
typedef struct {
    const ngx_http_twofa_store_spec_t  *spec;
    ngx_str_t                          *args;
    ngx_str_t                          *org;
    ngx_str_t                          *user;
    ngx_str_t                          *hold;
    ngx_str_t                          *bind;
    ngx_uint_t                          held;     /* a hold token given */
    ngx_str_t                           prefix;
    unsigned                            slot;
    ngx_str_t                           revoke[3];
} ngx_http_twofa_store_call_t;


static ngx_int_t ngx_http_twofa_store_run(ngx_http_request_t *r,
    const ngx_http_twofa_store_spec_t *spec, ngx_str_t *args, ngx_str_t *org,
    ngx_str_t *user, ngx_str_t *hold, ngx_str_t *bind,
    ngx_http_twofa_store_handler_pt handler);
static ngx_int_t ngx_http_twofa_store_start(ngx_http_request_t *r,
    ngx_http_twofa_store_call_t *call, const ngx_http_twofa_store_spec_t *spec,
    ngx_str_t *args, ngx_str_t *org, ngx_str_t *user, ngx_str_t *hold,
    ngx_str_t *bind);
static ngx_uint_t ngx_http_twofa_store_names(ngx_http_twofa_store_call_t *call,
    twofa_key_kind_t kind, ngx_str_t **names);
static ngx_int_t ngx_http_twofa_store_eval(ngx_http_request_t *r,
    ngx_http_twofa_store_call_t *call,
    ngx_http_twofa_store_handler_pt handler);
static ngx_int_t ngx_http_twofa_store_key(ngx_http_request_t *r,
    ngx_http_twofa_store_call_t *call, ngx_str_t *key, twofa_key_kind_t kind,
    ngx_str_t *a, ngx_str_t *b);
static ngx_int_t ngx_http_twofa_store_check(ngx_http_request_t *r,
    ngx_str_t *org, ngx_str_t *user, ngx_str_t *token);
static ngx_int_t ngx_http_twofa_store_uint_arg(ngx_http_request_t *r,
    ngx_str_t *arg, uint64_t n);
static void ngx_http_twofa_store_flag(ngx_str_t *arg, ngx_uint_t on);
static ngx_int_t ngx_http_twofa_store_at(ngx_http_request_t *r,
    ngx_http_twofa_store_call_t *call, ngx_str_t *org, ngx_str_t *token);
static ngx_int_t ngx_http_twofa_store_audit(ngx_http_request_t *r,
    ngx_http_twofa_store_call_t *call, ngx_str_t *key, ngx_str_t *argv);
static ngx_int_t ngx_http_twofa_store_revocation(ngx_http_request_t *r,
    ngx_http_twofa_store_call_t *call, ngx_str_t *argv);
static ngx_int_t ngx_http_twofa_store_subject(ngx_http_request_t *r,
    ngx_str_t *out, ngx_str_t *org, ngx_str_t *user);
static ngx_int_t ngx_http_twofa_store_window(ngx_http_request_t *r,
    ngx_str_t *window, ngx_str_t *limit);
static ngx_int_t ngx_http_twofa_store_hold_ttl(ngx_http_request_t *r,
    ngx_str_t *arg);
static uint64_t ngx_http_twofa_store_now_ms(void);


/* the operations, in the order of their scripts (lua/) */

static const ngx_http_twofa_store_spec_t  ngx_http_twofa_store_accept_op = {
    TWOFA_SCRIPT_ACCEPT, ngx_http_twofa_store_parse_outcome, 1,
    3, { TWOFA_KEY_USER, TWOFA_KEY_FAIL, TWOFA_KEY_HOLD }, 8, 5, 0, 0
};

static const ngx_http_twofa_store_spec_t  ngx_http_twofa_store_audit_op = {
    TWOFA_SCRIPT_AUDIT_READ, ngx_http_twofa_store_parse_audit, 0,
    1, { TWOFA_KEY_AUDIT }, 6, 0, 0, 0
};

static const ngx_http_twofa_store_spec_t  ngx_http_twofa_store_disable_op = {
    TWOFA_SCRIPT_DISABLE, ngx_http_twofa_store_parse_outcome, 1,
    4, { TWOFA_KEY_USER, TWOFA_KEY_ORG, TWOFA_KEY_FAIL,
         TWOFA_KEY_REVOCATIONS },
    9, 0, 5, 0
};

static const ngx_http_twofa_store_spec_t  ngx_http_twofa_store_enable_op = {
    TWOFA_SCRIPT_ENABLE, ngx_http_twofa_store_parse_outcome, 1,
    4, { TWOFA_KEY_USER, TWOFA_KEY_FAIL, TWOFA_KEY_PENDING, TWOFA_KEY_HOLD },
    12, 8, 0, 0
};

static const ngx_http_twofa_store_spec_t  ngx_http_twofa_store_fail_op = {
    TWOFA_SCRIPT_FAIL, ngx_http_twofa_store_parse_fail, 1,
    2, { TWOFA_KEY_FAIL, TWOFA_KEY_HOLD }, 5, 4, 0, 0
};

static const ngx_http_twofa_store_spec_t  ngx_http_twofa_store_init_op = {
    TWOFA_SCRIPT_INIT, ngx_http_twofa_store_parse_init, 1,
    1, { TWOFA_KEY_DEPLOYMENT }, 3, 0, 0, 0
};

static const ngx_http_twofa_store_spec_t  ngx_http_twofa_store_login_op = {
    TWOFA_SCRIPT_LOGIN, ngx_http_twofa_store_parse_login, 0,
    5, { TWOFA_KEY_DEPLOYMENT, TWOFA_KEY_ORG, TWOFA_KEY_USER, TWOFA_KEY_HOLD,
         TWOFA_KEY_HOLDS },
    14, 0, 0, 11
};

static const ngx_http_twofa_store_spec_t  ngx_http_twofa_store_org_get_op = {
    TWOFA_SCRIPT_ORG_GET, ngx_http_twofa_store_parse_org, 0,
    1, { TWOFA_KEY_ORG }, 1, 0, 0, 0
};

static const ngx_http_twofa_store_spec_t  ngx_http_twofa_store_org_set_op = {
    TWOFA_SCRIPT_ORG_SET, ngx_http_twofa_store_parse_org, 1,
    2, { TWOFA_KEY_ORG, TWOFA_KEY_DEPLOYMENT }, 4, 0, 0, 0
};

static const ngx_http_twofa_store_spec_t  ngx_http_twofa_store_pending_op = {
    TWOFA_SCRIPT_PENDING, ngx_http_twofa_store_parse_pending, 0,
    3, { TWOFA_KEY_PENDING, TWOFA_KEY_USER, TWOFA_KEY_HOLD }, 6, 5, 0, 0
};

static const ngx_http_twofa_store_spec_t  ngx_http_twofa_store_reset_op = {
    TWOFA_SCRIPT_RESET, ngx_http_twofa_store_parse_reset, 1,
    4, { TWOFA_KEY_USER, TWOFA_KEY_FAIL, TWOFA_KEY_HOLDS,
         TWOFA_KEY_REVOCATIONS },
    8, 0, 5, 4
};

/* the keys, for a cluster's redirects only: the user's, or the hold's */

static const ngx_http_twofa_store_spec_t  ngx_http_twofa_store_state_op[] = {
    { TWOFA_SCRIPT_STATE, ngx_http_twofa_store_parse_state, 0,
      2, { TWOFA_KEY_DEPLOYMENT, TWOFA_KEY_USER }, 8, 0, 0, 0 },
    { TWOFA_SCRIPT_STATE, ngx_http_twofa_store_parse_state, 0,
      2, { TWOFA_KEY_DEPLOYMENT, TWOFA_KEY_HOLD }, 8, 0, 0, 0 }
};

static const ngx_http_twofa_store_spec_t  ngx_http_twofa_store_take_op = {
    TWOFA_SCRIPT_TAKE, ngx_http_twofa_store_parse_outcome, 0,
    2, { TWOFA_KEY_HOLD, TWOFA_KEY_HOLDS }, 3, 0, 0, 0
};


ngx_int_t
ngx_http_twofa_store_login(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, ngx_str_t *hold_token, ngx_str_t *hold_value,
    ngx_uint_t holdable, ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t  args[14];

    if (ngx_http_twofa_store_hold_ttl(r, &args[8]) != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[9],
                                         ngx_http_twofa_store_now_ms())
           != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[10],
                                         NGX_HTTP_TWOFA_HOLDS_PER_USER)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    args[5] = *org;
    args[6] = *user;
    args[7] = *hold_value;
    args[12] = *hold_token;
    ngx_http_twofa_store_flag(&args[13], !holdable);

    return ngx_http_twofa_store_run(r, &ngx_http_twofa_store_login_op, args,
                                    org, user, hold_token, NULL, handler);
}


ngx_int_t
ngx_http_twofa_store_state(ngx_http_request_t *r,
    ngx_http_twofa_state_query_t *q, ngx_http_twofa_store_handler_pt handler)
{
    ngx_int_t                     rc;
    ngx_str_t                     args[8];
    ngx_http_twofa_store_call_t   call;

    /* a hold's owner is read from the hold: what one form lacks is '' */

    ngx_str_null(&args[3]);
    ngx_str_null(&args[4]);
    ngx_str_null(&args[5]);
    ngx_str_null(&args[7]);
    ngx_http_twofa_store_flag(&args[6], q->want_response);

    if (q->hold.len) {
        args[3] = q->hold;

        rc = ngx_http_twofa_store_start(r, &call,
                                        &ngx_http_twofa_store_state_op[1],
                                        args, NULL, NULL, &q->hold, NULL);

    } else {
        args[4] = q->org;
        args[5] = q->user;
        args[7] = q->bind;

        rc = ngx_http_twofa_store_start(r, &call,
                                        &ngx_http_twofa_store_state_op[0],
                                        args, &q->org, &q->user, NULL, NULL);
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    /* the script names its own keys, from the prefix of the slot */

    args[2] = call.prefix;

    return ngx_http_twofa_store_eval(r, &call, handler);
}


ngx_int_t
ngx_http_twofa_store_fail(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, ngx_str_t *hold_token,
    ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t  args[5];

    if (ngx_http_twofa_store_window(r, &args[2], &args[3]) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_twofa_store_run(r, &ngx_http_twofa_store_fail_op, args,
                                    org, user, hold_token, NULL, handler);
}


ngx_int_t
ngx_http_twofa_store_save_pending(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, ngx_str_t *bind, ngx_str_t *hold_token,
    ngx_str_t *sealed_secret, ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t                     args[6];
    ngx_http_twofa_store_call_t   call;

    args[3] = *sealed_secret;

    if (ngx_http_twofa_store_hold_ttl(r, &args[4]) != NGX_OK
        || ngx_http_twofa_store_start(r, &call,
                                      &ngx_http_twofa_store_pending_op, args,
                                      org, user, hold_token, bind)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* without a hold the secret's owner is the pending key itself */

    if (!call.held) {
        args[2] = args[0];
    }

    return ngx_http_twofa_store_eval(r, &call, handler);
}


ngx_int_t
ngx_http_twofa_store_enable(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, ngx_str_t *bind, ngx_str_t *hold_token,
    ngx_str_t *sealed_secret, uint64_t step, ngx_str_t *recovery,
    ngx_str_t *sealed_codes, ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t  args[12], window;

    if (ngx_http_twofa_store_uint_arg(r, &args[5], step) != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[7], (uint64_t) ngx_time())
           != NGX_OK
        || ngx_http_twofa_store_hold_ttl(r, &args[10]) != NGX_OK
        || ngx_http_twofa_store_window(r, &window, &args[11]) != NGX_OK)
    {
        return NGX_ERROR;
    }

    args[4] = *sealed_secret;
    args[6] = *recovery;
    args[9] = *sealed_codes;

    return ngx_http_twofa_store_run(r, &ngx_http_twofa_store_enable_op, args,
                                    org, user, hold_token, bind, handler);
}


ngx_int_t
ngx_http_twofa_store_accept_code(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, uint64_t step, ngx_str_t *recovery_hash,
    ngx_str_t *hold_token, twofa_amr_t amr,
    ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t  args[8], window;

    if (ngx_http_twofa_store_window(r, &window, &args[7]) != NGX_OK) {
        return NGX_ERROR;
    }

    /* a recovery code's hash, or else the TOTP step: the other is '' */

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

    return ngx_http_twofa_store_run(r, &ngx_http_twofa_store_accept_op, args,
                                    org, user, hold_token, NULL, handler);
}


ngx_int_t
ngx_http_twofa_store_take_hold(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, ngx_str_t *hold_token,
    ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t  args[3];

    args[2] = *hold_token;

    return ngx_http_twofa_store_run(r, &ngx_http_twofa_store_take_op, args,
                                    org, user, hold_token, NULL, handler);
}


ngx_int_t
ngx_http_twofa_store_disable(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, uint64_t step, ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t  args[9], window;

    if (ngx_http_twofa_store_window(r, &window, &args[8]) != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[4], step) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_twofa_store_run(r, &ngx_http_twofa_store_disable_op, args,
                                    org, user, NULL, NULL, handler);
}


ngx_int_t
ngx_http_twofa_store_org_get(ngx_http_request_t *r, ngx_str_t *org,
    ngx_http_twofa_store_handler_pt handler)
{
    return ngx_http_twofa_store_run(r, &ngx_http_twofa_store_org_get_op, NULL,
                                    org, NULL, NULL, NULL, handler);
}


ngx_int_t
ngx_http_twofa_store_org_set(ngx_http_request_t *r, ngx_str_t *org,
    ngx_uint_t require, ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t  args[4];

    if (ngx_http_twofa_store_uint_arg(r, &args[3], (uint64_t) ngx_time())
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_twofa_store_flag(&args[2], require);

    return ngx_http_twofa_store_run(r, &ngx_http_twofa_store_org_set_op, args,
                                    org, NULL, NULL, NULL, handler);
}


ngx_int_t
ngx_http_twofa_store_user_reset(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, ngx_http_twofa_store_handler_pt handler)
{
    return ngx_http_twofa_store_run(r, &ngx_http_twofa_store_reset_op, NULL,
                                    org, user, NULL, NULL, handler);
}


/*
 * An operation of no org (init, the whole audit trail) has no slot of its
 * own in a cluster: slot 0's, and its callers say so.
 */

ngx_int_t
ngx_http_twofa_store_init(ngx_http_request_t *r, ngx_str_t *by,
    ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t  args[3];

    if (ngx_http_twofa_store_uint_arg(r, &args[1], (uint64_t) ngx_time())
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    args[2] = *by;

    return ngx_http_twofa_store_run(r, &ngx_http_twofa_store_init_op, args,
                                    NULL, NULL, NULL, NULL, handler);
}


/*
 * Entries of the audit trail from q->from on; the script looks at a
 * bounded number per call, so the caller goes on from audit_last.  The
 * org asked for (or none) names no key: it is an argument, and the slot.
 */

ngx_int_t
ngx_http_twofa_store_audit_read(ngx_http_request_t *r,
    ngx_http_twofa_audit_query_t *q, ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t  args[6];

    if (ngx_http_twofa_store_uint_arg(r, &args[4], q->limit) != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[5], TWOFA_AUDIT_READ_MOST)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    args[1] = q->from;
    args[2] = q->org;
    args[3] = q->user;

    return ngx_http_twofa_store_run(r, &ngx_http_twofa_store_audit_op, args,
                                    &q->org, NULL, NULL, NULL, handler);
}


/*
 * An operation whose arguments of its own are set in args (spec->nargs of
 * them; NULL for one that has none): the rest of them made and the script
 * sent.
 */

static ngx_int_t
ngx_http_twofa_store_run(ngx_http_request_t *r,
    const ngx_http_twofa_store_spec_t *spec, ngx_str_t *args, ngx_str_t *org,
    ngx_str_t *user, ngx_str_t *hold, ngx_str_t *bind,
    ngx_http_twofa_store_handler_pt handler)
{
    ngx_http_twofa_store_call_t  call;

    if (args == NULL) {
        args = ngx_palloc(r->pool, spec->nargs * sizeof(ngx_str_t));
        if (args == NULL) {
            return NGX_ERROR;
        }
    }

    if (ngx_http_twofa_store_start(r, &call, spec, args, org, user, hold,
                                   bind)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_twofa_store_eval(r, &call, handler);
}


/*
 * What the spec of an operation makes of its arguments: the names of its
 * keys checked; the slot of its org, or of the hold token it runs for,
 * found; its keys built; a code step's flag, a revocation's arguments and
 * the hold keys' prefix set.
 */

static ngx_int_t
ngx_http_twofa_store_start(ngx_http_request_t *r,
    ngx_http_twofa_store_call_t *call, const ngx_http_twofa_store_spec_t *spec,
    ngx_str_t *args, ngx_str_t *org, ngx_str_t *user, ngx_str_t *hold,
    ngx_str_t *bind)
{
    ngx_str_t   *names[NGX_HTTP_TWOFA_STORE_KEYS][2];
    ngx_uint_t   i, uses;

    /* without a hold token a code step runs for a signed-in session */

    call->held = (hold && hold->len);

    call->spec = spec;
    call->org = org;
    call->user = user;
    call->hold = hold;
    call->bind = bind;

    uses = 0;

    for (i = 0; i < spec->nkeys; i++) {
        uses |= ngx_http_twofa_store_names(call, spec->keys[i], names[i]);
    }

    /* each name the keys take checked once: none reaches a key unchecked */

    if (ngx_http_twofa_store_check(r,
            (uses & NGX_HTTP_TWOFA_STORE_ORG) ? org : NULL,
            (uses & NGX_HTTP_TWOFA_STORE_USER) ? user : NULL,
            (uses & NGX_HTTP_TWOFA_STORE_HOLD) ? hold : NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_twofa_store_at(r, call, (org && org->len) ? org : NULL,
                                call->held ? hold : NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    call->args = args;

    for (i = 0; i < spec->nkeys; i++) {
        if (ngx_http_twofa_store_key(r, call, &args[i], spec->keys[i],
                                     names[i][0], names[i][1])
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (spec->step) {
        ngx_http_twofa_store_flag(&args[spec->step], call->held);
    }

    if ((spec->revoke
         && ngx_http_twofa_store_revocation(r, call, &args[spec->revoke])
            != NGX_OK)
        || (spec->hold_prefix
            && ngx_http_twofa_store_key(r, call, &args[spec->hold_prefix],
                                        TWOFA_KEY_HOLD, NULL, NULL)
               != NGX_OK))
    {
        return NGX_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa store: %s, first key \"%V\"",
                   twofa_scripts[spec->script].name, &args[0]);

    return NGX_OK;
}


/*
 * The script, in the slot and with the revocation of this operation.  A
 * change the audit trail records: its key follows the script's keys, and
 * org, user and the audit's arguments follow the script's arguments (the
 * scripts' heads say so).
 */

static ngx_int_t
ngx_http_twofa_store_eval(ngx_http_request_t *r,
    ngx_http_twofa_store_call_t *call, ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t                          *args, *all;
    ngx_uint_t                          nkeys, nargs;
    const ngx_http_twofa_store_spec_t  *spec;

    spec = call->spec;
    args = call->args;
    nkeys = spec->nkeys;
    nargs = spec->nargs;

    if (spec->audited) {
        all = ngx_pcalloc(r->pool, (nargs + 7) * sizeof(ngx_str_t));
        if (all == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(all, args, nkeys * sizeof(ngx_str_t));
        ngx_memcpy(&all[nkeys + 1], &args[nkeys],
                   (nargs - nkeys) * sizeof(ngx_str_t));

        if (ngx_http_twofa_store_audit(r, call, &all[nkeys], &all[nargs + 3])
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* an org's own change names no user, init neither: '' */

        if (call->org) {
            all[nargs + 1] = *call->org;
        }

        if (call->user) {
            all[nargs + 2] = *call->user;
        }

        args = all;
        nkeys += 1;
        nargs += 7;
    }

    return ngx_http_twofa_store_script(r, spec->script, call->slot, nkeys,
                                       args, nargs,
                                       call->revoke[0].len ? call->revoke
                                                           : NULL,
                                       spec->parse, handler);
}


/*
 * The names of a key of the operation, as twofa_key() takes them for its
 * kind (NULL where it takes none), and which of the org, user and hold
 * token they are, to be checked.  A code step of a signed-in session,
 * without a hold, names the hold key "-" (never written) and its pending
 * secret by the session's binding (signed, in its cookie).
 */

static ngx_uint_t
ngx_http_twofa_store_names(ngx_http_twofa_store_call_t *call,
    twofa_key_kind_t kind, ngx_str_t **names)
{
    static ngx_str_t  none = ngx_string("-");

    names[0] = NULL;
    names[1] = NULL;

    switch (kind) {

    case TWOFA_KEY_ORG:
        names[0] = call->org;
        return NGX_HTTP_TWOFA_STORE_ORG;

    case TWOFA_KEY_USER:
    case TWOFA_KEY_FAIL:
    case TWOFA_KEY_HOLDS:
        names[0] = call->org;
        names[1] = call->user;
        return NGX_HTTP_TWOFA_STORE_ORG | NGX_HTTP_TWOFA_STORE_USER;

    case TWOFA_KEY_HOLD:
        if (call->spec->step && !call->held) {
            names[0] = &none;
            return 0;
        }

        names[0] = call->hold;
        return NGX_HTTP_TWOFA_STORE_HOLD;

    case TWOFA_KEY_PENDING:
        if (!call->held) {
            names[0] = call->bind;
            return 0;
        }

        names[0] = call->hold;
        return NGX_HTTP_TWOFA_STORE_HOLD;

    default:
        /* deployment, revocations, audit: the prefix alone */
        return 0;
    }
}


static void
ngx_http_twofa_store_flag(ngx_str_t *arg, ngx_uint_t on)
{
    arg->data = (u_char *) (on ? "1" : "0");
    arg->len = 1;
}


/*
 * The three arguments of a revocation, from argv on (its key is one of
 * the operation's): now, the user as "org\nuser" (identities hold no
 * '\n') and the channel, which is named as the key.
 */

static ngx_int_t
ngx_http_twofa_store_revocation(ngx_http_request_t *r,
    ngx_http_twofa_store_call_t *call, ngx_str_t *argv)
{
    ngx_http_twofa_main_conf_t  *tmcf;

    if (ngx_http_twofa_store_uint_arg(r, &argv[0], (uint64_t) ngx_time())
        != NGX_OK
        || ngx_http_twofa_store_subject(r, &argv[1], call->org, call->user)
           != NGX_OK)
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
        call->revoke[0] = argv[2];
        call->revoke[1] = argv[1];
        call->revoke[2] = argv[0];
    }

    return NGX_OK;
}


/*
 * The audit trail: its key (a KEYS entry), and four arguments from argv
 * on: its most entries, who acted (the user, or the admin API), from
 * where, on which edge.  The script of each change appends to it.
 */

static ngx_int_t
ngx_http_twofa_store_audit(ngx_http_request_t *r,
    ngx_http_twofa_store_call_t *call, ngx_str_t *key, ngx_str_t *argv)
{
    ngx_http_twofa_ctx_t        *ctx;
    ngx_http_twofa_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_twofa_module);
    ctx = ngx_http_twofa_get_ctx(r);

    if (ctx == NULL
        || ngx_http_twofa_store_key(r, call, key, TWOFA_KEY_AUDIT, NULL, NULL)
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


/*
 * The hold's life (ms): a hold's, and that of what a signed-in session
 * keeps without one (a pending secret, new recovery codes).
 */

static ngx_int_t
ngx_http_twofa_store_hold_ttl(ngx_http_request_t *r, ngx_str_t *arg)
{
    ngx_http_twofa_srv_conf_t  *tscf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    return ngx_http_twofa_store_uint_arg(r, arg,
                                         (uint64_t) tscf->hold_ttl * 1000);
}


static uint64_t
ngx_http_twofa_store_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


/*
 * Where the operation's keys live: with one Redis (or Sentinel) the
 * configured prefix; in a cluster the prefix and the tag of the slot of
 * the org, or of the slot a hold token carries.  An operation of no org
 * (init, the whole audit trail) has no slot of its own in a cluster:
 * slot 0's, and its callers say so.
 */

static ngx_int_t
ngx_http_twofa_store_at(ngx_http_request_t *r,
    ngx_http_twofa_store_call_t *call, ngx_str_t *org, ngx_str_t *token)
{
    int                          slot;
    u_char                      *p;
    ngx_http_twofa_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_twofa_module);

    call->prefix = tmcf->prefix;
    call->slot = 0;
    ngx_str_null(&call->revoke[0]);

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

    call->prefix.data = p;
    call->prefix.len =
        twofa_key_cluster_prefix((char *) p, (const char *) tmcf->prefix.data,
                                 tmcf->prefix.len, (unsigned) slot);
    call->slot = (unsigned) slot;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa store: slot %d, keys \"%V...\"", slot,
                   &call->prefix);

    return call->prefix.len ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_http_twofa_store_key(ngx_http_request_t *r,
    ngx_http_twofa_store_call_t *call, ngx_str_t *key, twofa_key_kind_t kind,
    ngx_str_t *a, ngx_str_t *b)
{
    ngx_str_t  *prefix;

    prefix = &call->prefix;

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


/* An identity (org, user) or a hold token that may name a key. */

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
