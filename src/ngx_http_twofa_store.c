/*
 * Typed operations over the Redis keys of the design:
 *
 *   {prefix}deployment           hash   created, by: the data is here
 *   {prefix}org:{org}            hash   require, updated
 *   {prefix}user:{org}:{user}    hash   secret, enabled, enrolled_at,
 *                                       last_step, recovery
 *   {prefix}hold:{token}         hash   org, user, v (passed), n
 *                                       (attempts), r (sealed response),
 *                                       amr, rc (sealed recovery codes)
 *   {prefix}holds:{org}:{user}   zset   the user's live holds, by expiry
 *   {prefix}pending:{binding}    string a pending secret, of one hold or
 *                                       session, with its lifetime
 *   {prefix}fail:{org}:{user}    counter with the lockout window as TTL
 *   {prefix}revocations          hash   "org\nuser" -> sessions made
 *                                       before this time are revoked;
 *                                       also the pub/sub channel
 *
 * Each operation is one Lua script: one round trip, and atomic, so two
 * edges can never both accept one code or both release one hold.  The
 * scripts that start from a hold read its owner from the hold itself;
 * they name keys at run time, which a single Redis (or a primary with
 * replicas) allows and Redis Cluster does not.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"


typedef ngx_int_t (*ngx_http_twofa_store_parse_pt)(ngx_http_request_t *r,
    redisReply *reply, ngx_http_twofa_store_reply_t *out);


typedef struct {
    ngx_http_request_t                *r;
    ngx_http_twofa_store_handler_pt    handler;
    ngx_http_twofa_store_parse_pt      parse;
    const char                        *name;     /* for the logs */
} ngx_http_twofa_store_op_t;


#define NGX_HTTP_TWOFA_STORE_ARGS_MAX  16


static ngx_int_t ngx_http_twofa_store_eval(ngx_http_request_t *r,
    const char *name, const char *script, ngx_uint_t nkeys, ngx_str_t *args,
    ngx_uint_t nargs, ngx_http_twofa_store_parse_pt parse,
    ngx_http_twofa_store_handler_pt handler);
static void ngx_http_twofa_store_reply(void *data, redisReply *reply);
static ngx_int_t ngx_http_twofa_store_key(ngx_http_request_t *r,
    ngx_str_t *key, const char *kind, ngx_str_t *a, ngx_str_t *b);
static ngx_int_t ngx_http_twofa_store_check(ngx_http_request_t *r,
    ngx_str_t *org, ngx_str_t *user, ngx_str_t *token);
static ngx_int_t ngx_http_twofa_store_uint_arg(ngx_http_request_t *r,
    ngx_str_t *arg, uint64_t n);
static ngx_int_t ngx_http_twofa_store_subject(ngx_http_request_t *r,
    ngx_str_t *out, ngx_str_t *org, ngx_str_t *user);
static ngx_int_t ngx_http_twofa_store_window(ngx_http_request_t *r,
    ngx_str_t *window, ngx_str_t *limit);
static uint64_t ngx_http_twofa_store_now_ms(void);
static ngx_int_t ngx_http_twofa_store_copy(ngx_http_request_t *r,
    redisReply *reply, ngx_str_t *out);
static ngx_int_t ngx_http_twofa_store_integer(redisReply *reply,
    int64_t *n);

static ngx_int_t ngx_http_twofa_store_parse_status(ngx_http_request_t *r,
    redisReply *reply, ngx_http_twofa_store_reply_t *out);
static ngx_int_t ngx_http_twofa_store_parse_login(ngx_http_request_t *r,
    redisReply *reply, ngx_http_twofa_store_reply_t *out);
static ngx_int_t ngx_http_twofa_store_parse_state(ngx_http_request_t *r,
    redisReply *reply, ngx_http_twofa_store_reply_t *out);
static ngx_int_t ngx_http_twofa_store_parse_pair(ngx_http_request_t *r,
    redisReply *reply, ngx_http_twofa_store_reply_t *out);
static ngx_int_t ngx_http_twofa_store_parse_org(ngx_http_request_t *r,
    redisReply *reply, ngx_http_twofa_store_reply_t *out);
static ngx_int_t ngx_http_twofa_store_parse_fail(ngx_http_request_t *r,
    redisReply *reply, ngx_http_twofa_store_reply_t *out);


/*
 * Every script that accepts a code first refuses, in its own atomic step,
 * once the user's failures reached the limit: however many requests
 * checked codes at once, over however many holds and edges, a right code
 * counts only while fewer than the limit of wrong ones were counted.
 * Returns {7, ttl of the window}.
 */

