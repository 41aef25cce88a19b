-- Marks this Redis as holding a twofa deployment.  The login scripts
-- refuse to decide on a Redis without the mark: one that lost its data.
--
-- KEYS: deployment, audit
-- ARGV: now, by, '', '' (no org, no user), then the audit's max length,
--       actor, client, edge
-- Returns 1 when the mark was made now, 0 when it was there.

if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'created', ARGV[1], 'by', ARGV[2])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'time',
           redis.call('TIME')[1], 'event', 'init', 'org', '',
           'user', '', 'actor', ARGV[6], 'client', ARGV[7],
           'edge', ARGV[8])
return 1
