-- Sets an org's policy.  A Redis that lost its data (no deployment mark)
-- takes no policy: the admin restores it, or initialises it, first.
--
-- KEYS: org, deployment, audit
-- ARGV: require (1/0), now, org, '' (no user), then the audit's max
--       length, actor, client, edge
-- Returns {required, updated}; {-1, 0} without the mark.

if redis.call('EXISTS', KEYS[2]) == 0 then return {-1, 0} end
redis.call('HSET', KEYS[1], 'require', ARGV[1], 'updated', ARGV[2])
local event = ARGV[1] == '1' and 'require on' or 'require off'
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'time',
           redis.call('TIME')[1], 'event', event, 'org', ARGV[3],
           'user', '', 'actor', ARGV[6], 'client', ARGV[7],
           'edge', ARGV[8])
return {tonumber(ARGV[1]), tonumber(ARGV[2])}