#define NGX_HTTP_TWOFA_LUA_LOCKED(fail, limit)                               \
    "if (tonumber(redis.call('GET', " fail ") or '0') or 0)"                 \
    " >= tonumber(" limit ") then\n"                                         \
    "  return {7, redis.call('PTTL', " fail ")}\n"                           \
    "end\n"


/*
 * KEYS: deployment, org, user, hold, holds.  ARGV: org, user, sealed
 * response, hold TTL (ms), now (ms), live holds allowed per user, hold
 * key prefix, token.
 *
 * The decision and the hold in one step: no window in which a login is
 * decided "held" but has no hold.  A Redis without the deployment marker
 * lost its data (or was never initialised): no decision.  A user has at
 * most `cap` live holds; a new login drops the oldest, so a password thief
 * cannot fill Redis (and evict what matters) with held logins.
 */

static const char  ngx_http_twofa_lua_login[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 0, 0} end\n"
    "local req = redis.call('HGET', KEYS[2], 'require') == '1'\n"
    "local en = redis.call('HGET', KEYS[3], 'enabled') == '1'\n"
    "if not (req or en) then return {0, 0, 0} end\n"
    "local ttl, now, cap = tonumber(ARGV[4]), tonumber(ARGV[5]),"
                         " tonumber(ARGV[6])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)\n"
    "local live = redis.call('ZCARD', KEYS[5])\n"
    "if live >= cap then\n"
    "  local old = redis.call('ZRANGE', KEYS[5], 0, live - cap)\n"
    "  for _, t in ipairs(old) do redis.call('DEL', ARGV[7] .. t) end\n"
    "  redis.call('ZREMRANGEBYRANK', KEYS[5], 0, live - cap)\n"
    "end\n"
    "redis.call('HSET', KEYS[4], 'org', ARGV[1], 'user', ARGV[2],"
               " 'v', '0', 'n', '0', 'r', ARGV[3])\n"
    "redis.call('PEXPIRE', KEYS[4], ttl)\n"
    "redis.call('ZADD', KEYS[5], now + ttl, ARGV[8])\n"
    "redis.call('PEXPIRE', KEYS[5], ttl)\n"
    "return {1, en and 1 or 0, req and 1 or 0}\n";


/*
 * ARGV: prefix, hold token or '', org, user (without a hold), '1' to
 * return the sealed response of the hold, pending binding (without a
 * hold).  Reads everything a page needs in one step, and writes nothing.
 */

static const char  ngx_http_twofa_lua_state[] =
    "local p, tok, org, user = ARGV[1], ARGV[2], ARGV[3], ARGV[4]\n"
    "local bind = ARGV[6]\n"
    "if redis.call('EXISTS', p .. 'deployment') == 0 then return {-1} end\n"
    "local verified, attempts, resp, rc, amr = 0, 0, '', '', ''\n"
    "if tok ~= '' then\n"
    "  local hk = p .. 'hold:' .. tok\n"
    "  local h = redis.call('HMGET', hk, 'org', 'user', 'v', 'n', 'rc',"
                          " 'amr')\n"
    "  if not h[1] or not h[2] then return {3} end\n"
    "  org, user = h[1], h[2]\n"
    "  verified, attempts = tonumber(h[3]) or 0, tonumber(h[4]) or 0\n"
    "  rc, amr = h[5] or '', h[6] or ''\n"
    "  if ARGV[5] == '1' then resp = redis.call('HGET', hk, 'r') or '' end\n"
    "  bind = tok\n"
    "end\n"
    "local f = redis.call('HMGET', p .. 'user:' .. org .. ':' .. user,"
                        " 'enabled', 'secret', 'last_step', 'enrolled_at',"
                        " 'recovery')\n"
    "local en = f[1] == '1'\n"
    "local req = redis.call('HGET', p .. 'org:' .. org, 'require') == '1'\n"
    "local fk = p .. 'fail:' .. org .. ':' .. user\n"
    "local fails = tonumber(redis.call('GET', fk) or '0') or 0\n"
    "local ttl = redis.call('PTTL', fk)\n"
    "local pending = ''\n"
    "if bind ~= '' then\n"
    "  pending = redis.call('GET', p .. 'pending:' .. bind) or ''\n"
    "end\n"
    "local kid, left = '', 0\n"
    "if en and f[5] then\n"
    "  local k, list = string.match(f[5], '^([^:]*):(.*)$')\n"
    "  if k then\n"
    "    kid = k\n"
    "    for _ in string.gmatch(list, '[^,]+') do left = left + 1 end\n"
    "  end\n"
    "end\n"
    "return {0, verified, attempts, org, user, req and 1 or 0,"
           " en and 1 or 0, en and (f[2] or '') or '', f[3] or '-1',"
           " f[4] or '0', kid, left, fails, ttl, pending, resp, rc, amr}\n";


