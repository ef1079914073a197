-- Read one alert by id, following the alias a replay merge left behind.
--
-- KEYS[1]  prefix..'a:'..id  HASH of the alert
-- KEYS[2]  prefix..'m:'..id  HASH replay marker of that id (field 'to')
-- ARGV[1]  prefix, for the alias target's key (same hash tag)
--
-- Returns one JSON text [record, mutable, count, last_seen, resolved_at]
-- (resolved_at is null unless resolved explicitly; see store_alert.lua for
-- the fields), or false when there is no such alert.

local FIELDS = {'b', 'm', 'cnt', 'ls', 'ra'}
local function encode(f)
  return '[' .. f[1] .. ',' .. f[2] .. ',' .. f[3] .. ',' .. f[4] .. ','
    .. (f[5] or 'null') .. ']'
end

local f = redis.call('HMGET', KEYS[1], unpack(FIELDS))
if f[1] then
  return encode(f)
end
local target = redis.call('HGET', KEYS[2], 'to')
if not target then
  return false
end
f = redis.call('HMGET', ARGV[1] .. 'a:' .. target, unpack(FIELDS))
if f[1] then
  return encode(f)
end
return false
