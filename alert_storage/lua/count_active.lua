-- Count firing alerts exactly: now < last_seen + dedup_window.
--
-- KEYS[1]  prefix..'i'  ZSET of firing alert ids scored by last_seen
-- ARGV[1]  a score above which every alert is surely firing
-- ARGV[2]  a score below which no alert is firing
-- ARGV[3]  now
-- ARGV[4]  dedup_window
--
-- Scores between the two bounds (a few milliseconds wide) are checked one by
-- one, so rounding of now - dedup_window can never miscount an alert.

local now = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local count = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf')
local band = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[1], 'WITHSCORES')
for i = 2, #band, 2 do
  if now < tonumber(band[i]) + window then
    count = count + 1
  end
end
return count