/*
 * KEYS: fail, hold.  ARGV: window (ms), limit, '1' with a hold.  Counts a
 * wrong (or used) code for the user (the window starts at the first) and
 * for the hold, which is dropped at the limit.  Returns {failures, ttl}:
 * past the limit the caller answers "locked", not "wrong".
 */

static const char  ngx_http_twofa_lua_fail[] =
    "local n = redis.call('INCR', KEYS[1])\n"
    "local ttl = redis.call('PTTL', KEYS[1])\n"
    "if n == 1 or ttl < 0 then\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[1])\n"
    "  ttl = tonumber(ARGV[1])\n"
    "end\n"
    "if ARGV[3] == '1' then\n"
    "  local a = redis.call('HINCRBY', KEYS[2], 'n', 1)\n"
    "  if a >= tonumber(ARGV[2]) then redis.call('DEL', KEYS[2]) end\n"
    "end\n"
    "return {n, ttl}\n";


/*
 * KEYS: pending, user, hold or pending.  ARGV: sealed secret, TTL (ms)
 * without a hold, '1' with a hold.
 *
 * A pending secret belongs to the hold (or signed-in session) that made it
 * and dies with it: reloads of that hold show one QR code, and no other
 * login ever sees it.  Returns {1, secret}, {0} when TOTP is already on,
 * {3} when the hold is gone.
 */

static const char  ngx_http_twofa_lua_pending[] =
    "if redis.call('HGET', KEYS[2], 'enabled') == '1' then return {0} end\n"
    "local ttl = tonumber(ARGV[2])\n"
    "if ARGV[3] == '1' then\n"
    "  ttl = redis.call('PTTL', KEYS[3])\n"
    "  if ttl <= 0 then return {3} end\n"
    "end\n"
    "local cur = redis.call('GET', KEYS[1])\n"
    "if cur then return {1, cur} end\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)\n"
    "return {1, ARGV[1]}\n";


/*
 * KEYS: user, fail, pending, hold or pending.  ARGV: the pending secret
 * the code was checked against, step, recovery hashes, now, '1' with a
 * hold, the new recovery codes sealed, how long (ms) a signed-in user may
 * ask for them again.
 *
 * Turns TOTP on only if the pending secret is still the one checked; the
 * step becomes the last used, so the enrolling code cannot log in again.
 * The new recovery codes stay (sealed) with the hold until continue, or a
 * little while for a signed-in user: a reply that comes too late does not
 * lose them, the retry shows them.
 */

static const char  ngx_http_twofa_lua_enable[] =
    NGX_HTTP_TWOFA_LUA_LOCKED("KEYS[2]", "ARGV[8]")
    "if redis.call('HGET', KEYS[1], 'enabled') == '1' then return 1 end\n"
    "if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 1 end\n"
    "if ARGV[5] == '1' and redis.call('EXISTS', KEYS[4]) == 0 then\n"
    "  return 3\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'secret', ARGV[1], 'enabled', '1',"
               " 'enrolled_at', ARGV[4], 'last_step', ARGV[2],"
               " 'recovery', ARGV[3])\n"
    "redis.call('DEL', KEYS[2])\n"
    "if ARGV[5] == '1' then\n"
    "  redis.call('HSET', KEYS[4], 'v', '1', 'amr', 'totp', 'rc', ARGV[6])\n"
    "  redis.call('DEL', KEYS[3])\n"
    "else\n"
    "  redis.call('SET', KEYS[3], '!' .. ARGV[6], 'PX', ARGV[7])\n"
    "end\n"
    "return 0\n";


/*
 * KEYS: user, fail, hold.  ARGV: step or '', recovery hash or '', '1' with
 * a hold, how the user passed (amr).
 *
 * Accepts a TOTP step newer than the last one, or consumes a recovery
 * code; clears the failures; marks the hold passed.  The hold itself is
 * taken by the next step (take), so a reply that comes too late leaves a
 * hold the retry can release.
 */

