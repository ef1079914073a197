-- Read one alert by id, following the alias a replay merge left behind.
--
-- KEYS[1]  prefix..'a:'..id  HASH of the alert
-- KEYS[2]  prefix..'m:'..id  HASH replay marker of that id (field 'to')
-- ARGV[1]  prefix, for the alias target's key (same hash tag)
--
-- Returns 5 values: the immutable record JSON, the mutable JSON, count,
-- last_seen, resolved_at (nil unless resolved explicitly); or an empty list.

local FIELDS = {'b', 'm', 'cnt', 'ls', 'ra'}
local f = redis.call('HMGET', KEYS[1], unpack(FIELDS))
if f[1] then
  return f
end
local target = redis.call('HGET', KEYS[2], 'to')
if not target then
  return {}
end
f = redis.call('HMGET', ARGV[1] .. 'a:' .. target, unpack(FIELDS))
if f[1] then
  return f
end
return {}
