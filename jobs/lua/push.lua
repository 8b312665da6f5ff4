-- Enqueue (or schedule) jobs. KEYS[1] = the queue's key base ("<prefix>:{<queue>}").
-- ARGV[1] = now (ms); then 8 values per job: id, payload, max_attempts, run_at (ms),
-- idempotency key ('' for none), idempotency TTL (ms), the pusher's trace context ('' for
-- none), '1' to keep the job's result once done (field k), 'h' for a hash without keeping
-- the result (what workers from before the job travelled in its entry can read), or ''.
-- The values are per job because one call may carry pushes from many callers (a producer
-- coalesces concurrent single pushes into one call).
-- Returns one string per job: 'new:<id>', or 'dup:<id of the earlier job>'.
-- A job to run now whose result is not kept has no hash: everything about it travels in its
-- stream entry (fields id, a = payload, m = max attempts, e = enqueued, t = trace), so a push
-- is one XADD and its first delivery reads nothing else. Its hash appears only if it needs one:
-- taken over from a dead worker (claim.lua), retried, failed or dead (settle.lua). Scheduled
-- and kept jobs have a hash from the start (the delayed set and the waiters read it).
local base = KEYS[1]
local now = tonumber(ARGV[1])
local out = {}
for i = 2, #ARGV, 8 do
  local id, payload, max = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local run_at, ikey, ittl = tonumber(ARGV[i + 3]), ARGV[i + 4], ARGV[i + 5]
  local trace, keep = ARGV[i + 6], ARGV[i + 7]
  local earlier = nil
  if ikey ~= '' then
    local key = base .. ':idem:' .. ikey
    if not redis.call('SET', key, id, 'NX', 'PX', ittl) then
      earlier = redis.call('GET', key)
    end
  end
  if earlier then
    out[#out + 1] = 'dup:' .. earlier
  else
    local job = base .. ':job:' .. id
    if run_at > now then
      redis.call('HSET', job, 'args', payload, 'state', 'scheduled', 'attempts', 0, 'max', max,
        'enqueued', now, 'run_at', run_at)
      redis.call('ZADD', base .. ':delayed', run_at, id)
      if trace ~= '' then redis.call('HSET', job, 'trace', trace) end
      if keep == '1' then redis.call('HSET', job, 'k', 1) end
    elseif keep ~= '' then
      -- A missing state means pending, missing attempts 0.
      redis.call('HSET', job, 'args', payload, 'max', max, 'enqueued', now)
      if keep == '1' then redis.call('HSET', job, 'k', 1) end
      if trace ~= '' then redis.call('HSET', job, 'trace', trace) end
      redis.call('XADD', base .. ':stream', '*', 'id', id)
    elseif trace ~= '' then
      redis.call('XADD', base .. ':stream', '*', 'id', id, 'a', payload, 'm', max, 'e', now, 't', trace)
    else
      redis.call('XADD', base .. ':stream', '*', 'id', id, 'a', payload, 'm', max, 'e', now)
    end
    out[#out + 1] = 'new:' .. id
  end
end
return out
