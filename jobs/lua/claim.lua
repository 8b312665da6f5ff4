-- Start attempts of stream entries this consumer just received (XREADGROUP) or took over from
-- a dead consumer (XAUTOCLAIM). KEYS[1] = key base.
-- ARGV: now (ms), consumer, group, dead TTL (ms); then pairs: stream entry id, job id.
-- Counts the attempt; a job past its max attempts (its last worker died) goes to the
-- dead-letter set instead. Returns 8 values per job to run:
-- entry, id, payload, attempts (this one included), max, enqueued, run_at, trace ('' if none).
local base = KEYS[1]
local stream = base .. ':stream'
local now, consumer, group, dead_ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local out = {}
for i = 5, #ARGV, 2 do
  local entry, id = ARGV[i], ARGV[i + 1]
  local job = base .. ':job:' .. id
  local v = redis.call('HMGET', job, 'args', 'attempts', 'max', 'enqueued', 'run_at', 'trace')
  if not v[1] then
    -- Discarded while queued: nothing to run.
    redis.call('XACK', stream, group, entry)
  else
    local attempts = (tonumber(v[2]) or 0) + 1
    if attempts > tonumber(v[3]) then
      redis.call('XACK', stream, group, entry)
      redis.call('HSET', job, 'state', 'dead', 'finished', now,
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
