-- Start attempts of stream entries: up to ARGV[5] new ones this script reads for the consumer
-- itself (XREADGROUP without BLOCK: a fetch in one round trip), and the pairs given after
-- ARGV[6], which the consumer just received from a blocking read (ARGV[6] = '') or took over
-- from a dead consumer with XAUTOCLAIM (ARGV[6] = '1'). KEYS[1] = key base.
-- ARGV: now (ms), consumer, group, dead TTL (ms), how many new entries to read (0: none),
-- taken over?; then pairs: stream entry id, job id.
-- Counts the attempt; a job past its max attempts (its last worker died) goes to the
-- dead-letter set instead. Returns 9 values per job to run:
-- entry, id, payload, attempts (this one included), max, enqueued, run_at, trace ('' if none),
-- '1' when the job has no hash (its first delivery of a push without one, see push.lua) or ''.
-- The first delivery of a job without a hash writes nothing: the entry being pending for this
-- consumer is its running state. A take-over gives it a hash (attempts 2 from then on).
local base = KEYS[1]
local stream = base .. ':stream'
local now, consumer, group, dead_ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local read, taken_over = tonumber(ARGV[5]), ARGV[6] == '1'

-- A stream entry's fields as a table (nil for an entry trimmed or deleted meanwhile).
local function fields_of(list)
  if not list then return nil end
  local f = {}
  for i = 1, #list, 2 do f[list[i]] = list[i + 1] end
  return f
end
local function entry_fields(entry)
  local found = redis.call('XRANGE', stream, entry, entry)
  return found[1] and fields_of(found[1][2])
end

-- { entry, job id, fields (nil: not read yet) }
local todo = {}
if read > 0 then
  local reply = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', read, 'STREAMS', stream, '>')
  if reply then
    for _, e in ipairs(reply[1][2]) do
      local f = fields_of(e[2])
      if f and f.id then
        todo[#todo + 1] = { e[1], f.id, f }
      else
        redis.call('XACK', stream, group, e[1])
      end
    end
  end
end
for i = 7, #ARGV, 2 do todo[#todo + 1] = { ARGV[i], ARGV[i + 1], nil } end

-- Jobs without a hash an admin discarded while they waited (admin.rs); checked only if any.
local discarded = base .. ':discarded'
local any_discarded = redis.call('EXISTS', discarded) == 1

local out = {}
local function run(entry, id, payload, attempts, max, enqueued, run_at, trace, hashless)
  out[#out + 1] = entry
  out[#out + 1] = id
  out[#out + 1] = payload
  out[#out + 1] = tostring(attempts)
  out[#out + 1] = max
  out[#out + 1] = enqueued or ''
  out[#out + 1] = run_at or enqueued or ''
  out[#out + 1] = trace or ''
  out[#out + 1] = hashless and '1' or ''
end

for _, t in ipairs(todo) do
  local entry, id, f = t[1], t[2], t[3]
  local job = base .. ':job:' .. id
  local skip = false
  if taken_over then
    -- Settled between XAUTOCLAIM and this call: the first worker's attempt decided.
    skip = #redis.call('XPENDING', stream, group, entry, entry, 1) == 0
  elseif not f then
    f = entry_fields(entry)
    skip = not f
  end
  if skip then
    -- Nothing to run.
  elseif not taken_over and f.a then
    if any_discarded and redis.call('SREM', discarded, id) == 1 then
      redis.call('XACK', stream, group, entry)
    else
      run(entry, id, f.a, 1, f.m, f.e, f.e, f.t, true)
    end
  else
    local v = redis.call('HMGET', job, 'args', 'attempts', 'max', 'enqueued', 'run_at', 'trace')
    if not v[1] then
      f = f or entry_fields(entry)
      if taken_over and f and f.a then
        -- The first delivery of a job without a hash went to a worker that died: from now on
        -- the job has one, so the other worker's late outcome is told apart.
        v = { f.a, '1', f.m, f.e, false, f.t or false }
        redis.call('HSET', job, 'args', f.a, 'max', f.m, 'enqueued', f.e)
        if f.t then redis.call('HSET', job, 'trace', f.t) end
      end
    end
    if not v[1] then
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
        run(entry, id, v[1], attempts, v[3], v[4], v[5], v[6], false)
      end
    end
  end
end
return out
