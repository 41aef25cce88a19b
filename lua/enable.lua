-- The first code turns TOTP on, only if the pending secret is still the
-- one it was checked against; its step becomes the last used, so it cannot
-- log in again.  The new recovery codes stay (sealed) with the hold until
-- continue, or a little while for a signed-in user: a reply that comes
-- too late does not lose them, the retry shows them.  Refused, in this
-- same step, once the failures reached the limit.
--
-- KEYS: user, fail, pending, hold (or '-'), audit
-- ARGV: the pending secret checked, step, recovery hashes, now, '1' with
--       a hold, the new recovery codes sealed, how long (ms) a signed-in
--       user may see them again, lockout limit, org, user, then the
--       audit's max length, actor, client, edge
-- Returns 0 done, 1 TOTP already on or another secret pending, 3 the
-- hold is gone, {7, ttl} locked.

if (tonumber(redis.call('GET', KEYS[2]) or '0') or 0) >= tonumber(ARGV[8]) then
  return {7, redis.call('PTTL', KEYS[2])}
end
if redis.call('HGET', KEYS[1], 'enabled') == '1' then return 1 end
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 1 end
if ARGV[5] == '1' and redis.call('EXISTS', KEYS[4]) == 0 then return 3 end
redis.call('HSET', KEYS[1], 'secret', ARGV[1], 'enabled', '1',
           'enrolled_at', ARGV[4], 'last_step', ARGV[2],
           'recovery', ARGV[3])
redis.call('DEL', KEYS[2])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[11], '*', 'time',
           redis.call('TIME')[1], 'event', 'enroll', 'org', ARGV[9],
           'user', ARGV[10], 'actor', ARGV[12], 'client', ARGV[13],
           'edge', ARGV[14])
if ARGV[5] == '1' then
  redis.call('HSET', KEYS[4], 'v', '1', 'amr', 'totp', 'rc', ARGV[6])
  redis.call('DEL', KEYS[3])
else
  redis.call('SET', KEYS[3], '!' .. ARGV[6], 'PX', ARGV[7])
end
return 0
