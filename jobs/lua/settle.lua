-- Record the outcomes of attempts, many per call. KEYS[1] = key base.
-- ARGV: now (ms), group, TTL of done jobs (ms), TTL of failed/dead jobs (ms), done-index size;
-- then 5 values per attempt: stream entry, job id, outcome ('done' | 'retry' | 'failed' |
-- 'dead'), result JSON or error text, retry at (ms).
-- Returns one code per attempt: 1 recorded, 0 the job no longer exists, -1 another worker took
-- the job over meanwhile (its lease expired): that worker's attempt decides, this one is dropped.
local base = KEYS[1]
local stream = base .. ':stream'
local now, group = tonumber(ARGV[1]), ARGV[2]
local done_ttl, dead_ttl, keep = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local results = base .. ':results'
local codes = {}
local counts = {}
local newest = nil
local function older(a, b)
  local am, as = a:match('(%d+)-(%d+)')
  local bm, bs = b:match('(%d+)-(%d+)')
  am, bm = tonumber(am), tonumber(bm)
  if am ~= bm then return am < bm end
  return tonumber(as) < tonumber(bs)
end
local any_done, any_dead = false, false
for i = 6, #ARGV, 5 do
  local entry, id, outcome, value, retry_at = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local job = base .. ':job:' .. id
  redis.call('XACK', stream, group, entry)
  if not newest or older(newest, entry) then newest = entry end
  local current = redis.call('HGET', job, 'entry')
  if not current then
    codes[#codes + 1] = redis.call('EXISTS', job) == 0 and 0 or -1
  elseif current ~= entry then
    codes[#codes + 1] = -1
  else
    counts[outcome] = (counts[outcome] or 0) + 1
    if outcome == 'done' then
      redis.call('HSET', job, 'state', 'done', 'result', value, 'finished', now, 'entry', '')
      redis.call('PEXPIRE', job, done_ttl)
      redis.call('ZADD', base .. ':done', now, id)
      redis.call('PUBLISH', results, id)
      any_done = true
    elseif outcome == 'retry' then
      redis.call('HSET', job, 'state', 'retrying', 'error', value, 'finished', now, 'entry', '')
      redis.call('ZADD', base .. ':delayed', retry_at, id)
      redis.call('ZADD', base .. ':retrying', retry_at, id)
    else
      redis.call('HSET', job, 'state', outcome, 'error', value, 'finished', now, 'entry', '')
      redis.call('PEXPIRE', job, dead_ttl)
      redis.call('ZADD', base .. ':dead', now, id)
      redis.call('PUBLISH', results, id)
      any_dead = true
    end
    codes[#codes + 1] = 1
  end
end
-- Once per call: drop acknowledged entries from the stream. Entries are delivered in id
-- order, so everything older than the oldest entry still pending (or, with none pending, up to
-- the newest entry acknowledged here) was delivered and acknowledged. XTRIM MINID ~ frees whole
-- nodes: far cheaper than an XDEL per entry.
local pending = redis.call('XPENDING', stream, group)
local floor = newest
if tonumber(pending[1]) > 0 then floor = pending[2] end
if floor then redis.call('XTRIM', stream, 'MINID', '~', floor) end
-- Trim the indexes, count the day's outcomes.
if any_done then
  local index = base .. ':done'
  redis.call('ZREMRANGEBYSCORE', index, '-inf', now - done_ttl)
  redis.call('ZREMRANGEBYRANK', index, 0, -(keep + 1))
end
if any_dead then
  redis.call('ZREMRANGEBYSCORE', base .. ':dead', '-inf', now - dead_ttl)
end
local day = base .. ':daily:' .. math.floor(now / 86400000)
local counted = false
for outcome, n in pairs(counts) do
  redis.call('HINCRBY', day, outcome, n)
  counted = true
end
if counted then redis.call('PEXPIRE', day, 8 * 86400000) end
return codes
