-- Record the outcomes of attempts, many per call, all of one consumer. KEYS[1] = key base.
-- ARGV: now (ms), group, TTL of kept results (ms), TTL of failed/dead jobs (ms), done-index
-- size, '1' when the queue keeps every done job's result (else ''), the newest and the
-- oldest stream entry of this call, the consumer; then 7 values per attempt: stream entry,
-- job id, outcome ('done' | 'retry' | 'postpone' | 'failed' | 'dead'; 'postpone' is a retry
-- that gives the attempt back, a dependency was down, for at most an hour from the job's
-- first postponement), result JSON or error text, retry
-- at (ms), '1' when the job has no hash (its first delivery, read by the fetcher from its
-- entry; else ''), when the consumer claimed it (ms).
-- Returns one code per attempt: 1 recorded, 0 the job no longer exists, -1 the consumer no
-- longer holds the entry (its lease expired and another worker took the job over, or already
-- finished it): that worker's attempt decides, this one is dropped and writes nothing.
-- A done job's hash is deleted unless its queue keeps results or its push asked to (field k):
-- what stays of it is its id in the bounded done index. Failed and dead jobs keep theirs.
-- A job without a hash done costs nothing per job here; one that is retried, fails or is kept
-- gets its hash from its stream entry, still in the stream until this call trims it. Jobs
-- with a hash cost 2 calls (HMGET, DEL). Which entries the consumer still holds (one
-- XPENDING over the call's range), their acknowledgement, the index, the announcement and the
-- day's counters are one call each per batch.
local base = KEYS[1]
local stream = base .. ':stream'
local now, group = tonumber(ARGV[1]), ARGV[2]
local done_ttl, dead_ttl, keep = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local keep_all, newest, oldest, consumer = ARGV[6] ~= '', ARGV[7], ARGV[8], ARGV[9]
local first = 10
local codes = {}
local counts = {}
local done_index = {}
local announce = {}
local any_dead = false
-- Only entries this consumer still holds are acknowledged and recorded, in one call.
local held = {}
if #ARGV >= first then
  for _, e in ipairs(redis.call('XPENDING', stream, group, oldest, newest, 100000, consumer)) do
    held[e[1]] = true
  end
end
local entries = {}
for i = first, #ARGV, 7 do
  if held[ARGV[i]] then entries[#entries + 1] = ARGV[i] end
end
if #entries > 0 then redis.call('XACK', stream, group, unpack(entries)) end
for i = first, #ARGV, 7 do
  local entry, id, outcome, value, retry_at = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local hashless, started = ARGV[i + 5] == '1', ARGV[i + 6]
  local job = base .. ':job:' .. id
  -- The entry of the job's current attempt (from its hash, or this one for a job without a
  -- hash), whether its push asked to keep the result, and whether it is done with no hash.
  local current, kept, no_hash = nil, false, false
  if not held[entry] then
    -- Not this consumer's any more: recorded below as dropped.
  elseif hashless then
    if outcome == 'done' and not keep_all then
      current, no_hash = entry, true
    else
      -- Its hash, from the entry, so that the outcome below is kept as for any job.
      local found = redis.call('XRANGE', stream, entry, entry)
      if found[1] then
        local f = {}
        for j = 1, #found[1][2], 2 do f[found[1][2][j]] = found[1][2][j + 1] end
        redis.call('HSET', job, 'args', f.a, 'max', f.m, 'enqueued', f.e, 'attempts', 1,
          'worker', consumer, 'started', started)
        if f.t then redis.call('HSET', job, 'trace', f.t) end
        current = entry
      elseif outcome == 'done' then
        current, no_hash = entry, true
      end
      -- Else the entry is gone (lost by Redis): no payload to retry or keep.
    end
  else
    local v = redis.call('HMGET', job, 'entry', 'k')
    current, kept = v[1], v[2]
  end
  if not held[entry] then
    codes[#codes + 1] = -1
  elseif not current then
    codes[#codes + 1] = redis.call('EXISTS', job) == 0 and 0 or -1
  elseif current ~= entry then
    codes[#codes + 1] = -1
  else
    -- A postponed attempt is given back for an hour from the job's first postponement; then
    -- a failure counts again (retried, or dead once its attempts are spent), so an error
    -- taken for an outage cannot keep a job forever.
    local give_back = false
    if outcome == 'postpone' then
      local since = tonumber(redis.call('HGET', job, 'postponed_since') or '')
      if not since then
        since = now
        redis.call('HSET', job, 'postponed_since', now)
      end
      if now - since < 3600000 then
        outcome, give_back = 'retry', true
      else
        local v = redis.call('HMGET', job, 'attempts', 'max')
        outcome = tonumber(v[1] or '0') >= tonumber(v[2] or '1') and 'dead' or 'retry'
      end
    end
    local counted = give_back and 'postpone' or outcome
    counts[counted] = (counts[counted] or 0) + 1
    if outcome == 'done' then
      if no_hash then
        -- Nothing to delete: the job never had a hash.
      elseif keep_all or kept then
        redis.call('HSET', job, 'state', 'done', 'result', value, 'finished', now, 'entry', '')
        redis.call('PEXPIRE', job, done_ttl)
      else
        redis.call('DEL', job)
      end
      done_index[#done_index + 1] = now
      done_index[#done_index + 1] = id
      announce[#announce + 1] = id
    elseif outcome == 'retry' then
      redis.call('HSET', job, 'state', 'retrying', 'error', value, 'finished', now, 'entry', '')
      if give_back then redis.call('HINCRBY', job, 'attempts', -1) end
      redis.call('ZADD', base .. ':delayed', retry_at, id)
      redis.call('ZADD', base .. ':retrying', retry_at, id)
    else
      redis.call('HSET', job, 'state', outcome, 'error', value, 'finished', now, 'entry', '')
      redis.call('PEXPIRE', job, dead_ttl)
      redis.call('ZADD', base .. ':dead', now, id)
      announce[#announce + 1] = id
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
if floor and floor ~= '' then redis.call('XTRIM', stream, 'MINID', '~', floor) end
-- The done index (the newest `keep` to `keep` + 1/8, none older than the result TTL), the
-- dead-letter set's age limit, the announcement (ids separated by spaces), the day's and the
-- minute's counts.
if #done_index > 0 then
  local index = base .. ':done'
  redis.call('ZADD', index, unpack(done_index))
  redis.call('ZREMRANGEBYSCORE', index, '-inf', now - done_ttl)
  -- Trimmed back to `keep` once it is an eighth over: a ZREMRANGEBYRANK on every call cost a
  -- fifth of a busy queue's settle time.
  if redis.call('ZCARD', index) > keep + math.floor(keep / 8) then
    redis.call('ZREMRANGEBYRANK', index, 0, -(keep + 1))
  end
end
if any_dead then
  redis.call('ZREMRANGEBYSCORE', base .. ':dead', '-inf', now - dead_ttl)
end
if #announce > 0 then
  redis.call('PUBLISH', base .. ':results', table.concat(announce, ' '))
end
local day = base .. ':daily:' .. math.floor(now / 86400000)
local counted = false
for outcome, n in pairs(counts) do
  redis.call('HINCRBY', day, outcome, n)
  counted = true
end
if counted then
  redis.call('PEXPIRE', day, 8 * 86400000)
  -- The minute's counts, in a hash per hour kept for three (the console's last-hour chart):
  -- one more call per outcome per batch, not per job.
  local minute = math.floor(now / 60000)
  local hour = base .. ':minutes:' .. math.floor(minute / 60)
  for outcome, n in pairs(counts) do
    redis.call('HINCRBY', hour, minute .. ':' .. outcome, n)
  end
  redis.call('PEXPIRE', hour, 3 * 3600000)
end
return codes
