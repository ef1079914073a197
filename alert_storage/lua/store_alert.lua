-- Store a batch of alerts in order: dedup, expiry, sliding-window rate limit.
--
-- KEYS[1]  prefix..'i'  ZSET of firing alert ids scored by last_seen
-- KEYS[2]  prefix..'f'  HASH fingerprint -> id of its latest alert
-- KEYS[3]  prefix..'d'  ZSET of resolved alert ids scored by resolved_at
-- Other keys are derived from ARGV[1] and share its hash tag (so one slot):
--   prefix..'a:'..id  HASH of one alert
--   prefix..'v:'..sev, prefix..'s:'..sh, prefix..'x:'..sev..':'..sh
--                     ZSETs of firing ids by severity, source, both
--   prefix..'r:'..sh  ZSET of the source's admissions (member id, score time)
--
-- ARGV[1]  prefix, for example 'as:{ns}:'
-- ARGV[2]  now (epoch seconds, as Python's repr)
-- ARGV[3]  dedup_window seconds
-- ARGV[4]  now - rate_window (admissions at or before it are out of the window)
-- ARGV[5]  rate_limit
-- ARGV[6]  seconds to keep an alert hash after its last change (safety TTL)
-- ARGV[7]  seconds to keep a source's admission set after its last admission
-- ARGV[8]  sweep bound: firing ids scored at or below it have surely expired,
--          or '' to skip housekeeping in this call
-- ARGV[9]  purge bound: resolved ids scored at or below it are past retention
-- ARGV[10] number of alerts N; then 6 values per alert:
--          new id, fingerprint, severity, source hash,
--          the immutable record JSON [id, fp, name, severity, source, labels,
--          timestamp, first_seen] for a new alert, and the mutable JSON
--          [message, annotations]
--
-- An alert HASH holds 'b' (the immutable record), 'm' (the mutable part),
-- 'fp', 'sev', 'sh' (for the indexes), 'cnt', 'ls' and, once resolved by
-- resolve(), 'ra'.
--
-- Returns 3 values per alert: code (0 stored, 1 duplicate, 2 rate limited),
-- the id (or, when rate limited, the oldest admission's score), the count.

local prefix = ARGV[1]
local now_s = ARGV[2]
local now = tonumber(now_s)
local window = tonumber(ARGV[3])
local rate_floor = ARGV[4]
local rate_limit = tonumber(ARGV[5])
local alert_ttl = tonumber(ARGV[6])
local rate_ttl = tonumber(ARGV[7])

-- Bounded housekeeping: move a few surely-expired alerts out of the firing
-- indexes and delete a few resolved alerts past retention.
local function unindex(id, sev, sh)
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', prefix .. 'v:' .. sev, id)
  redis.call('ZREM', prefix .. 's:' .. sh, id)
  redis.call('ZREM', prefix .. 'x:' .. sev .. ':' .. sh, id)
end

if ARGV[8] ~= '' then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[8],
                                 'LIMIT', 0, 16)) do
    local f = redis.call('HMGET', prefix .. 'a:' .. id, 'sev', 'sh', 'ls')
    if f[1] then
      unindex(id, f[1], f[2])
      redis.call('ZADD', KEYS[3], tonumber(f[3]) + window, id)
    else
      redis.call('ZREM', KEYS[1], id)
    end
  end
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[9],
                                 'LIMIT', 0, 16)) do
    local akey = prefix .. 'a:' .. id
    local fp = redis.call('HGET', akey, 'fp')
    if fp and redis.call('HGET', KEYS[2], fp) == id then
      redis.call('HDEL', KEYS[2], fp)
    end
    redis.call('DEL', akey)
    redis.call('ZREM', KEYS[3], id)
  end
end

local function index(id, sev, sh)
  redis.call('ZADD', KEYS[1], now_s, id)
  redis.call('ZADD', prefix .. 'v:' .. sev, now_s, id)
  redis.call('ZADD', prefix .. 's:' .. sh, now_s, id)
  redis.call('ZADD', prefix .. 'x:' .. sev .. ':' .. sh, now_s, id)
end

local out = {}
local n = tonumber(ARGV[10])
for i = 0, n - 1 do
  local b = 10 + i * 6
  local new_id, fp, sev, sh = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
  local done = false

  local cur = redis.call('HGET', KEYS[2], fp)
  if cur then
    local akey = prefix .. 'a:' .. cur
    local f = redis.call('HMGET', akey, 'ls', 'ra', 'cnt')
    if f[1] and not f[2] and now < tonumber(f[1]) + window then
      local count = tonumber(f[3]) + 1
      redis.call('HSET', akey, 'cnt', count, 'ls', now_s, 'm', ARGV[b + 6])
      redis.call('EXPIRE', akey, alert_ttl)
      index(cur, sev, sh)
      out[#out + 1] = 1
      out[#out + 1] = cur
      out[#out + 1] = count
      done = true
    end
  end

  if not done then
    local rkey = prefix .. 'r:' .. sh
    -- Admissions that left the window are pruned only when the raw count
    -- reaches the limit: below it, the count in the window is lower still.
    local admitted = redis.call('ZCARD', rkey)
    if admitted >= rate_limit then
      redis.call('ZREMRANGEBYSCORE', rkey, '-inf', rate_floor)
      admitted = redis.call('ZCARD', rkey)
    end
    if admitted >= rate_limit then
      local oldest = redis.call('ZRANGE', rkey, 0, 0, 'WITHSCORES')
      out[#out + 1] = 2
      out[#out + 1] = oldest[2]
      out[#out + 1] = 0
    else
      local akey = prefix .. 'a:' .. new_id
      redis.call('HSET', akey, 'b', ARGV[b + 5], 'm', ARGV[b + 6], 'fp', fp,
                 'sev', sev, 'sh', sh, 'cnt', 1, 'ls', now_s)
      redis.call('EXPIRE', akey, alert_ttl)
      redis.call('HSET', KEYS[2], fp, new_id)
      redis.call('ZADD', rkey, now_s, new_id)
      redis.call('EXPIRE', rkey, rate_ttl)
      index(new_id, sev, sh)
      out[#out + 1] = 0
      out[#out + 1] = new_id
      out[#out + 1] = 1
    end
  end
end
return out
