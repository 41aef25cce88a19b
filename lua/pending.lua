-- A pending secret belongs to the hold (or signed-in session) that made
-- it and dies with it: reloads of that hold show one QR code, and no
-- other login ever sees it.
--
-- KEYS: pending, user, hold (or the pending key again)
-- ARGV: sealed secret, TTL (ms) without a hold, '1' with a hold
-- Returns {1, secret}, {0} when TOTP is already on, {3} when the hold is
-- gone.

if redis.call('HGET', KEYS[2], 'enabled') == '1' then return {0} end
local ttl = tonumber(ARGV[2])
if ARGV[3] == '1' then
  ttl = redis.call('PTTL', KEYS[3])
  if ttl <= 0 then return {3} end
end
local cur = redis.call('GET', KEYS[1])
if cur then return {1, cur} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
return {1, ARGV[1]}
