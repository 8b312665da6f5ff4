-- Start attempts of stream entries: up to ARGV[5] new ones this script reads for the consumer
-- itself (XREADGROUP without BLOCK: a fetch in one round trip), and the pairs given after it,
-- which the consumer just received from a blocking read or took over from a dead consumer
-- (XAUTOCLAIM). KEYS[1] = key base.
-- ARGV: now (ms), consumer, group, dead TTL (ms), how many new entries to read (0: none); then
-- pairs: stream entry id, job id.
-- Counts the attempt; a job past its max attempts (its last worker died) goes to the
-- dead-letter set instead. Returns 8 values per job to run:
-- entry, id, payload, attempts (this one included), max, enqueued, run_at, trace ('' if none).
local base = KEYS[1]
local stream = base .. ':stream'
local now, consumer, group, dead_ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local read = tonumber(ARGV[5])
local pairs_in = {}
for i = 6, #ARGV, 2 do
  pairs_in[#pairs_in + 1] = ARGV[i]
  pairs_in[#pairs_in + 1] = ARGV[i + 1]
end
if read > 0 then
  local reply = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', read, 'STREAMS', stream, '>')
  if reply then
    for _, e in ipairs(reply[1][2]) do
      local fields, id = e[2], nil
      for f = 1, #fields, 2 do
        if fields[f] == 'id' then id = fields[f + 1] end
      end
      if id then
        pairs_in[#pairs_in + 1] = e[1]
        pairs_in[#pairs_in + 1] = id
      else
        redis.call('XACK', stream, group, e[1])
      end
    end
  end
end
local out = {}
for i = 1, #pairs_in, 2 do
  local entry, id = pairs_in[i], pairs_in[i + 1]
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
