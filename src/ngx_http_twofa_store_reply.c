/*
 * twofa-edge: what Redis answered to each store operation, parsed into
 * that operation's typed outcome and the state it read.  Anything that
 * does not have the expected shape is refused (and fails closed).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"


static ngx_int_t ngx_http_twofa_store_copy(ngx_http_request_t *r,
    redisReply *reply, ngx_str_t *out);
static ngx_int_t ngx_http_twofa_store_integer(redisReply *reply,
    int64_t *n);
static ngx_int_t ngx_http_twofa_store_integers(redisReply *reply,
    size_t count, ...);
static ngx_int_t ngx_http_twofa_store_audit_entry(ngx_http_request_t *r,
    redisReply *row, ngx_http_twofa_audit_entry_t *e);


static ngx_int_t
ngx_http_twofa_store_copy(ngx_http_request_t *r, redisReply *reply,
    ngx_str_t *out)
{
    if (reply->type == REDIS_REPLY_NIL) {
        ngx_str_null(out);
        return NGX_OK;
    }

    if (reply->type != REDIS_REPLY_STRING
        && reply->type != REDIS_REPLY_STATUS)
    {
        return NGX_ERROR;
    }

    out->len = reply->len;

    if (out->len == 0) {
        out->data = NULL;
        return NGX_OK;
    }

    out->data = ngx_pnalloc(r->pool, out->len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, reply->str, out->len);

    return NGX_OK;
}


/* an integer, or a decimal string of one (numbers Lua kept as strings) */

static ngx_int_t
ngx_http_twofa_store_integer(redisReply *reply, int64_t *n)
{
    size_t   i;
    int64_t  v;
    int      neg;

    if (reply->type == REDIS_REPLY_INTEGER) {
        *n = reply->integer;
        return NGX_OK;
    }

    if (reply->type != REDIS_REPLY_STRING || reply->len == 0
        || reply->len > 19)
    {
        return NGX_ERROR;
    }

    neg = (reply->str[0] == '-');
    i = neg;
    v = 0;

    if (i == reply->len) {
        return NGX_ERROR;
    }

    for ( /* void */ ; i < reply->len; i++) {
        if (reply->str[i] < '0' || reply->str[i] > '9') {
            return NGX_ERROR;
        }

        v = v * 10 + (reply->str[i] - '0');
    }

    *n = neg ? -v : v;

    return NGX_OK;
}


/* an array of exactly count integers, into the int64_t * that follow */

static ngx_int_t
ngx_http_twofa_store_integers(redisReply *reply, size_t count, ...)
{
    size_t    i;
    va_list   args;
    int64_t  *n;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != count) {
        return NGX_ERROR;
    }

    va_start(args, count);

    for (i = 0; i < count; i++) {
        n = va_arg(args, int64_t *);

        if (ngx_http_twofa_store_integer(reply->element[i], n) != NGX_OK) {
            break;
        }
    }

    va_end(args);

    return (i == count) ? NGX_OK : NGX_ERROR;
}


/*
 * What the scripts that change a user's state answer: 0 done, 1 the state
 * changed meanwhile, 2 the step or code was used, 3 the hold is gone, 4
 * the org requires 2FA, {7, ttl} locked out.
 */

ngx_int_t
ngx_http_twofa_store_parse_outcome(ngx_http_request_t *r, redisReply *reply,
    ngx_http_twofa_store_reply_t *out)
{
    int64_t  n, ttl;

    static const ngx_http_twofa_outcome_e  outcomes[] = {
        NGX_HTTP_TWOFA_DONE,
        NGX_HTTP_TWOFA_CONFLICT,
        NGX_HTTP_TWOFA_REPLAY,
        NGX_HTTP_TWOFA_NO_HOLD,
        NGX_HTTP_TWOFA_REQUIRED
    };

    if (reply->type == REDIS_REPLY_ARRAY) {
        if (ngx_http_twofa_store_integers(reply, 2, &n, &ttl) != NGX_OK
            || n != 7)
        {
            return NGX_ERROR;
        }

        out->outcome = NGX_HTTP_TWOFA_LOCKED;
        out->state.fail_ttl = (ngx_msec_t) (ttl < 0 ? 0 : ttl);
        return NGX_OK;
    }

    if (ngx_http_twofa_store_integer(reply, &n) != NGX_OK
        || n < 0 || n > 4)
    {
        return NGX_ERROR;
    }

    out->outcome = outcomes[n];

    return NGX_OK;
}


