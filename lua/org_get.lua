-- An org's policy.
--
-- KEYS: org
-- Returns {required, updated}.

local f = redis.call('HMGET', KEYS[1], 'require', 'updated')
return {f[1] == '1' and 1 or 0, tonumber(f[2] or '0') or 0}
