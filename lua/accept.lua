-- Accepts a TOTP step newer than the last one, or consumes a recovery
-- code; clears the failures; marks the hold passed.  The hold itself is
-- taken by the next step (take.lua), so a reply that comes too late
-- leaves a hold the retry can release.  Refused, in this same step, once
-- the failures reached the limit: however many requests checked codes at
-- once, over however many holds and edges, a right code counts only while
-- fewer than the limit of wrong ones were counted.
--
-- KEYS: user, fail, hold (or '-'), audit
-- ARGV: step or '', recovery hash or '', '1' with a hold, amr, limit, org,
--       user, then the audit's max length, actor, client, edge (a
--       recovery code used is audited)
-- Returns 0 accepted, 1 TOTP is off, 2 used (or unknown recovery code),
-- 3 the hold is gone, {7, ttl} locked.

if (tonumber(redis.call('GET', KEYS[2]) or '0') or 0) >= tonumber(ARGV[5]) then
  return {7, redis.call('PTTL', KEYS[2])}
end
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[3]) == 0 then return 3 end
local f = redis.call('HMGET', KEYS[1], 'enabled', 'last_step', 'recovery')
if f[1] ~= '1' then return 1 end
if ARGV[1] ~= '' then
  if f[2] and tonumber(f[2]) >= tonumber(ARGV[1]) then return 2 end
  redis.call('HSET', KEYS[1], 'last_step', ARGV[1])
else
  local kid, list = string.match(f[3] or '', '^([^:]*):(.*)$')
  if not kid then return 2 end
  local rest, hit = {}, false
  for h in string.gmatch(list, '[^,]+') do
    if h == ARGV[2] and not hit then hit = true
    else rest[#rest + 1] = h end
  end
  if not hit then return 2 end
  redis.call('HSET', KEYS[1], 'recovery', kid .. ':' .. table.concat(rest, ','))
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[8], '*', 'time',
             redis.call('TIME')[1], 'event', 'recovery code', 'org', ARGV[6],
             'user', ARGV[7], 'actor', ARGV[9], 'client', ARGV[10],
             'edge', ARGV[11])
end
redis.call('DEL', KEYS[2])
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[3], 'v', '1', 'amr', ARGV[4])
end
return 0
