/*
 * Typed operations over the Redis keys of the design:
 *
 *   {prefix}org:{org}          hash   require, updated
 *   {prefix}user:{org}:{user}  hash   secret, enabled, enrolled_at,
 *                                     last_step, recovery
 *   {prefix}hold:{token}       string "H1" verified(1) attempts(2) " " org
 *                                     " " user "\n" sealed-response
 *   {prefix}fail:{org}:{user}  counter with the lockout window as TTL
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


#define NGX_HTTP_TWOFA_STORE_ARGS_MAX  12


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
static ngx_int_t ngx_http_twofa_store_parse_fail(ngx_http_request_t *r,
    redisReply *reply, ngx_http_twofa_store_reply_t *out);
static ngx_int_t ngx_http_twofa_store_parse_hold(ngx_http_request_t *r,
    redisReply *reply, ngx_http_twofa_store_reply_t *out);
static ngx_int_t ngx_http_twofa_store_parse_org(ngx_http_request_t *r,
    redisReply *reply, ngx_http_twofa_store_reply_t *out);


/*
 * KEYS: org, user, hold.  ARGV: hold value, hold TTL (ms).
 * The decision and the hold in one step: no window in which a login is
 * decided "held" but has no hold.
 */

static const char  ngx_http_twofa_lua_login[] =
    "local req = redis.call('HGET', KEYS[1], 'require') == '1'\n"
    "local en = redis.call('HGET', KEYS[2], 'enabled') == '1'\n"
    "if req or en then\n"
    "  redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2])\n"
    "  return {1, en and 1 or 0, req and 1 or 0}\n"
    "end\n"
    "return {0, 0, 0}\n";


/*
 * ARGV: prefix, hold token or '', org, user (used without a hold).
 * Returns {found, verified, attempts, org, user, require, enabled, secret,
 * last_step, enrolled_at, recovery kid, recovery left, failures, fail ttl}
 * or {0} when the hold is gone.
 */

static const char  ngx_http_twofa_lua_state[] =
    "local p, org, user = ARGV[1], ARGV[3], ARGV[4]\n"
    "local found, verified, attempts = 0, 0, 0\n"
    "if ARGV[2] ~= '' then\n"
    "  local h = redis.call('GETRANGE', p .. 'hold:' .. ARGV[2], 0, 300)\n"
    "  local v, a, o, u = string.match(h,"
                           " '^H1([01])(%d%d) ([^ \\n]+) ([^ \\n]+)\\n')\n"
    "  if not v then return {0} end\n"
    "  found, verified, attempts, org, user = 1, tonumber(v), tonumber(a),"
                                             " o, u\n"
    "end\n"
    "local uk = p .. 'user:' .. org .. ':' .. user\n"
    "local f = redis.call('HMGET', uk, 'enabled', 'secret', 'last_step',"
                          " 'enrolled_at', 'recovery')\n"
    "local req = redis.call('HGET', p .. 'org:' .. org, 'require')\n"
    "local fk = p .. 'fail:' .. org .. ':' .. user\n"
    "local fails = tonumber(redis.call('GET', fk) or '0') or 0\n"
    "local ttl = redis.call('PTTL', fk)\n"
    "local kid, left = '', 0\n"
    "if f[5] then\n"
    "  local k, list = string.match(f[5], '^([^:]*):(.*)$')\n"
    "  if k then\n"
    "    kid = k\n"
    "    for _ in string.gmatch(list, '[^,]+') do left = left + 1 end\n"
    "  end\n"
    "end\n"
    "return {found, verified, attempts, org, user,"
           " req == '1' and 1 or 0, f[1] == '1' and 1 or 0, f[2] or '',"
           " f[3] or '-1', f[4] or '0', kid, left, fails, ttl}\n";


/*
 * KEYS: user.  ARGV: sealed secret.  A pending secret that exists is kept
 * (and returned): two tabs show one QR code.  Returns {1, secret}, or {0}
 * when TOTP is already on.
 */

