-- Resolve the alert firing with a fingerprint.
--
-- KEYS[1]  prefix..'i'  ZSET of firing alert ids
-- KEYS[2]  prefix..'f'  HASH fingerprint -> id
-- KEYS[3]  prefix..'d'  ZSET of resolved alert ids by resolved_at
-- ARGV[1]  prefix (for the alert hash and the other indexes, same hash tag)
-- ARGV[2]  fingerprint
-- ARGV[3]  resolved_at (now, or the time of a replayed resolve)
-- ARGV[4]  dedup_window
-- ARGV[5]  seconds to keep the resolved alert hash (retention plus margin)
-- ARGV[6]  '1' to resolve only if last_seen <= resolved_at (replayed resolve)
-- ARGV[7]  now: the alert must be firing now (now < last_seen + dedup_window)
--
-- Returns 1 if an alert was firing and is now resolved, else 0.

local prefix = ARGV[1]
local id = redis.call('HGET', KEYS[2], ARGV[2])
if not id then
  return 0
end
local akey = prefix .. 'a:' .. id
local f = redis.call('HMGET', akey, 'ls', 'ra', 'sev', 'sh')
local now = tonumber(ARGV[7])
if not f[1] or f[2] or not (now < tonumber(f[1]) + tonumber(ARGV[4])) then
  return 0
end
if ARGV[6] == '1' and tonumber(f[1]) > tonumber(ARGV[3]) then
  return 0
end
redis.call('HSET', akey, 'ra', ARGV[3])
redis.call('EXPIRE', akey, ARGV[5])
redis.call('ZREM', KEYS[1], id)
redis.call('ZREM', prefix .. 'v:' .. f[3], id)
redis.call('ZREM', prefix .. 's:' .. f[4], id)
redis.call('ZREM', prefix .. 'x:' .. f[3] .. ':' .. f[4], id)
redis.call('ZADD', KEYS[3], ARGV[3], id)
return 1