static const char  ngx_http_twofa_lua_accept[] =
    NGX_HTTP_TWOFA_LUA_LOCKED("KEYS[2]", "ARGV[5]")
    "if ARGV[3] == '1' and redis.call('EXISTS', KEYS[3]) == 0 then\n"
    "  return 3\n"
    "end\n"
    "local f = redis.call('HMGET', KEYS[1], 'enabled', 'last_step',"
                          " 'recovery')\n"
    "if f[1] ~= '1' then return 1 end\n"
    "if ARGV[1] ~= '' then\n"
    "  if f[2] and tonumber(f[2]) >= tonumber(ARGV[1]) then return 2 end\n"
    "  redis.call('HSET', KEYS[1], 'last_step', ARGV[1])\n"
    "else\n"
    "  local kid, list = string.match(f[3] or '', '^([^:]*):(.*)$')\n"
    "  if not kid then return 2 end\n"
    "  local rest, hit = {}, false\n"
    "  for h in string.gmatch(list, '[^,]+') do\n"
    "    if h == ARGV[2] and not hit then hit = true\n"
    "    else rest[#rest + 1] = h end\n"
    "  end\n"
    "  if not hit then return 2 end\n"
    "  redis.call('HSET', KEYS[1], 'recovery',"
               " kid .. ':' .. table.concat(rest, ','))\n"
    "end\n"
    "redis.call('DEL', KEYS[2])\n"
    "if ARGV[3] == '1' then\n"
    "  redis.call('HSET', KEYS[3], 'v', '1', 'amr', ARGV[4])\n"
    "end\n"
    "return 0\n";


/*
 * KEYS: hold, holds.  ARGV: token.  Takes a hold whose owner passed the
 * second factor: one release per hold, whatever the edges.
 */

static const char  ngx_http_twofa_lua_take[] =
    "if redis.call('HGET', KEYS[1], 'v') ~= '1' then return 3 end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "return 0\n";


/*
 * KEYS: user, org, fail, revocations.  ARGV: step, now, "org\nuser",
 * channel.  Turns TOTP off with a fresh code, unless the org requires it,
 * and revokes the sessions made before now on every edge.
 */

static const char  ngx_http_twofa_lua_disable[] =
    NGX_HTTP_TWOFA_LUA_LOCKED("KEYS[3]", "ARGV[5]")
    "if redis.call('HGET', KEYS[2], 'require') == '1' then return 4 end\n"
    "local f = redis.call('HMGET', KEYS[1], 'enabled', 'last_step')\n"
    "if f[1] ~= '1' then return 1 end\n"
    "if f[2] and tonumber(f[2]) >= tonumber(ARGV[1]) then return 2 end\n"
    "redis.call('DEL', KEYS[1], KEYS[3])\n"
    "redis.call('HSET', KEYS[4], ARGV[3], ARGV[2])\n"
    "redis.call('PUBLISH', ARGV[4], ARGV[2] .. '\\n' .. ARGV[3])\n"
    "return 0\n";


/* KEYS: org. */

static const char  ngx_http_twofa_lua_org_get[] =
    "local f = redis.call('HMGET', KEYS[1], 'require', 'updated')\n"
    "return {f[1] == '1' and 1 or 0, tonumber(f[2] or '0') or 0}\n";


/*
 * KEYS: org, deployment.  ARGV: require, now.  A Redis that lost its
 * data (no deployment marker) takes no policy: the admin initialises
 * (after restoring) first.
 */

static const char  ngx_http_twofa_lua_org_set[] =
    "if redis.call('EXISTS', KEYS[2]) == 0 then return {-1, 0} end\n"
    "redis.call('HSET', KEYS[1], 'require', ARGV[1], 'updated', ARGV[2])\n"
    "return {tonumber(ARGV[1]), tonumber(ARGV[2])}\n";


/*
 * KEYS: user, fail, holds, revocations.  ARGV: hold key prefix, now,
 * "org\nuser", channel.  Forgets the user's TOTP state and live holds and
 * revokes their sessions on every edge.  Returns 1 when the user had TOTP
 * state.
 */

static const char  ngx_http_twofa_lua_reset[] =
    "local existed = redis.call('EXISTS', KEYS[1])\n"
    "for _, t in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do\n"
    "  redis.call('DEL', ARGV[1] .. t)\n"
    "end\n"
    "redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])\n"
    "redis.call('HSET', KEYS[4], ARGV[3], ARGV[2])\n"
    "redis.call('PUBLISH', ARGV[4], ARGV[2] .. '\\n' .. ARGV[3])\n"
    "return existed\n";


/* KEYS: deployment.  ARGV: now, by.  Returns 1 when it was made now. */

static const char  ngx_http_twofa_lua_init[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'created', ARGV[1], 'by', ARGV[2])\n"
    "return 1\n";