static const char  ngx_http_twofa_lua_save_pending[] =
    "local f = redis.call('HMGET', KEYS[1], 'enabled', 'secret')\n"
    "if f[1] == '1' then return {0, ''} end\n"
    "if f[2] then return {1, f[2]} end\n"
    "redis.call('HSET', KEYS[1], 'secret', ARGV[1], 'enabled', '0')\n"
    "return {1, ARGV[1]}\n";


/*
 * KEYS: user, fail, hold.  ARGV: the pending secret the code was checked
 * against, step, recovery list, now, has hold.  Turns TOTP on only if the
 * pending secret is still the one checked; the step becomes the last used,
 * so the enrolling code cannot log in again.
 */

static const char  ngx_http_twofa_lua_enable[] =
    "local f = redis.call('HMGET', KEYS[1], 'enabled', 'secret',"
                          " 'last_step')\n"
    "if f[1] == '1' or f[2] ~= ARGV[1] then return 1 end\n"
    "if f[3] and tonumber(f[3]) >= tonumber(ARGV[2]) then return 2 end\n"
    "redis.call('HSET', KEYS[1], 'enabled', '1', 'enrolled_at', ARGV[4],"
               " 'last_step', ARGV[2], 'recovery', ARGV[3])\n"
    "redis.call('DEL', KEYS[2])\n"
    "if ARGV[5] == '1' and"
      " redis.call('GETRANGE', KEYS[3], 0, 1) == 'H1' then\n"
    "  redis.call('SETRANGE', KEYS[3], 2, '1')\n"
    "end\n"
    "return 0\n";


/*
 * KEYS: user, fail, hold.  ARGV: step or '', recovery hash or '', has hold.
 * Accepts a TOTP step newer than the last one, or consumes a recovery
 * code; then clears the failures and takes the hold.  Returns {0, hold}
 * or {status}.
 */

static const char  ngx_http_twofa_lua_accept[] =
    "if ARGV[3] == '1' and redis.call('EXISTS', KEYS[3]) == 0 then\n"
    "  return {3}\n"
    "end\n"
    "local f = redis.call('HMGET', KEYS[1], 'enabled', 'last_step',"
                          " 'recovery')\n"
    "if f[1] ~= '1' then return {1} end\n"
    "if ARGV[1] ~= '' then\n"
    "  if f[2] and tonumber(f[2]) >= tonumber(ARGV[1]) then return {2} end\n"
    "  redis.call('HSET', KEYS[1], 'last_step', ARGV[1])\n"
    "else\n"
    "  local kid, list = string.match(f[3] or '', '^([^:]*):(.*)$')\n"
    "  if not kid then return {2} end\n"
    "  local rest, hit = {}, false\n"
    "  for h in string.gmatch(list, '[^,]+') do\n"
    "    if h == ARGV[2] and not hit then hit = true\n"
    "    else rest[#rest + 1] = h end\n"
    "  end\n"
    "  if not hit then return {2} end\n"
    "  redis.call('HSET', KEYS[1], 'recovery',"
               " kid .. ':' .. table.concat(rest, ','))\n"
    "end\n"
    "redis.call('DEL', KEYS[2])\n"
    "if ARGV[3] == '1' then\n"
    "  local held = redis.call('GET', KEYS[3])\n"
    "  redis.call('DEL', KEYS[3])\n"
    "  return {0, held}\n"
    "end\n"
    "return {0, ''}\n";


/* KEYS: hold.  Takes a hold whose owner has passed the second factor. */

static const char  ngx_http_twofa_lua_take[] =
    "if redis.call('GETRANGE', KEYS[1], 0, 2) ~= 'H11' then\n"
    "  return false\n"
    "end\n"
    "local held = redis.call('GET', KEYS[1])\n"
    "redis.call('DEL', KEYS[1])\n"
    "return held\n";


/*
 * KEYS: fail, hold.  ARGV: window (ms), limit, has hold.  Counts a failure
 * for the user (the window starts at the first) and for the hold, which
 * is dropped at the limit.  Returns {failures, ttl}.
 */

