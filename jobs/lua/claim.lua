-- Start attempts of stream entries the consumer just received (ARGV[5] = '') or took over from
-- a dead consumer with XAUTOCLAIM (ARGV[5] = '1'). KEYS[1] = key base.
-- ARGV: now (ms), consumer, group, dead TTL (ms), taken over?; then pairs: stream entry id,
-- job id. Entries just received are of jobs with a hash: the first delivery of a job without
-- one (push.lua) is started by the fetcher itself, from its entry, writing nothing.
-- Counts the attempt; a job past its max attempts (its last worker died) goes to the
-- dead-letter set instead. Returns 8 values per job to run (each has a hash by then):
-- entry, id, payload, attempts (this one included), max, enqueued, run_at, trace ('' if none).
-- A take-over of a job without a hash gives it one (attempts 2 from then on), so that the dead
-- worker's late outcome is told apart (settle.lua).
local base = KEYS[1]
local stream = base .. ':stream'
local now, consumer, group, dead_ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local taken_over = ARGV[5] == '1'

local out = {}
for i = 6, #ARGV, 2 do
  local entry, id = ARGV[i], ARGV[i + 1]
  local job = base .. ':job:' .. id
  -- Settled between XAUTOCLAIM and this call: the first worker's attempt decided.
  local gone = taken_over and #redis.call('XPENDING', stream, group, entry, entry, 1) == 0
  local v = nil
  if not gone then
    v = redis.call('HMGET', job, 'args', 'attempts', 'max', 'enqueued', 'run_at', 'trace')
    if not v[1] and taken_over then
      local found = redis.call('XRANGE', stream, entry, entry)
      local f = {}
      if found[1] then
        for j = 1, #found[1][2], 2 do f[found[1][2][j]] = found[1][2][j + 1] end
      end
      if f.a and redis.call('SREM', base .. ':discarded', id) == 1 then
        -- Discarded by an admin while it waited (admin.rs), delivered but never started.
        f = {}
      end
      if f.a then
        -- Its first delivery went to the worker that died: that was attempt 1.
        v = { f.a, '1', f.m, f.e, false, f.t or false }
        redis.call('HSET', job, 'args', f.a, 'max', f.m, 'enqueued', f.e)
        if f.t then redis.call('HSET', job, 'trace', f.t) end
      end
    end
  end
  if gone then
    -- Nothing to run.
  elseif not v[1] then
    -- Discarded while queued: nothing to run.
    redis.call('XACK', stream, group, entry)
  else
    local attempts = (tonumber(v[2]) or 0) + 1
    if attempts > tonumber(v[3]) then
      redis.call('XACK', stream, group, entry)
      redis.call('HSET', job, 'state', 'dead', 'finished', now, 'attempts', attempts - 1,
        'error', 'attempts exhausted: the worker running the last one stopped responding')
      redis.call('HDEL', job, 'entry')
      redis.call('PEXPIRE', job, dead_ttl)
      redis.call('ZADD', base .. ':dead', now, id)
      redis.call('PUBLISH', base .. ':results', id)
    else
      redis.call('HSET', job, 'state', 'running', 'attempts', attempts, 'started', now,
        'worker', consumer, 'entry', entry)
      out[#out + 1] = entry
      out[#out + 1] = id
      out[#out + 1] = v[1]
      out[#out + 1] = tostring(attempts)
      out[#out + 1] = v[3]
      out[#out + 1] = v[4] or ''
      out[#out + 1] = v[5] or v[4] or ''
      out[#out + 1] = v[6] or ''
    end
  end
end
return out