ngx_int_t
ngx_http_twofa_store_login(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, ngx_str_t *hold_token, ngx_str_t *hold_value,
    ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t                   args[13];
    ngx_http_twofa_srv_conf_t  *tscf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    if (ngx_http_twofa_store_check(r, org, user, hold_token) != NGX_OK
        || ngx_http_twofa_store_key(r, &args[0], "deployment", NULL, NULL)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &args[1], "org:", org, NULL) != NGX_OK
        || ngx_http_twofa_store_key(r, &args[2], "user:", org, user)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &args[3], "hold:", hold_token, NULL)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &args[4], "holds:", org, user)
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
        || ngx_http_twofa_store_key(r, &args[11], "hold:", NULL, NULL)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    args[5] = *org;
    args[6] = *user;
    args[7] = *hold_value;
    args[12] = *hold_token;

    return ngx_http_twofa_store_eval(r, "login", ngx_http_twofa_lua_login, 5,
                                     args, 13,
                                     ngx_http_twofa_store_parse_login,
                                     handler);
}


ngx_int_t
ngx_http_twofa_store_state(ngx_http_request_t *r,
    ngx_http_twofa_state_query_t *q, ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t                    args[6], empty;
    ngx_http_twofa_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_twofa_module);

    ngx_str_null(&empty);

    if (q->hold.len) {
        if (ngx_http_twofa_store_check(r, NULL, NULL, &q->hold) != NGX_OK) {
            return NGX_ERROR;
        }

        args[1] = q->hold;
        args[2] = empty;
        args[3] = empty;
        args[5] = empty;

    } else {
        if (ngx_http_twofa_store_check(r, &q->org, &q->user, NULL) != NGX_OK)
        {
            return NGX_ERROR;
        }

        args[1] = empty;
        args[2] = q->org;
        args[3] = q->user;
        args[5] = q->bind;
    }

    args[0] = tmcf->prefix;

    ngx_str_set(&args[4], "0");
    args[4].data = (u_char *) (q->want_response ? "1" : "0");

    return ngx_http_twofa_store_eval(r, "state", ngx_http_twofa_lua_state, 0,
                                     args, 6,
                                     ngx_http_twofa_store_parse_state,
                                     handler);
}


ngx_int_t
ngx_http_twofa_store_fail(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, ngx_str_t *hold_token,
    ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t   args[5], none;
    ngx_uint_t  has_hold;

    has_hold = (hold_token && hold_token->len);
    ngx_str_set(&none, "-");

    if (ngx_http_twofa_store_check(r, org, user,
                                   has_hold ? hold_token : NULL)
        != NGX_OK
        || ngx_http_twofa_store_key(r, &args[0], "fail:", org, user)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &args[1], "hold:",
                                    has_hold ? hold_token : &none, NULL)
           != NGX_OK
        || ngx_http_twofa_store_window(r, &args[2], &args[3]) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_set(&args[4], "0");
    args[4].data = (u_char *) (has_hold ? "1" : "0");

    return ngx_http_twofa_store_eval(r, "fail", ngx_http_twofa_lua_fail, 2,
                                     args, 5,
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

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    has_hold = (hold_token && hold_token->len);

    if (ngx_http_twofa_store_check(r, org, user,
                                   has_hold ? hold_token : NULL)
        != NGX_OK
        || ngx_http_twofa_store_key(r, &args[0], "pending:",
                                    has_hold ? hold_token : bind, NULL)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &args[1], "user:", org, user)
           != NGX_OK
        || (has_hold
            ? ngx_http_twofa_store_key(r, &args[2], "hold:", hold_token,
                                       NULL)
            : ngx_http_twofa_store_key(r, &args[2], "pending:", bind, NULL))
           != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[4],
                                         (uint64_t) tscf->hold_ttl * 1000)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    args[3] = *sealed_secret;
    ngx_str_set(&args[5], "0");
    args[5].data = (u_char *) (has_hold ? "1" : "0");

    return ngx_http_twofa_store_eval(r, "save pending",
                                     ngx_http_twofa_lua_pending, 3,
                                     args, 6,
                                     ngx_http_twofa_store_parse_pair,
                                     handler);
}


ngx_int_t
ngx_http_twofa_store_enable(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, ngx_str_t *bind, ngx_str_t *hold_token,
    ngx_str_t *sealed_secret, uint64_t step, ngx_str_t *recovery,
    ngx_str_t *sealed_codes, ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t                   args[12], none, window;
    ngx_uint_t                  has_hold;
    ngx_http_twofa_srv_conf_t  *tscf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    has_hold = (hold_token && hold_token->len);
    ngx_str_set(&none, "-");

    if (ngx_http_twofa_store_check(r, org, user,
                                   has_hold ? hold_token : NULL)
        != NGX_OK
        || ngx_http_twofa_store_key(r, &args[0], "user:", org, user)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &args[1], "fail:", org, user)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &args[2], "pending:",
                                    has_hold ? hold_token : bind, NULL)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &args[3], "hold:",
                                    has_hold ? hold_token : &none, NULL)
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
    ngx_str_set(&args[8], "0");
    args[8].data = (u_char *) (has_hold ? "1" : "0");
    args[9] = *sealed_codes;

    return ngx_http_twofa_store_eval(r, "enable", ngx_http_twofa_lua_enable,
                                     4, args, 12,
                                     ngx_http_twofa_store_parse_status,
                                     handler);
}