static const char  ngx_http_twofa_lua_fail[] =
    "local n = redis.call('INCR', KEYS[1])\n"
    "local ttl = redis.call('PTTL', KEYS[1])\n"
    "if n == 1 or ttl < 0 then\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[1])\n"
    "  ttl = tonumber(ARGV[1])\n"
    "end\n"
    "if ARGV[3] == '1' then\n"
    "  local h = redis.call('GETRANGE', KEYS[2], 0, 4)\n"
    "  if string.sub(h, 1, 2) == 'H1' then\n"
    "    local a = (tonumber(string.sub(h, 4, 5)) or 98) + 1\n"
    "    if a >= tonumber(ARGV[2]) then redis.call('DEL', KEYS[2])\n"
    "    else redis.call('SETRANGE', KEYS[2], 3, string.format('%02d', a))"
       " end\n"
    "  end\n"
    "end\n"
    "return {n, ttl}\n";


/*
 * KEYS: user, org, fail.  ARGV: step.  Turns TOTP off with a fresh code,
 * unless the org requires it.
 */

static const char  ngx_http_twofa_lua_disable[] =
    "if redis.call('HGET', KEYS[2], 'require') == '1' then return 4 end\n"
    "local f = redis.call('HMGET', KEYS[1], 'enabled', 'last_step')\n"
    "if f[1] ~= '1' then return 1 end\n"
    "if f[2] and tonumber(f[2]) >= tonumber(ARGV[1]) then return 2 end\n"
    "redis.call('DEL', KEYS[1], KEYS[3])\n"
    "return 0\n";


/* KEYS: org. */

static const char  ngx_http_twofa_lua_org_get[] =
    "local f = redis.call('HMGET', KEYS[1], 'require', 'updated')\n"
    "return {f[1] == '1' and 1 or 0, tonumber(f[2] or '0') or 0}\n";


/* KEYS: org.  ARGV: require, now. */

static const char  ngx_http_twofa_lua_org_set[] =
    "redis.call('HSET', KEYS[1], 'require', ARGV[1], 'updated', ARGV[2])\n"
    "return {tonumber(ARGV[1]), tonumber(ARGV[2])}\n";


/* KEYS: user, fail.  Returns 0 when the user had no TOTP state. */

static const char  ngx_http_twofa_lua_reset[] =
    "local existed = redis.call('EXISTS', KEYS[1])\n"
    "redis.call('DEL', KEYS[1], KEYS[2])\n"
    "return existed\n";


ngx_int_t
ngx_http_twofa_store_login(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, ngx_str_t *hold_token, ngx_str_t *hold_value,
    ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t                   args[5];
    ngx_http_twofa_srv_conf_t  *tscf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    if (ngx_http_twofa_store_check(r, org, user, hold_token) != NGX_OK
        || ngx_http_twofa_store_key(r, &args[0], "org:", org, NULL) != NGX_OK
        || ngx_http_twofa_store_key(r, &args[1], "user:", org, user)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &args[2], "hold:", hold_token, NULL)
           != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[4],
                                         (uint64_t) tscf->hold_ttl * 1000)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    args[3] = *hold_value;

    return ngx_http_twofa_store_eval(r, "login", ngx_http_twofa_lua_login, 3,
                                     args, 5,
                                     ngx_http_twofa_store_parse_login,
                                     handler);
}


ngx_int_t
ngx_http_twofa_store_state(ngx_http_request_t *r, ngx_str_t *hold_token,
    ngx_str_t *org, ngx_str_t *user, ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t                    args[4], empty;
    ngx_http_twofa_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_twofa_module);

    ngx_str_null(&empty);

    if (hold_token && hold_token->len) {
        if (ngx_http_twofa_store_check(r, NULL, NULL, hold_token) != NGX_OK) {
            return NGX_ERROR;
        }

        args[1] = *hold_token;
        args[2] = empty;
        args[3] = empty;

    } else {
        if (ngx_http_twofa_store_check(r, org, user, NULL) != NGX_OK) {
            return NGX_ERROR;
        }

        args[1] = empty;
        args[2] = *org;
        args[3] = *user;
    }

    args[0] = tmcf->prefix;

    return ngx_http_twofa_store_eval(r, "state", ngx_http_twofa_lua_state, 0,
                                     args, 4,
                                     ngx_http_twofa_store_parse_state,
                                     handler);
}


