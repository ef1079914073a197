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

local function firing(id)
  if not id then
    return false
  end
  local f = redis.call('HMGET', prefix .. 'a:' .. id, 'ls', 'ra')
  return f[1] and not f[2] and now < tonumber(f[1]) + window
end

-- The fingerprint map follows the alert seen last (as the in-process engine).
local function point(fp, id, ls)
  local cur = redis.call('HGET', KEYS[2], fp)
  if cur and cur ~= id then
    local cur_ls = redis.call('HGET', prefix .. 'a:' .. cur, 'ls')
    if cur_ls and tonumber(cur_ls) > tonumber(ls) then
      return
    end
  end
  redis.call('HSET', KEYS[2], fp, id)
end

local changed = 0
local n = tonumber(ARGV[6])
for i = 0, n - 1 do
  local b = 6 + i * 9
  local origin, fp, sev, sh = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
  local count, ls = tonumber(ARGV[b + 7]), ARGV[b + 9]
  local mkey = prefix .. 'm:' .. origin
  local marker = redis.call('HMGET', mkey, 'to', 'n')
  local delta = count - (tonumber(marker[2]) or 0)

  if delta > 0 then
    local target = redis.call('HGET', KEYS[2], fp)
    if not firing(target) then
      target = marker[1]
      if target and redis.call('EXISTS', prefix .. 'a:' .. target) == 0 then
        target = nil
      end
    end
    if target then
      local akey = prefix .. 'a:' .. target
      redis.call('HINCRBY', akey, 'cnt', delta)
      local t = redis.call('HMGET', akey, 'ls', 'ra', 'sev', 'sh')
      local seen = t[1]
      if tonumber(ls) >= tonumber(t[1]) then
        seen = ls
        redis.call('HSET', akey, 'ls', ls, 'm', ARGV[b + 6])
        if not t[2] then
          index(target, t[3], t[4], ls)
        end
      end
      point(fp, target, seen)
      redis.call('EXPIRE', akey, ttl)
    else
      target = origin
      local akey = prefix .. 'a:' .. target
      redis.call('HSET', akey, 'b', ARGV[b + 5], 'm', ARGV[b + 6], 'fp', fp,
                 'sev', sev, 'sh', sh, 'cnt', delta, 'ls', ls)
      redis.call('EXPIRE', akey, ttl)
      index(target, sev, sh, ls)
      point(fp, target, ls)
      local rkey = prefix .. 'r:' .. sh
      redis.call('ZADD', rkey, ARGV[b + 8], target)
      redis.call('EXPIRE', rkey, rate_ttl)
    end
    redis.call('HSET', mkey, 'to', target, 'n', count)
    redis.call('EXPIRE', mkey, ttl)
    changed = changed + 1
  end
end
return changed