ngx_int_t
ngx_http_twofa_store_accept_code(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, uint64_t step, ngx_str_t *recovery_hash,
    ngx_str_t *hold_token, twofa_amr_t amr,
    ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t   args[8], none, window;
    ngx_uint_t  has_hold;

    has_hold = (hold_token && hold_token->len);
    ngx_str_set(&none, "-");

    if (ngx_http_twofa_store_check(r, org, user,
                                   has_hold ? hold_token : NULL)
        != NGX_OK
        || ngx_http_twofa_store_key(r, &args[0], "user:", org, user)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &args[1], "fail:", org, user)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &args[2], "hold:",
                                    has_hold ? hold_token : &none, NULL)
           != NGX_OK
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

    ngx_str_set(&args[5], "0");
    args[5].data = (u_char *) (has_hold ? "1" : "0");

    args[6].data = (u_char *) twofa_amr_name(amr);
    args[6].len = ngx_strlen(args[6].data);

    return ngx_http_twofa_store_eval(r, "accept", ngx_http_twofa_lua_accept,
                                     3, args, 8,
                                     ngx_http_twofa_store_parse_status,
                                     handler);
}


ngx_int_t
ngx_http_twofa_store_take_hold(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, ngx_str_t *hold_token,
    ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t  args[3];

    if (ngx_http_twofa_store_check(r, org, user, hold_token) != NGX_OK
        || ngx_http_twofa_store_key(r, &args[0], "hold:", hold_token, NULL)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &args[1], "holds:", org, user)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    args[2] = *hold_token;

    return ngx_http_twofa_store_eval(r, "take hold", ngx_http_twofa_lua_take,
                                     2, args, 3,
                                     ngx_http_twofa_store_parse_status,
                                     handler);
}


ngx_int_t
ngx_http_twofa_store_disable(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, uint64_t step, ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t  args[9], window;

    if (ngx_http_twofa_store_check(r, org, user, NULL) != NGX_OK
        || ngx_http_twofa_store_window(r, &window, &args[8]) != NGX_OK
        || ngx_http_twofa_store_key(r, &args[0], "user:", org, user)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &args[1], "org:", org, NULL)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &args[2], "fail:", org, user)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &args[3], "revocations", NULL, NULL)
           != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[4], step) != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[5], (uint64_t) ngx_time())
           != NGX_OK
        || ngx_http_twofa_store_subject(r, &args[6], org, user) != NGX_OK)
    {
        return NGX_ERROR;
    }

    args[7] = args[3];

    return ngx_http_twofa_store_eval(r, "disable",
                                     ngx_http_twofa_lua_disable, 4, args, 9,
                                     ngx_http_twofa_store_parse_status,
                                     handler);
}


ngx_int_t
ngx_http_twofa_store_org_get(ngx_http_request_t *r, ngx_str_t *org,
    ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t  args[1];

    if (ngx_http_twofa_store_check(r, org, NULL, NULL) != NGX_OK
        || ngx_http_twofa_store_key(r, &args[0], "org:", org, NULL)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_twofa_store_eval(r, "org get",
                                     ngx_http_twofa_lua_org_get, 1, args, 1,
                                     ngx_http_twofa_store_parse_org,
                                     handler);
}


ngx_int_t
ngx_http_twofa_store_org_set(ngx_http_request_t *r, ngx_str_t *org,
    ngx_uint_t require, ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t  args[4];

    if (ngx_http_twofa_store_check(r, org, NULL, NULL) != NGX_OK
        || ngx_http_twofa_store_key(r, &args[0], "org:", org, NULL)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &args[1], "deployment", NULL, NULL)
           != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[3], (uint64_t) ngx_time())
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_set(&args[2], "0");
    args[2].data = (u_char *) (require ? "1" : "0");

    return ngx_http_twofa_store_eval(r, "org set",
                                     ngx_http_twofa_lua_org_set, 2, args, 4,
                                     ngx_http_twofa_store_parse_org,
                                     handler);
}