ngx_int_t
ngx_http_twofa_store_save_pending(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, ngx_str_t *sealed_secret,
    ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t  args[2];

    if (ngx_http_twofa_store_check(r, org, user, NULL) != NGX_OK
        || ngx_http_twofa_store_key(r, &args[0], "user:", org, user)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    args[1] = *sealed_secret;

    return ngx_http_twofa_store_eval(r, "save pending",
                                     ngx_http_twofa_lua_save_pending, 1,
                                     args, 2,
                                     ngx_http_twofa_store_parse_pair,
                                     handler);
}


ngx_int_t
ngx_http_twofa_store_enable(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, ngx_str_t *sealed_secret, uint64_t step,
    ngx_str_t *recovery, ngx_str_t *hold_token,
    ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t   args[8], none;
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
        || ngx_http_twofa_store_uint_arg(r, &args[4], step) != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[6], (uint64_t) ngx_time())
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    args[3] = *sealed_secret;
    args[5] = *recovery;
    ngx_str_set(&args[7], "0");
    args[7].data = (u_char *) (has_hold ? "1" : "0");

    return ngx_http_twofa_store_eval(r, "enable", ngx_http_twofa_lua_enable,
                                     3, args, 8,
                                     ngx_http_twofa_store_parse_status,
                                     handler);
}


ngx_int_t
ngx_http_twofa_store_accept_code(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, uint64_t step, ngx_str_t *recovery_hash,
    ngx_str_t *hold_token, ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t   args[6], none;
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
           != NGX_OK)
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

    return ngx_http_twofa_store_eval(r, "accept", ngx_http_twofa_lua_accept,
                                     3, args, 6,
                                     ngx_http_twofa_store_parse_pair,
                                     handler);
}


