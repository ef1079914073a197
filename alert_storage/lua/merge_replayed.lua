-- Merge alerts a lower cascade tier accepted during an outage, idempotently.
--
-- KEYS[1]  prefix..'i'  ZSET of firing alert ids scored by last_seen
-- KEYS[2]  prefix..'f'  HASH fingerprint -> id of its latest alert
-- Other keys are derived from ARGV[1] and share its hash tag:
--   prefix..'a:'..id  alert HASH; prefix..'m:'..origin  replay marker HASH
--   (fields 'to': the id merged into, 'n': the origin count merged so far);
--   the severity/source indexes and admission sets as in store_alert.lua.
--
-- ARGV[1]  prefix
-- ARGV[2]  now
-- ARGV[3]  dedup_window
-- ARGV[4]  seconds to keep alert hashes and markers (safety TTL)
-- ARGV[5]  seconds to keep a source's admission set
-- ARGV[6]  number of records N; then 9 values per record:
--          origin id, fingerprint, severity, source hash, the immutable record
--          JSON (as in store_alert.lua, with the origin id), the mutable JSON,
--          count, first_seen, last_seen
--
-- For each record, delta = count - (count merged before from that origin).
-- A positive delta goes to the alert firing with the fingerprint, else to the
-- alert an earlier merge of the origin went to, else to a new alert that keeps
-- the origin id (and counts one admission at first_seen). Returns the number
-- of records that changed anything.

local prefix = ARGV[1]
local now = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local rate_ttl = tonumber(ARGV[5])

local function index(id, sev, sh, score)
  redis.call('ZADD', KEYS[1], score, id)
  redis.call('ZADD', prefix .. 'v:' .. sev, score, id)
  redis.call('ZADD', prefix .. 's:' .. sh, score, id)
  redis.call('ZADD', prefix .. 'x:' .. sev .. ':' .. sh, score, id)
end

local FIELDS = {'ls', 'ra', 'cnt', 'sev', 'sh'}

local function fetch(id)
  if not id then
    return {}
  end
  return redis.call('HMGET', prefix .. 'a:' .. id, unpack(FIELDS))
end

-- The fingerprint map follows the alert seen last (as the in-process engine).
local function point(fp, id, ls, cur, cur_fields)
  if cur == id then
    return
  end
  if cur and cur_fields[1] and tonumber(cur_fields[1]) > tonumber(ls) then
    return
  end
  redis.call('HSET', KEYS[2], fp, id)
end

local changed = 0
local rate_keys = {}
local n = tonumber(ARGV[6])
for i = 0, n - 1 do
  local b = 6 + i * 9
  local origin, fp, sev, sh = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
  local count, ls = tonumber(ARGV[b + 7]), ARGV[b + 9]
  local mkey = prefix .. 'm:' .. origin
  local marker = redis.call('HMGET', mkey, 'to', 'n')
  local delta = count - (tonumber(marker[2]) or 0)

  if delta > 0 then
    local cur = redis.call('HGET', KEYS[2], fp)
    local cf = fetch(cur)
    local target, t = nil, nil
    if cf[1] and not cf[2] and now < tonumber(cf[1]) + window then
      target, t = cur, cf
    elseif marker[1] then
      t = fetch(marker[1])
      if t[1] then
        target = marker[1]
      end
    end
    if target then
      local akey = prefix .. 'a:' .. target
      local total = tonumber(t[3]) + delta
      local seen = t[1]
      if tonumber(ls) >= tonumber(t[1]) then
        seen = ls
        redis.call('HSET', akey, 'cnt', total, 'ls', ls, 'm', ARGV[b + 6])
        if not t[2] then
          index(target, t[4], t[5], ls)
        end
      else
        redis.call('HSET', akey, 'cnt', total)
      end
      point(fp, target, seen, cur, cf)
      redis.call('EXPIRE', akey, ttl)
    else
      target = origin
      local akey = prefix .. 'a:' .. target
      redis.call('HSET', akey, 'b', ARGV[b + 5], 'm', ARGV[b + 6], 'fp', fp,
                 'sev', sev, 'sh', sh, 'cnt', delta, 'ls', ls)
      redis.call('EXPIRE', akey, ttl)
      index(target, sev, sh, ls)
      point(fp, target, ls, cur, cf)
      local rkey = prefix .. 'r:' .. sh
      redis.call('ZADD', rkey, ARGV[b + 8], target)
      rate_keys[rkey] = true
    end
    redis.call('HSET', mkey, 'to', target, 'n', count)
    redis.call('EXPIRE', mkey, ttl)
    changed = changed + 1
  end
end
for rkey in pairs(rate_keys) do
  redis.call('EXPIRE', rkey, rate_ttl)
end
return changed