ngx_int_t
ngx_http_twofa_store_user_reset(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t  args[8];

    if (ngx_http_twofa_store_check(r, org, user, NULL) != NGX_OK
        || ngx_http_twofa_store_key(r, &args[0], "user:", org, user)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &args[1], "fail:", org, user)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &args[2], "holds:", org, user)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &args[3], "revocations", NULL, NULL)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &args[4], "hold:", NULL, NULL)
           != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[5], (uint64_t) ngx_time())
           != NGX_OK
        || ngx_http_twofa_store_subject(r, &args[6], org, user) != NGX_OK)
    {
        return NGX_ERROR;
    }

    args[7] = args[3];

    return ngx_http_twofa_store_eval(r, "user reset",
                                     ngx_http_twofa_lua_reset, 4, args, 8,
                                     ngx_http_twofa_store_parse_status,
                                     handler);
}


ngx_int_t
ngx_http_twofa_store_init(ngx_http_request_t *r, ngx_str_t *by,
    ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t  args[3];

    if (ngx_http_twofa_store_key(r, &args[0], "deployment", NULL, NULL)
        != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[1], (uint64_t) ngx_time())
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    args[2] = *by;

    return ngx_http_twofa_store_eval(r, "init", ngx_http_twofa_lua_init, 1,
                                     args, 3,
                                     ngx_http_twofa_store_parse_status,
                                     handler);
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


static ngx_int_t
ngx_http_twofa_store_eval(ngx_http_request_t *r, const char *name,
    const char *script, ngx_uint_t nkeys, ngx_str_t *args, ngx_uint_t nargs,
    ngx_http_twofa_store_parse_pt parse,
    ngx_http_twofa_store_handler_pt handler)
{
    size_t                       lens[NGX_HTTP_TWOFA_STORE_ARGS_MAX + 3];
    u_char                       nk[NGX_INT_T_LEN];
    ngx_int_t                    rc;
    ngx_uint_t                   i;
    const char                  *argv[NGX_HTTP_TWOFA_STORE_ARGS_MAX + 3];
    ngx_http_twofa_store_op_t   *op;
    ngx_http_twofa_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_twofa_module);

    op = ngx_palloc(r->pool, sizeof(ngx_http_twofa_store_op_t));
    if (op == NULL) {
        return NGX_ERROR;
    }

    op->r = r;
    op->handler = handler;
    op->parse = parse;
    op->name = name;

    argv[0] = "EVAL";
    lens[0] = 4;
    argv[1] = script;
    lens[1] = ngx_strlen(script);
    argv[2] = (const char *) nk;
    lens[2] = ngx_sprintf(nk, "%ui", nkeys) - nk;

    for (i = 0; i < nargs; i++) {
        argv[3 + i] = args[i].data ? (const char *) args[i].data : "";
        lens[3 + i] = args[i].len;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa store: %s (%ui arguments)", name, nargs);

    rc = ngx_http_twofa_redis_command(tmcf->client, r->pool,
                                      r->connection->log,
                                      ngx_http_twofa_store_reply, op,
                                      (int) (3 + nargs), argv, lens);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "twofa store: %s: redis \"%V\" is not connected",
                      name, &tmcf->redis->addr);
    }

    return rc;
}


/*
 * Called on the event loop, outside any request handler: hand the result
 * to the request, then run what it posted, as upstream does.
 */

static void
ngx_http_twofa_store_reply(void *data, redisReply *reply)
{
    ngx_http_twofa_store_op_t *op = data;

    ngx_connection_t              *c;
    ngx_http_request_t            *r;
    ngx_http_twofa_store_reply_t   out;

    r = op->r;
    c = r->connection;

    ngx_memzero(&out, sizeof(ngx_http_twofa_store_reply_t));

    if (reply == NULL) {
        out.rc = NGX_ERROR;

    } else if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "twofa store: %s: redis error: %*s", op->name,
                      (size_t) reply->len, reply->str);
        out.rc = NGX_ABORT;

    } else if (op->parse(r, reply, &out) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "twofa store: %s: unexpected reply from redis",
                      op->name);
        out.rc = NGX_ABORT;

    } else {
        out.rc = NGX_OK;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "twofa store: %s done rc:%i status:%i", op->name, out.rc,
                   out.status);

    op->handler(r, &out);

    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_twofa_store_key(ngx_http_request_t *r, ngx_str_t *key,
    const char *kind, ngx_str_t *a, ngx_str_t *b)
{
    u_char                      *p;
    size_t                       len, klen;
    ngx_http_twofa_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_twofa_module);

    klen = ngx_strlen(kind);
    len = tmcf->prefix.len + klen + (a ? a->len : 0)
          + (b ? 1 + b->len : 0);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    key->data = p;
    key->len = len;

    p = ngx_cpymem(p, tmcf->prefix.data, tmcf->prefix.len);
    p = ngx_cpymem(p, kind, klen);

    if (a) {
        p = ngx_cpymem(p, a->data, a->len);
    }

    if (b) {
        *p++ = ':';
        ngx_memcpy(p, b->data, b->len);
    }

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