ngx_int_t
ngx_http_twofa_store_take_hold(ngx_http_request_t *r, ngx_str_t *hold_token,
    ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t  args[1];

    if (ngx_http_twofa_store_check(r, NULL, NULL, hold_token) != NGX_OK
        || ngx_http_twofa_store_key(r, &args[0], "hold:", hold_token, NULL)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_twofa_store_eval(r, "take hold", ngx_http_twofa_lua_take,
                                     1, args, 1,
                                     ngx_http_twofa_store_parse_hold,
                                     handler);
}


ngx_int_t
ngx_http_twofa_store_fail(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, ngx_str_t *hold_token,
    ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t                   args[5], none;
    ngx_uint_t                  has_hold;
    ngx_http_twofa_srv_conf_t  *tscf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

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
        || ngx_http_twofa_store_uint_arg(r, &args[2],
                                   (uint64_t) tscf->lockout_window * 1000)
           != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[3], tscf->lockout)
           != NGX_OK)
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
ngx_http_twofa_store_disable(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, uint64_t step, ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t  args[4];

    if (ngx_http_twofa_store_check(r, org, user, NULL) != NGX_OK
        || ngx_http_twofa_store_key(r, &args[0], "user:", org, user)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &args[1], "org:", org, NULL)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &args[2], "fail:", org, user)
           != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[3], step) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_twofa_store_eval(r, "disable",
                                     ngx_http_twofa_lua_disable, 3, args, 4,
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
    ngx_str_t  args[3];

    if (ngx_http_twofa_store_check(r, org, NULL, NULL) != NGX_OK
        || ngx_http_twofa_store_key(r, &args[0], "org:", org, NULL)
           != NGX_OK
        || ngx_http_twofa_store_uint_arg(r, &args[2], (uint64_t) ngx_time())
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_set(&args[1], "0");
    args[1].data = (u_char *) (require ? "1" : "0");

    return ngx_http_twofa_store_eval(r, "org set",
                                     ngx_http_twofa_lua_org_set, 1, args, 3,
                                     ngx_http_twofa_store_parse_org,
                                     handler);
}


ngx_int_t
ngx_http_twofa_store_user_reset(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, ngx_http_twofa_store_handler_pt handler)
{
    ngx_str_t  args[2];

    if (ngx_http_twofa_store_check(r, org, user, NULL) != NGX_OK
        || ngx_http_twofa_store_key(r, &args[0], "user:", org, user)
           != NGX_OK
        || ngx_http_twofa_store_key(r, &args[1], "fail:", org, user)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_twofa_store_eval(r, "user reset",
                                     ngx_http_twofa_lua_reset, 2, args, 2,
                                     ngx_http_twofa_store_parse_status,
                                     handler);
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
        return NGX_ERROR;
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
        out.rc = NGX_ERROR;

    } else if (op->parse(r, reply, &out) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "twofa store: %s: unexpected reply from redis",
                      op->name);
        out.rc = NGX_ERROR;

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
    len = tmcf->prefix.len + klen + a->len + (b ? 1 + b->len : 0);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    key->data = p;
    key->len = len;

    p = ngx_cpymem(p, tmcf->prefix.data, tmcf->prefix.len);
    p = ngx_cpymem(p, kind, klen);
    p = ngx_cpymem(p, a->data, a->len);

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
    int64_t  n;

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

    out->status = held ? NGX_HTTP_TWOFA_STORE_HELD : NGX_HTTP_TWOFA_STORE_OK;
    out->state.enabled = enabled ? 1 : 0;
    out->state.require = require ? 1 : 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_twofa_store_parse_state(ngx_http_request_t *r, redisReply *reply,
    ngx_http_twofa_store_reply_t *out)
{
    int64_t                  v[14];
    ngx_uint_t               i;
    redisReply             **e;
    ngx_http_twofa_state_t  *st;

    st = &out->state;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
        return NGX_ERROR;
    }

    e = reply->element;

    if (reply->elements == 1) {
        if (ngx_http_twofa_store_integer(e[0], &v[0]) != NGX_OK
            || v[0] != 0)
        {
            return NGX_ERROR;
        }

        out->status = NGX_HTTP_TWOFA_STORE_NO_HOLD;
        return NGX_OK;
    }

    if (reply->elements != 14) {
        return NGX_ERROR;
    }

    for (i = 0; i < 14; i++) {
        if (i == 3 || i == 4 || i == 7 || i == 10) {
            continue;
        }

        if (ngx_http_twofa_store_integer(e[i], &v[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ngx_http_twofa_store_copy(r, e[3], &st->org) != NGX_OK
        || ngx_http_twofa_store_copy(r, e[4], &st->user) != NGX_OK
        || ngx_http_twofa_store_copy(r, e[7], &st->secret) != NGX_OK
        || ngx_http_twofa_store_copy(r, e[10], &st->recovery_kid) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* what came back from a hold is checked like any identity */

    if (!twofa_ident_valid((const char *) st->org.data, st->org.len)
        || !twofa_ident_valid((const char *) st->user.data, st->user.len))
    {
        return NGX_ERROR;
    }

    st->hold_found = v[0] ? 1 : 0;
    st->hold_verified = v[1] ? 1 : 0;
    st->hold_attempts = (ngx_uint_t) (v[2] < 0 ? 0 : v[2]);
    st->require = v[5] ? 1 : 0;
    st->enabled = v[6] ? 1 : 0;
    st->last_step = v[8];
    st->enrolled_at = v[9];
    st->recovery_left = (ngx_uint_t) (v[11] < 0 ? 0 : v[11]);
    st->failures = (ngx_uint_t) (v[12] < 0 ? 0 : v[12]);
    st->fail_ttl = (ngx_msec_t) (v[13] < 0 ? 0 : v[13]);

    out->status = NGX_HTTP_TWOFA_STORE_OK;

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

    out->count = (ngx_uint_t) (n < 0 ? 0 : n);
    out->ttl = (ngx_msec_t) (ttl < 0 ? 0 : ttl);

    return NGX_OK;
}


static ngx_int_t
ngx_http_twofa_store_parse_hold(ngx_http_request_t *r, redisReply *reply,
    ngx_http_twofa_store_reply_t *out)
{
    if (reply->type == REDIS_REPLY_NIL) {
        out->status = NGX_HTTP_TWOFA_STORE_NO_HOLD;
        return NGX_OK;
    }

    out->status = NGX_HTTP_TWOFA_STORE_OK;

    return ngx_http_twofa_store_copy(r, reply, &out->data);
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

    out->status = NGX_HTTP_TWOFA_STORE_OK;
    out->state.require = require ? 1 : 0;
    out->state.updated = updated;

    return NGX_OK;
}
