-- Marks this Redis as holding a twofa deployment.  The login scripts
-- refuse to decide on a Redis without the mark: one that lost its data.
--
-- KEYS: deployment
-- ARGV: now, by
-- Returns 1 when the mark was made now, 0 when it was there.

if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'created', ARGV[1], 'by', ARGV[2])
return 1
