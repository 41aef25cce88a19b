-- Forgets a user's TOTP state, failures and live holds, and revokes the
-- user's sessions made until now on every edge.
--
-- KEYS: user, fail, holds, revocations, audit
-- ARGV: hold key prefix, now, "org\nuser", channel, org, user, then the
--       audit's max length, actor, client, edge
-- Returns {had TOTP state, was enrolled}.

local existed = redis.call('EXISTS', KEYS[1])
local en = redis.call('HGET', KEYS[1], 'enabled') == '1'
for _, t in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  redis.call('DEL', ARGV[1] .. t)
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('HSET', KEYS[4], ARGV[3], ARGV[2])
redis.call('PUBLISH', ARGV[4], ARGV[2] .. '\n' .. ARGV[3])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[7], '*', 'time',
           redis.call('TIME')[1], 'event', 'reset', 'org', ARGV[5],
           'user', ARGV[6], 'actor', ARGV[8], 'client', ARGV[9],
           'edge', ARGV[10])
return {existed, en and 1 or 0}
