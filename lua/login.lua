-- The login decision and the hold in one step: no window in which a login
-- is decided "held" but has no hold.  A Redis without the deployment mark
-- lost its data (or was never initialised): no decision.  A user has at
-- most `cap` live holds; a new login drops the oldest, so a password thief
-- cannot fill Redis (and evict what matters) with held logins.
--
-- A response the module must not hold (the app kept its session id:
-- twofa_app_cookie) is decided without writing anything.
--
-- KEYS: deployment, org, user, hold, holds
-- ARGV: org, user, sealed response, hold TTL (ms), now (ms), cap,
--       hold key prefix, token, '1' when the response may not be held
-- Returns {held, enabled, required}, held 2: needed but not holdable;
-- {-1, 0, 0} without the mark.

if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 0, 0} end
local req = redis.call('HGET', KEYS[2], 'require') == '1'
local en = redis.call('HGET', KEYS[3], 'enabled') == '1'
if not (req or en) then return {0, 0, 0} end
if ARGV[9] == '1' then return {2, en and 1 or 0, req and 1 or 0} end
local ttl, now, cap = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)
local live = redis.call('ZCARD', KEYS[5])
if live >= cap then
  local old = redis.call('ZRANGE', KEYS[5], 0, live - cap)
  for _, t in ipairs(old) do redis.call('DEL', ARGV[7] .. t) end
  redis.call('ZREMRANGEBYRANK', KEYS[5], 0, live - cap)
end
redis.call('HSET', KEYS[4], 'org', ARGV[1], 'user', ARGV[2],
           'v', '0', 'n', '0', 'r', ARGV[3])
redis.call('PEXPIRE', KEYS[4], ttl)
redis.call('ZADD', KEYS[5], now + ttl, ARGV[8])
redis.call('PEXPIRE', KEYS[5], ttl)
return {1, en and 1 or 0, req and 1 or 0}
