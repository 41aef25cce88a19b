-- Sets an org's policy.  A Redis that lost its data (no deployment mark)
-- takes no policy: the admin restores it, or initialises it, first.
--
-- KEYS: org, deployment
-- ARGV: require (1/0), now
-- Returns {required, updated}; {-1, 0} without the mark.

if redis.call('EXISTS', KEYS[2]) == 0 then return {-1, 0} end
redis.call('HSET', KEYS[1], 'require', ARGV[1], 'updated', ARGV[2])
return {tonumber(ARGV[1]), tonumber(ARGV[2])}
