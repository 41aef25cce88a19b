-- A wrong (or used) code, counted for the user (the window starts at the
-- first) and for the hold, which is dropped at the limit.  Past the limit
-- the caller answers "locked", not "wrong".
--
-- KEYS: fail, hold, audit
-- ARGV: window (ms), limit, '1' with a hold, org, user, then the audit's
--       max length, actor, client, edge (the lockout is audited)
-- Returns {failures, ttl of the window}.

local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if n == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
if n == tonumber(ARGV[2]) then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'time',
             redis.call('TIME')[1], 'event', 'lockout', 'org', ARGV[4],
             'user', ARGV[5], 'actor', ARGV[7], 'client', ARGV[8],
             'edge', ARGV[9])
end
if ARGV[3] == '1' then
  local a = redis.call('HINCRBY', KEYS[2], 'n', 1)
  if a >= tonumber(ARGV[2]) then redis.call('DEL', KEYS[2]) end
end
return {n, ttl}
