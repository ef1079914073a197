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

-- Index writes wait for the end of the script (nothing here reads a ZSET),
-- where each key gets one ZADD per chunk, highest score first: a small ZSET
-- is a listpack that an insert scans from its lowest score, so adding in
-- descending order keeps every insert near the head.
local zsets, zkeys = {}, {}

local function zadd(key, score, member)
  local z = zsets[key]
  if not z then
    z = {scores = {}, members = {}}
    zsets[key] = z
    zkeys[#zkeys + 1] = key
  end
  if not z.scores[member] then
    z.members[#z.members + 1] = member
  end
  z.scores[member] = score
end

local function flush_zadds()
  for _, key in ipairs(zkeys) do
    local z = zsets[key]
    local scores, members = z.scores, z.members
    local numeric = {}
    for _, member in ipairs(members) do
      numeric[member] = tonumber(scores[member])
    end
    table.sort(members, function(a, b) return numeric[a] > numeric[b] end)
    for start = 1, #members, 500 do
      local args = {}
      for j = start, math.min(start + 499, #members) do
        args[#args + 1] = scores[members[j]]
        args[#args + 1] = members[j]
      end
      redis.call('ZADD', key, unpack(args))
    end
  end
end

local function index(id, sev, sh, score)
  zadd(KEYS[1], score, id)
  zadd(prefix .. 'v:' .. sev, score, id)
  zadd(prefix .. 's:' .. sh, score, id)
  zadd(prefix .. 'x:' .. sev .. ':' .. sh, score, id)
end

local FIELDS = {'ls', 'ra', 'cnt', 'sev', 'sh'}

local function fetch(id)
  if not id then
    return {}
  end
  return redis.call('HMGET', prefix .. 'a:' .. id, unpack(FIELDS))
end

-- The fingerprint map follows the alert seen last (as the in-process engine).
-- Its changes are kept here and written in one HSET at the end; lookups see
-- them first.
local fp_changes, fp_changed = {}, {}

local function current(fp)
  local id = fp_changes[fp]
  if id then
    return id
  end
  return redis.call('HGET', KEYS[2], fp)
end

local function point(fp, id, ls, cur, cur_fields)
  if cur == id then
    return
  end
  if cur and cur_fields[1] and tonumber(cur_fields[1]) > tonumber(ls) then
    return
  end
  if not fp_changes[fp] then
    fp_changed[#fp_changed + 1] = fp
  end
  fp_changes[fp] = id
end

local function flush_fingerprints()
  for start = 1, #fp_changed, 500 do
    local args = {}
    for j = start, math.min(start + 499, #fp_changed) do
      args[#args + 1] = fp_changed[j]
      args[#args + 1] = fp_changes[fp_changed[j]]
    end
    redis.call('HSET', KEYS[2], unpack(args))
  end
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
    local cur = current(fp)
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
      zadd(rkey, ARGV[b + 8], target)
      rate_keys[rkey] = true
    end
    redis.call('HSET', mkey, 'to', target, 'n', count)
    redis.call('EXPIRE', mkey, ttl)
    changed = changed + 1
  end
end
flush_zadds()
flush_fingerprints()
for rkey in pairs(rate_keys) do
  redis.call('EXPIRE', rkey, rate_ttl)
end
return changed