/* {had TOTP state, was enrolled} */

ngx_int_t
ngx_http_twofa_store_parse_reset(ngx_http_request_t *r, redisReply *reply,
    ngx_http_twofa_store_reply_t *out)
{
    int64_t  existed, enrolled;

    if (ngx_http_twofa_store_integers(reply, 2, &existed, &enrolled)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    out->outcome = NGX_HTTP_TWOFA_DONE;
    out->existed = existed ? 1 : 0;
    out->was_enrolled = enrolled ? 1 : 0;

    return NGX_OK;
}


/* 1 made now, 0 there already */

ngx_int_t
ngx_http_twofa_store_parse_init(ngx_http_request_t *r, redisReply *reply,
    ngx_http_twofa_store_reply_t *out)
{
    int64_t  made;

    if (ngx_http_twofa_store_integer(reply, &made) != NGX_OK) {
        return NGX_ERROR;
    }

    out->outcome = NGX_HTTP_TWOFA_DONE;
    out->created = made ? 1 : 0;

    return NGX_OK;
}


/* {held, enabled, require} */

ngx_int_t
ngx_http_twofa_store_parse_login(ngx_http_request_t *r, redisReply *reply,
    ngx_http_twofa_store_reply_t *out)
{
    int64_t  held, enabled, require;

    if (ngx_http_twofa_store_integers(reply, 3, &held, &enabled, &require)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (held < 0) {
        out->outcome = NGX_HTTP_TWOFA_NO_STATE;
        return NGX_OK;
    }

    out->outcome = (held == 2) ? NGX_HTTP_TWOFA_UNHOLDABLE
                   : held ? NGX_HTTP_TWOFA_HELD : NGX_HTTP_TWOFA_DONE;
    out->state.enabled = enabled ? 1 : 0;
    out->state.require = require ? 1 : 0;

    return NGX_OK;
}


/*
 * {3} when the hold is gone, {-1} without the deployment mark; otherwise
 * {0, verified, attempts, org, user, require, enabled, secret,
 * last_step, enrolled_at, recovery kid, recovery left, failures, fail ttl,
 * pending, response, recovery codes, amr}.
 */

ngx_int_t
ngx_http_twofa_store_parse_state(ngx_http_request_t *r, redisReply *reply,
    ngx_http_twofa_store_reply_t *out)
{
    int64_t                  v[18];
    ngx_uint_t               i;
    redisReply             **e;
    ngx_http_twofa_state_t  *st;

    static const u_char  text[18] = {
        0, 0, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1
    };

    st = &out->state;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
        return NGX_ERROR;
    }

    e = reply->element;

    if (reply->elements == 1) {
        if (ngx_http_twofa_store_integer(e[0], &v[0]) != NGX_OK
            || (v[0] != -1 && v[0] != 3))
        {
            return NGX_ERROR;
        }

        out->outcome = (v[0] == 3) ? NGX_HTTP_TWOFA_NO_HOLD
                                   : NGX_HTTP_TWOFA_NO_STATE;
        return NGX_OK;
    }

    if (reply->elements != 18) {
        return NGX_ERROR;
    }

    for (i = 0; i < 18; i++) {
        if (!text[i]
            && ngx_http_twofa_store_integer(e[i], &v[i]) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_twofa_store_copy(r, e[3], &st->org) != NGX_OK
        || ngx_http_twofa_store_copy(r, e[4], &st->user) != NGX_OK
        || ngx_http_twofa_store_copy(r, e[7], &st->secret) != NGX_OK
        || ngx_http_twofa_store_copy(r, e[10], &st->recovery_kid) != NGX_OK
        || ngx_http_twofa_store_copy(r, e[14], &st->pending) != NGX_OK
        || ngx_http_twofa_store_copy(r, e[15], &st->response) != NGX_OK
        || ngx_http_twofa_store_copy(r, e[16], &st->recovery_codes)
           != NGX_OK
        || ngx_http_twofa_store_copy(r, e[17], &st->amr) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* what came back from a hold is checked like any identity */

    if (!twofa_ident_valid((const char *) st->org.data, st->org.len)
        || !twofa_ident_valid((const char *) st->user.data, st->user.len))
    {
        return NGX_ERROR;
    }

    out->outcome = NGX_HTTP_TWOFA_DONE;

    st->hold_verified = v[1] ? 1 : 0;
    st->hold_attempts = (ngx_uint_t) (v[2] < 0 ? 0 : v[2]);
    st->require = v[5] ? 1 : 0;
    st->enabled = v[6] ? 1 : 0;
    st->last_step = v[8];
    st->enrolled_at = v[9];
    st->recovery_left = (ngx_uint_t) (v[11] < 0 ? 0 : v[11]);
    st->failures = (ngx_uint_t) (v[12] < 0 ? 0 : v[12]);
    st->fail_ttl = (ngx_msec_t) (v[13] < 0 ? 0 : v[13]);

    return NGX_OK;
}


/* {1, secret} saved (or the one there), {0} TOTP is on, {3} no hold */

ngx_int_t
ngx_http_twofa_store_parse_pending(ngx_http_request_t *r, redisReply *reply,
    ngx_http_twofa_store_reply_t *out)
{
    int64_t  n;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1
        || ngx_http_twofa_store_integer(reply->element[0], &n) != NGX_OK)
    {
        return NGX_ERROR;
    }

    switch (n) {

    case 1:
        if (reply->elements != 2) {
            return NGX_ERROR;
        }

        out->outcome = NGX_HTTP_TWOFA_DONE;
        return ngx_http_twofa_store_copy(r, reply->element[1], &out->data);

    case 0:
        out->outcome = NGX_HTTP_TWOFA_ALREADY_ON;
        return NGX_OK;

    case 3:
        out->outcome = NGX_HTTP_TWOFA_NO_HOLD;
        return NGX_OK;

    default:
        return NGX_ERROR;
    }
}


/* {failures, ttl} */

ngx_int_t
ngx_http_twofa_store_parse_fail(ngx_http_request_t *r, redisReply *reply,
    ngx_http_twofa_store_reply_t *out)
{
    int64_t  n, ttl;

    if (ngx_http_twofa_store_integers(reply, 2, &n, &ttl) != NGX_OK) {
        return NGX_ERROR;
    }

    out->state.failures = (ngx_uint_t) (n < 0 ? 0 : n);
    out->state.fail_ttl = (ngx_msec_t) (ttl < 0 ? 0 : ttl);

    return NGX_OK;
}


/* {require, updated} */

ngx_int_t
ngx_http_twofa_store_parse_org(ngx_http_request_t *r, redisReply *reply,
    ngx_http_twofa_store_reply_t *out)
{
    int64_t  require;

    if (ngx_http_twofa_store_integers(reply, 2, &require, &out->state.updated)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (require < 0) {
        out->outcome = NGX_HTTP_TWOFA_NO_STATE;
        return NGX_OK;
    }

    out->outcome = NGX_HTTP_TWOFA_DONE;
    out->state.require = require ? 1 : 0;

    return NGX_OK;
}


/* {last id looked at, {id, time, event, org, user, actor, client, edge}...} */

ngx_int_t
ngx_http_twofa_store_parse_audit(ngx_http_request_t *r, redisReply *reply,
    ngx_http_twofa_store_reply_t *out)
{
    size_t                         i;
    ngx_http_twofa_audit_entry_t  *e;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1
        || ngx_http_twofa_store_copy(r, reply->element[0], &out->audit_last)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    out->audit = ngx_array_create(r->pool, reply->elements,
                                  sizeof(ngx_http_twofa_audit_entry_t));
    if (out->audit == NULL) {
        return NGX_ERROR;
    }

    for (i = 1; i < reply->elements; i++) {
        e = ngx_array_push(out->audit);

        if (e == NULL
            || ngx_http_twofa_store_audit_entry(r, reply->element[i], e)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    out->outcome = NGX_HTTP_TWOFA_DONE;

    return NGX_OK;
}


/* one entry: {id, time, event, org, user, actor, client, edge} */

static ngx_int_t
ngx_http_twofa_store_audit_entry(ngx_http_request_t *r, redisReply *row,
    ngx_http_twofa_audit_entry_t *e)
{
    size_t      k;
    ngx_str_t  *field[8];

    if (row->type != REDIS_REPLY_ARRAY || row->elements != 8) {
        return NGX_ERROR;
    }

    field[0] = &e->id;
    field[1] = &e->time;
    field[2] = &e->event;
    field[3] = &e->org;
    field[4] = &e->user;
    field[5] = &e->actor;
    field[6] = &e->client;
    field[7] = &e->edge;

    for (k = 0; k < 8; k++) {
        if (ngx_http_twofa_store_copy(r, row->element[k], field[k]) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}
