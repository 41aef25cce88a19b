-- Reads the audit trail: entries from an id on, of one org and user when
-- asked, oldest first.  Looks at no more than `most` entries per call, so
-- one call never holds Redis for long; the caller goes on from the last
-- id it saw.
--
-- KEYS: audit
-- ARGV: from (an entry id, exclusive with a leading '(', or '-'), org or
--       '', user or '', limit, most
-- Returns {last id looked at, {id, time, event, org, user, actor,
-- client, edge}, ...}.

local out, last = {}, ''
local seen = redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT',
                        tonumber(ARGV[5]))
for _, e in ipairs(seen) do
  last = e[1]
  local f = {}
  for i = 1, #e[2], 2 do f[e[2][i]] = e[2][i + 1] end
  if (ARGV[2] == '' or f.org == ARGV[2])
     and (ARGV[3] == '' or f.user == ARGV[3]) then
    out[#out + 1] = {e[1], f.time or '', f.event or '', f.org or '',
                     f.user or '', f.actor or '', f.client or '',
                     f.edge or ''}
    if #out >= tonumber(ARGV[4]) then break end
  end
end
table.insert(out, 1, last)
return out
