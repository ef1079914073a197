-- Read firing alerts from one index, newest last_seen first (ties: id desc).
--
-- KEYS[1]  the index ZSET chosen by the filters (all, severity, source, both)
-- ARGV[1]  prefix of the alert hashes (same hash tag as KEYS[1])
-- ARGV[2]  max score: until, or '+inf'
-- ARGV[3]  min score: since, or '-inf'
-- ARGV[4]  limit
-- ARGV[5]  now
-- ARGV[6]  dedup_window
--
-- Returns one JSON text: an array with, per alert, [record, mutable, count,
-- last_seen] (fields 'b', 'm', 'cnt', 'ls'; see store_alert.lua), so the
-- client decodes a single string instead of five values per alert. The index
-- already applies the severity and source filters (a source's index key is a
-- 64-bit digest of the source, so two sources could only share one by a hash
-- collision).
-- Expiry is monotonic in the score, so the scan stops at the first expired id.

local FIELDS = {'b', 'm', 'cnt', 'ls', 'ra'}
local prefix = ARGV[1]
local limit = tonumber(ARGV[4])
local now = tonumber(ARGV[5])
local window = tonumber(ARGV[6])
local out = {}
local found = 0

local function result()
  return '[' .. table.concat(out, ',') .. ']'
end
local offset = 0

for _ = 1, 8 do
  local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[3],
                         'WITHSCORES', 'LIMIT', offset, limit)
  if #ids == 0 then
    return result()
  end
  for i = 1, #ids, 2 do
    if not (now < tonumber(ids[i + 1]) + window) then
      return result()
    end
    local f = redis.call('HMGET', prefix .. 'a:' .. ids[i], unpack(FIELDS))
    if f[1] and not f[5] then
      out[#out + 1] = '[' .. f[1] .. ',' .. f[2] .. ',' .. f[3] .. ',' .. f[4] .. ']'
      found = found + 1
      if found == limit then
        return result()
      end
    end
  end
  offset = offset + #ids / 2
end
return result()
