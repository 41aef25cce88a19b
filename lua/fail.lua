-- A wrong (or used) code, counted for the user (the window starts at the
-- first) and for the hold, which is dropped at the limit.  Past the limit
-- the caller answers "locked", not "wrong".
--
-- KEYS: fail, hold
-- ARGV: window (ms), limit, '1' with a hold
-- Returns {failures, ttl of the window}.

local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if n == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
if ARGV[3] == '1' then
  local a = redis.call('HINCRBY', KEYS[2], 'n', 1)
  if a >= tonumber(ARGV[2]) then redis.call('DEL', KEYS[2]) end
end
return {n, ttl}
