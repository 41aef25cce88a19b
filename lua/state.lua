-- Everything a page (or an admin's look) needs, in one step; writes
-- nothing.  From a hold, its owner is read from the hold itself.
--
-- KEYS: deployment, the hold (or the user without a hold): named for a
--       Redis Cluster's redirects only; the keys are built from the prefix
--       (in a cluster it holds the slot's hash tag, and a hold's token
--       carries its org's slot, so the owner's keys are in the same slot)
-- ARGV: prefix, hold token or '', org, user (without a hold), '1' to
--       return the hold's sealed response, pending binding (without a
--       hold)
-- Returns {-1} without the deployment mark, {3} when the hold is gone,
-- else {0, passed, attempts, org, user, required, enabled, secret,
-- last_step, enrolled_at, recovery kid, recovery left, failures, failure
-- window ttl, pending, response, recovery codes, amr}.

-- An identity as a part of a key, as twofa_ident_key_escape() makes it
-- in C: '|', ':', space and the glob characters * ? [ ] \ as '|' and two
-- upper case hex digits.
local function esc(s)
  return (string.gsub(s, '[|: %*%?%[%]\\]', function(c)
    return string.format('|%02X', string.byte(c))
  end))
end

local p, tok, org, user = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local bind = ARGV[6]
if redis.call('EXISTS', p .. 'deployment') == 0 then return {-1} end
local verified, attempts, resp, rc, amr = 0, 0, '', '', ''
if tok ~= '' then
  local hk = p .. 'hold:' .. tok
  local h = redis.call('HMGET', hk, 'org', 'user', 'v', 'n', 'rc', 'amr')
  if not h[1] or not h[2] then return {3} end
  org, user = h[1], h[2]
  verified, attempts = tonumber(h[3]) or 0, tonumber(h[4]) or 0
  rc, amr = h[5] or '', h[6] or ''
  if ARGV[5] == '1' then resp = redis.call('HGET', hk, 'r') or '' end
  bind = tok
end
local ko, ku = esc(org), esc(user)
local f = redis.call('HMGET', p .. 'user:' .. ko .. ':' .. ku,
                     'enabled', 'secret', 'last_step', 'enrolled_at',
                     'recovery')
local en = f[1] == '1'
local req = redis.call('HGET', p .. 'org:' .. ko, 'require') == '1'
local fk = p .. 'fail:' .. ko .. ':' .. ku
local fails = tonumber(redis.call('GET', fk) or '0') or 0
local ttl = redis.call('PTTL', fk)
local pending = ''
if bind ~= '' then
  pending = redis.call('GET', p .. 'pending:' .. bind) or ''
end
local kid, left = '', 0
if en and f[5] then
  local k, list = string.match(f[5], '^([^:]*):(.*)$')
  if k then
    kid = k
    for _ in string.gmatch(list, '[^,]+') do left = left + 1 end
  end
end
return {0, verified, attempts, org, user, req and 1 or 0, en and 1 or 0,
        en and (f[2] or '') or '', f[3] or '-1', f[4] or '0', kid, left,
        fails, ttl, pending, resp, rc, amr}
