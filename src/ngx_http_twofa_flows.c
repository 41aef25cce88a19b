/*
 * twofa-edge: what the pages do, step by step: enroll, verify, continue,
 * disable.  Each step is a short chain of store operations; every
 * callback ends the request or starts the next operation.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"
#include "twofa_base64.h"


static ngx_int_t ngx_http_twofa_codes_again(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_str_t *sealed);
static ngx_http_twofa_step_t  ngx_http_twofa_enroll_show;
static ngx_http_twofa_step_t  ngx_http_twofa_enroll_check;
static ngx_http_twofa_step_t  ngx_http_twofa_verify_check;
static ngx_http_twofa_step_t  ngx_http_twofa_disable_check;
static ngx_http_twofa_step_t  ngx_http_twofa_take;
static ngx_http_twofa_then_t  ngx_http_twofa_enroll_saved;
static ngx_http_twofa_then_t  ngx_http_twofa_enroll_enabled;
static ngx_http_twofa_then_t  ngx_http_twofa_taken;
static ngx_http_twofa_then_t  ngx_http_twofa_verify_accepted;
static ngx_http_twofa_then_t  ngx_http_twofa_disable_done;
static ngx_http_twofa_step_t  ngx_http_twofa_failed;
static ngx_http_twofa_step_t  ngx_http_twofa_refuse_locked;
static ngx_http_twofa_then_t  ngx_http_twofa_failed_counted;
static void ngx_http_twofa_flow_reply(ngx_http_request_t *r,
    ngx_http_twofa_store_reply_t *reply);
static ngx_int_t ngx_http_twofa_asked(ngx_http_request_t *r, ngx_int_t rc);


/*
 * The steps of the routes, once the state is read (see the route table
 * in ngx_http_twofa_pages.c).  Each returns the rc to finalize with, or
 * NGX_DONE when a store operation goes on.
 */

ngx_int_t
ngx_http_twofa_flow_index(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    return ngx_http_twofa_go(r, pg, (pg->state.enabled
                                     && pg->state.recovery_codes.len == 0)
                                    ? "verify" : "enroll");
}


ngx_int_t
ngx_http_twofa_flow_enroll(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    /* a retry after a late reply: the codes of the enrollment made */

    if (pg->hold.len && pg->state.hold_verified
        && pg->state.recovery_codes.len)
    {
        return ngx_http_twofa_codes_again(r, pg, &pg->state.recovery_codes);
    }

    if (pg->hold.len == 0 && pg->state.enabled
        && r->method == NGX_HTTP_POST
        && pg->state.pending.len > 1 && pg->state.pending.data[0] == '!')
    {
        pg->state.pending.data++;
        pg->state.pending.len--;
        return ngx_http_twofa_codes_again(r, pg, &pg->state.pending);
    }

    if (pg->state.enabled) {
        return ngx_http_twofa_go(r, pg, pg->hold.len ? "verify" : "settings");
    }

    if (pg->locked) {
        return ngx_http_twofa_refuse_locked(r, pg);
    }

    if (pg->state.pending.len && pg->state.pending.data[0] == '!') {
        ngx_str_null(&pg->state.pending);
    }

    if (r->method == NGX_HTTP_POST) {
        return pg->state.pending.len ? ngx_http_twofa_enroll_check(r, pg)
                                     : ngx_http_twofa_go(r, pg, "enroll");
    }

    return ngx_http_twofa_enroll_show(r, pg);
}


ngx_int_t
ngx_http_twofa_flow_continue(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    if (!pg->state.hold_verified) {
        return ngx_http_twofa_go(r, pg, pg->state.enabled ? "verify"
                                                           : "enroll");
    }

    return ngx_http_twofa_take(r, pg);
}


ngx_int_t
ngx_http_twofa_flow_verify(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    /* a retry after a late reply: the code was accepted already */

    if (pg->hold.len && pg->state.hold_verified
        && r->method == NGX_HTTP_POST)
    {
        return pg->state.recovery_codes.len
               ? ngx_http_twofa_go(r, pg, "enroll")
               : ngx_http_twofa_take(r, pg);
    }

    if (!pg->state.enabled) {
        return ngx_http_twofa_go(r, pg, "enroll");
    }

    if (pg->locked) {
        return ngx_http_twofa_refuse_locked(r, pg);
    }

    if (r->method == NGX_HTTP_POST) {
        return ngx_http_twofa_verify_check(r, pg);
    }

    return ngx_http_twofa_show_verify(r, pg, NGX_HTTP_OK);
}


