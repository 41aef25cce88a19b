-- Turns TOTP off with a fresh code, unless the org requires it, and
-- revokes the sessions made until now on every edge.  Refused, in this
-- same step, once the failures reached the limit.
--
-- KEYS: user, org, fail, revocations, audit
-- ARGV: step, now, "org\nuser", channel, limit, org, user, then the
--       audit's max length, actor, client, edge
-- Returns 0 done, 1 TOTP is off, 2 the step was used, 4 required, {7, ttl}
-- locked.

if (tonumber(redis.call('GET', KEYS[3]) or '0') or 0) >= tonumber(ARGV[5]) then
  return {7, redis.call('PTTL', KEYS[3])}
end
if redis.call('HGET', KEYS[2], 'require') == '1' then return 4 end
local f = redis.call('HMGET', KEYS[1], 'enabled', 'last_step')
if f[1] ~= '1' then return 1 end
if f[2] and tonumber(f[2]) >= tonumber(ARGV[1]) then return 2 end
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('HSET', KEYS[4], ARGV[3], ARGV[2])
redis.call('PUBLISH', ARGV[4], ARGV[2] .. '\n' .. ARGV[3])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[8], '*', 'time',
           redis.call('TIME')[1], 'event', 'disable', 'org', ARGV[6],
           'user', ARGV[7], 'actor', ARGV[9], 'client', ARGV[10],
           'edge', ARGV[11])
return 0
