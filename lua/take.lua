-- Takes a hold whose owner passed the second factor: one release per
-- hold, whatever the edges.
--
-- KEYS: hold, holds
-- ARGV: token
-- Returns 0 taken, 3 gone or not passed.

if redis.call('HGET', KEYS[1], 'v') ~= '1' then return 3 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 0