static ngx_int_t
ngx_http_twofa_store_parse_status(ngx_http_request_t *r, redisReply *reply,
    ngx_http_twofa_store_reply_t *out)
{
    int64_t  n, ttl;

    /* {7, ttl}: refused because the user is locked out */

    if (reply->type == REDIS_REPLY_ARRAY) {
        if (reply->elements != 2
            || ngx_http_twofa_store_integer(reply->element[0], &n) != NGX_OK
            || n != NGX_HTTP_TWOFA_STORE_LOCKED
            || ngx_http_twofa_store_integer(reply->element[1], &ttl)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        out->status = NGX_HTTP_TWOFA_STORE_LOCKED;
        out->state.fail_ttl = (ngx_msec_t) (ttl < 0 ? 0 : ttl);
        return NGX_OK;
    }

    if (ngx_http_twofa_store_integer(reply, &n) != NGX_OK) {
        return NGX_ERROR;
    }

    out->status = (ngx_int_t) n;

    return NGX_OK;
}


/* {held, enabled, require} */

static ngx_int_t
ngx_http_twofa_store_parse_login(ngx_http_request_t *r, redisReply *reply,
    ngx_http_twofa_store_reply_t *out)
{
    int64_t  held, enabled, require;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
        || ngx_http_twofa_store_integer(reply->element[0], &held) != NGX_OK
        || ngx_http_twofa_store_integer(reply->element[1], &enabled)
           != NGX_OK
        || ngx_http_twofa_store_integer(reply->element[2], &require)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (held < 0) {
        out->status = NGX_HTTP_TWOFA_STORE_NO_STATE;
        return NGX_OK;
    }

    out->status = held ? NGX_HTTP_TWOFA_STORE_HELD : NGX_HTTP_TWOFA_STORE_OK;
    out->state.enabled = enabled ? 1 : 0;
    out->state.require = require ? 1 : 0;

    return NGX_OK;
}


/*
 * {status} when the hold is gone (3) or the data is (-1); otherwise
 * {status, verified, attempts, org, user, require, enabled, secret,
 * last_step, enrolled_at, recovery kid, recovery left, failures, fail ttl,
 * pending, response, recovery codes, amr}.
 */

static ngx_int_t
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

        out->status = (v[0] == 3) ? NGX_HTTP_TWOFA_STORE_NO_HOLD
                                  : NGX_HTTP_TWOFA_STORE_NO_STATE;
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

    out->status = NGX_HTTP_TWOFA_STORE_OK;

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


/* {status, data} or {status} */

static ngx_int_t
ngx_http_twofa_store_parse_pair(ngx_http_request_t *r, redisReply *reply,
    ngx_http_twofa_store_reply_t *out)
{
    int64_t  status;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1
        || reply->elements > 2
        || ngx_http_twofa_store_integer(reply->element[0], &status)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    out->status = (ngx_int_t) status;

    if (reply->elements == 2) {
        return ngx_http_twofa_store_copy(r, reply->element[1], &out->data);
    }

    return NGX_OK;
}


/* {failures, ttl} */

static ngx_int_t
ngx_http_twofa_store_parse_fail(ngx_http_request_t *r, redisReply *reply,
    ngx_http_twofa_store_reply_t *out)
{
    int64_t  n, ttl;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || ngx_http_twofa_store_integer(reply->element[0], &n) != NGX_OK
        || ngx_http_twofa_store_integer(reply->element[1], &ttl) != NGX_OK)
    {
        return NGX_ERROR;
    }

    out->state.failures = (ngx_uint_t) (n < 0 ? 0 : n);
    out->state.fail_ttl = (ngx_msec_t) (ttl < 0 ? 0 : ttl);

    return NGX_OK;
}


/* {require, updated} */

static ngx_int_t
ngx_http_twofa_store_parse_org(ngx_http_request_t *r, redisReply *reply,
    ngx_http_twofa_store_reply_t *out)
{
    int64_t  require, updated;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || ngx_http_twofa_store_integer(reply->element[0], &require)
           != NGX_OK
        || ngx_http_twofa_store_integer(reply->element[1], &updated)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (require < 0) {
        out->status = NGX_HTTP_TWOFA_STORE_NO_STATE;
        return NGX_OK;
    }

    out->status = NGX_HTTP_TWOFA_STORE_OK;
    out->state.require = require ? 1 : 0;
    out->state.updated = updated;

    return NGX_OK;
}