ngx_int_t
ngx_http_twofa_flow_settings(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    return ngx_http_twofa_show_settings(r, pg, NGX_HTTP_OK);
}


ngx_int_t
ngx_http_twofa_flow_disable(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    if (!pg->state.enabled) {
        return ngx_http_twofa_go(r, pg, "settings");
    }

    if (pg->state.require) {
        return ngx_http_twofa_show_required(r, pg);
    }

    if (pg->locked) {
        return ngx_http_twofa_refuse_locked(r, pg);
    }

    return ngx_http_twofa_disable_check(r, pg);
}


/* Locked: a code posted is refused unchecked (and counted so). */

static ngx_int_t
ngx_http_twofa_refuse_locked(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    if (r->method == NGX_HTTP_POST) {
        ngx_http_twofa_count(NGX_HTTP_TWOFA_M_CODE_LOCKED);
    }

    return ngx_http_twofa_show_locked(r, pg, pg->state.fail_ttl);
}


/* The recovery codes kept with a hold or session, shown again. */

static ngx_int_t
ngx_http_twofa_codes_again(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    ngx_str_t *sealed)
{
    ngx_int_t  rc;

    rc = ngx_http_twofa_open_codes(r, pg, sealed);

    if (rc == NGX_DECLINED) {
        return ngx_http_twofa_show_unopened(r, pg);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa page: recovery codes shown again after a retry");

    return ngx_http_twofa_show_recovery(r, pg);
}


/*
 * GET enroll: the pending secret of this hold (or session), made and
 * stored on the first visit; reloads of the same hold show the same one.
 */

/*
 * GET enroll: the pending secret of this hold (or session), made and
 * stored on the first visit; reloads of the same hold show the same one.
 */

static ngx_int_t
ngx_http_twofa_enroll_show(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    ngx_str_t  sealed;

    if (pg->state.pending.len) {
        if (ngx_http_twofa_open_secret(r, pg, &pg->state.pending) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_twofa_show_enroll(r, pg, NGX_HTTP_OK);
    }

    if (ngx_http_twofa_new_secret(r, pg, &sealed) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa page: new pending secret");

    pg->then = ngx_http_twofa_enroll_saved;

    return ngx_http_twofa_asked(r,
               ngx_http_twofa_store_save_pending(r, &pg->org, &pg->user,
                                                 &pg->bind, &pg->hold,
                                                 &sealed,
                                                 ngx_http_twofa_flow_reply));
}


static ngx_int_t
ngx_http_twofa_enroll_saved(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    ngx_http_twofa_store_reply_t *reply)
{
    if (reply->outcome == NGX_HTTP_TWOFA_ALREADY_ON) {
        /* turned on meanwhile, in another tab */
        return ngx_http_twofa_go(r, pg, pg->hold.len ? "verify" : "settings");
    }

    if (ngx_http_twofa_open_secret(r, pg, &reply->data) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_twofa_show_enroll(r, pg, NGX_HTTP_OK);
}


/* POST enroll: the first code turns TOTP on with fresh recovery codes. */

static ngx_int_t
ngx_http_twofa_enroll_check(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    u_char             *p;
    size_t              n, len;
    ngx_str_t           list, codes;
    ngx_uint_t          i;
    const twofa_key_t  *keys;
    char                hash[TWOFA_RECOVERY_HASH_LEN + 1];
    char                norm[TWOFA_RECOVERY_NORM_LEN + 1];

    if (ngx_http_twofa_open_secret(r, pg, &pg->state.pending) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_twofa_check_code(r, pg) != NGX_OK) {
        return ngx_http_twofa_failed(r, pg);
    }

    if (twofa_recovery_generate(pg->recovery, TWOFA_RECOVERY_COUNT) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    keys = ngx_http_twofa_keys(r, &n);

    len = TWOFA_KID_LEN + 1
          + TWOFA_RECOVERY_COUNT * (TWOFA_RECOVERY_HASH_LEN + 1);

    list.data = ngx_pnalloc(r->pool, len);
    if (list.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(list.data, keys[0].kid, TWOFA_KID_LEN);
    *p++ = ':';

    for (i = 0; i < TWOFA_RECOVERY_COUNT; i++) {
        if (twofa_recovery_normalize(pg->recovery[i], TWOFA_RECOVERY_LEN,
                                     norm) != 0
            || twofa_recovery_hash(&keys[0], (const char *) pg->org.data,
                                   pg->org.len, (const char *) pg->user.data,
                                   pg->user.len, norm, hash) != 0)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, hash, TWOFA_RECOVERY_HASH_LEN);
    }

    list.len = p - list.data;

    if (ngx_http_twofa_seal_codes(r, pg, &codes) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pg->then = ngx_http_twofa_enroll_enabled;

    return ngx_http_twofa_asked(r,
               ngx_http_twofa_store_enable(r, &pg->org, &pg->user, &pg->bind,
                                           &pg->hold, &pg->state.pending,
                                           pg->step, &list, &codes,
                                           ngx_http_twofa_flow_reply));
}


static ngx_int_t
ngx_http_twofa_enroll_enabled(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_http_twofa_store_reply_t *reply)
{
    if (reply->outcome != NGX_HTTP_TWOFA_DONE) {
        /* the pending secret changed or TOTP went on meanwhile */
        return ngx_http_twofa_go(r, pg, "enroll");
    }

    ngx_http_twofa_set_result(r, NGX_HTTP_TWOFA_RESULT_ENROLLED);

    ngx_http_twofa_count(NGX_HTTP_TWOFA_M_CODE_VALID);
    ngx_http_twofa_count(NGX_HTTP_TWOFA_M_ENROLLMENTS);

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "twofa: \"%V\" of \"%V\" turned on two-factor "
                  "authentication", ngx_http_twofa_shown(r, &pg->user),
                  ngx_http_twofa_shown(r, &pg->org));

    /*
     * A signed-in user's session passed TOTP just now; a held login gets
     * its session when the hold is released.
     */

    if (pg->hold.len == 0
        && (ngx_http_twofa_set_session(r, &pg->org, &pg->user,
                                       TWOFA_AMR_TOTP)
            != NGX_OK
            || ngx_http_twofa_bind_session(r, NULL) != NGX_OK))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_twofa_show_recovery(r, pg);
}


/*
 * Takes a hold whose owner passed (one release per hold, whatever the
 * edges), then releases the response opened with the state read.
 */

static ngx_int_t
ngx_http_twofa_take(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    if (pg->response.status == 0) {
        /* not read with this request: read it (and check it opens) now */
        return ngx_http_twofa_go(r, pg, "verify");
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa page: take the hold");

    pg->then = ngx_http_twofa_taken;

    return ngx_http_twofa_asked(r,
               ngx_http_twofa_store_take_hold(r, &pg->org, &pg->user,
                                              &pg->hold,
                                              ngx_http_twofa_flow_reply));
}


static ngx_int_t
ngx_http_twofa_taken(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    ngx_http_twofa_store_reply_t *reply)
{
    twofa_amr_t  amr;

    if (reply->outcome != NGX_HTTP_TWOFA_DONE) {
        return ngx_http_twofa_show_expired(r, pg);
    }

    ngx_http_twofa_set_result(r, NGX_HTTP_TWOFA_RESULT_VERIFIED);

    ngx_http_twofa_count(NGX_HTTP_TWOFA_M_LOGIN_RELEASED);

    amr = pg->amr;

    if (amr == TWOFA_AMR_PWD) {
        /* a retry: how the owner passed, as the hold recorded it */
        amr = (pg->state.amr.len == 8
               && ngx_strncmp(pg->state.amr.data, "recovery", 8) == 0)
              ? TWOFA_AMR_RECOVERY : TWOFA_AMR_TOTP;
    }

    return ngx_http_twofa_release(r, &pg->org, &pg->user, &pg->response,
                                  amr);
}


/* POST verify: a TOTP code or a recovery code. */

static ngx_int_t
ngx_http_twofa_verify_check(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    size_t              n;
    ngx_str_t           hash;
    const twofa_key_t  *keys, *key;
    char                norm[TWOFA_RECOVERY_NORM_LEN + 1];
    char                hex[TWOFA_RECOVERY_HASH_LEN + 1];

    ngx_str_null(&hash);

    if (twofa_recovery_normalize((const char *) pg->code.data, pg->code.len,
                                 norm)
        == 0)
    {
        keys = ngx_http_twofa_keys(r, &n);
        key = twofa_key_find(keys, n,
                             (const char *) pg->state.recovery_kid.data,
                             pg->state.recovery_kid.len);

        if (key == NULL
            || twofa_recovery_hash(key, (const char *) pg->org.data,
                                   pg->org.len, (const char *) pg->user.data,
                                   pg->user.len, norm, hex)
               != 0)
        {
            return ngx_http_twofa_failed(r, pg);
        }

        hash.data = ngx_pnalloc(r->pool, TWOFA_RECOVERY_HASH_LEN);
        if (hash.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        hash.len = TWOFA_RECOVERY_HASH_LEN;
        ngx_memcpy(hash.data, hex, TWOFA_RECOVERY_HASH_LEN);
        pg->amr = TWOFA_AMR_RECOVERY;

    } else {
        if (ngx_http_twofa_open_secret(r, pg, &pg->state.secret) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_http_twofa_check_code(r, pg) != NGX_OK) {
            return ngx_http_twofa_failed(r, pg);
        }

        pg->amr = TWOFA_AMR_TOTP;
    }

    pg->then = ngx_http_twofa_verify_accepted;

    return ngx_http_twofa_asked(r,
               ngx_http_twofa_store_accept_code(r, &pg->org, &pg->user,
                                                pg->step, &hash, &pg->hold,
                                                pg->amr,
                                                ngx_http_twofa_flow_reply));
}


static ngx_int_t
ngx_http_twofa_verify_accepted(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_http_twofa_store_reply_t *reply)
{
    ngx_str_t  to;

    if (reply->outcome != NGX_HTTP_TWOFA_DONE) {
        return ngx_http_twofa_go(r, pg, "enroll");
    }

    ngx_http_twofa_set_result(r, NGX_HTTP_TWOFA_RESULT_VERIFIED);

    ngx_http_twofa_count(NGX_HTTP_TWOFA_M_CODE_VALID);

    if (pg->amr == TWOFA_AMR_RECOVERY) {
        ngx_http_twofa_count(NGX_HTTP_TWOFA_M_RECOVERY_USED);

        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "twofa: \"%V\" of \"%V\" used a recovery code",
                      ngx_http_twofa_shown(r, &pg->user),
                      ngx_http_twofa_shown(r, &pg->org));
    }

    if (pg->hold.len) {
        return ngx_http_twofa_take(r, pg);
    }

    if (ngx_http_twofa_set_session(r, &pg->org, &pg->user, pg->amr)
        != NGX_OK
        || ngx_http_twofa_bind_session(r, NULL) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (pg->json) {
        return ngx_http_twofa_send_json(r, NGX_HTTP_OK, "{\"step\":\"done\"}");
    }

    if (pg->return_to.len == 0) {
        ngx_str_set(&to, "/");

    } else {
        to = pg->return_to;
    }

    return ngx_http_twofa_redirect(r, &to);
}


/* POST settings/disable: a current code, and the org must allow it. */

static ngx_int_t
ngx_http_twofa_disable_check(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    if (ngx_http_twofa_open_secret(r, pg, &pg->state.secret) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_twofa_check_code(r, pg) != NGX_OK) {
        return ngx_http_twofa_failed(r, pg);
    }

    pg->then = ngx_http_twofa_disable_done;

    return ngx_http_twofa_asked(r,
               ngx_http_twofa_store_disable(r, &pg->org, &pg->user, pg->step,
                                            ngx_http_twofa_flow_reply));
}


static ngx_int_t
ngx_http_twofa_disable_done(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    ngx_http_twofa_store_reply_t *reply)
{
    if (reply->outcome == NGX_HTTP_TWOFA_REQUIRED) {
        return ngx_http_twofa_show_required(r, pg);
    }

    if (reply->outcome != NGX_HTTP_TWOFA_DONE) {
        return ngx_http_twofa_go(r, pg, "settings");
    }

    ngx_http_twofa_count(NGX_HTTP_TWOFA_M_CODE_VALID);

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "twofa: \"%V\" of \"%V\" turned off two-factor "
                  "authentication", ngx_http_twofa_shown(r, &pg->user),
                  ngx_http_twofa_shown(r, &pg->org));

    /*
     * The session no longer rests on a second factor.  The disable revoked
     * every session of this second: this one is dated after.
     */

    if (ngx_http_twofa_set_session_at(r, &pg->org, &pg->user, TWOFA_AMR_PWD,
                                      (int64_t) ngx_time() + 1)
        != NGX_OK
        || ngx_http_twofa_bind_session(r, NULL) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pg->state.enabled = 0;
    pg->state.enrolled_at = 0;
    pg->state.recovery_left = 0;
    ngx_str_set(&pg->message, "Two-factor authentication is now off.");

    return ngx_http_twofa_show_settings(r, pg, NGX_HTTP_OK);
}


/* A wrong or used code: counted for the user and the hold. */

static ngx_int_t
ngx_http_twofa_failed(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    ngx_http_twofa_set_result(r, NGX_HTTP_TWOFA_RESULT_FAILED);

    ngx_http_twofa_count(NGX_HTTP_TWOFA_M_CODE_INVALID);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "twofa: wrong or used code for \"%V\" of \"%V\"",
                  ngx_http_twofa_shown(r, &pg->user),
                  ngx_http_twofa_shown(r, &pg->org));

    pg->then = ngx_http_twofa_failed_counted;

    return ngx_http_twofa_asked(r,
               ngx_http_twofa_store_fail(r, &pg->org, &pg->user, &pg->hold,
                                         ngx_http_twofa_flow_reply));
}


static ngx_int_t
ngx_http_twofa_failed_counted(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_http_twofa_store_reply_t *reply)
{
    ngx_http_twofa_srv_conf_t  *tscf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    if (reply->state.failures < tscf->lockout) {
        return ngx_http_twofa_show_invalid(r, pg);
    }

    if (reply->state.failures == tscf->lockout) {
        ngx_http_twofa_count(NGX_HTTP_TWOFA_M_LOCKOUTS);

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "twofa: \"%V\" of \"%V\" locked out after %ui failed "
                      "codes", ngx_http_twofa_shown(r, &pg->user),
                      ngx_http_twofa_shown(r, &pg->org),
                      reply->state.failures);
    }

    return ngx_http_twofa_show_locked(r, pg, reply->state.fail_ttl);
}


/*
 * After a step asked the store (pg->then set before, as the reply may
 * come at once): the request waits, or 503 when the question could not
 * even be sent.
 */

static ngx_int_t
ngx_http_twofa_asked(ngx_http_request_t *r, ngx_int_t rc)
{
    if (rc != NGX_OK) {
        return ngx_http_twofa_unavailable(r);
    }

    return NGX_DONE;
}


/*
 * Every store reply of the pages comes here: what all steps answer alike
 * (no answer, locked, a used code, a hold gone), then the step that asked
 * (pg->then).  Ends the request unless another operation goes on.
 */

static void
ngx_http_twofa_flow_reply(ngx_http_request_t *r,
    ngx_http_twofa_store_reply_t *reply)
{
    ngx_int_t               rc;
    ngx_http_twofa_page_t  *pg;

    pg = ngx_http_twofa_page(r);

    if (reply->rc != NGX_OK) {
        ngx_http_twofa_set_result(r, NGX_HTTP_TWOFA_RESULT_ERROR);
        rc = ngx_http_twofa_unavailable(r);

    } else if (reply->outcome == NGX_HTTP_TWOFA_LOCKED) {
        /* a script that checks a code refused it unchecked */
        ngx_http_twofa_count(NGX_HTTP_TWOFA_M_CODE_LOCKED);
        rc = ngx_http_twofa_show_locked(r, pg, reply->state.fail_ttl);

    } else if (reply->outcome == NGX_HTTP_TWOFA_REPLAY) {
        /* a used code looks exactly like a wrong one */
        rc = ngx_http_twofa_failed(r, pg);

    } else if (reply->outcome == NGX_HTTP_TWOFA_NO_HOLD) {
        rc = ngx_http_twofa_show_expired(r, pg);

    } else {
        rc = pg->then(r, pg, reply);
    }

    if (rc != NGX_DONE) {
        ngx_http_twofa_done(r, rc);
    }
}
