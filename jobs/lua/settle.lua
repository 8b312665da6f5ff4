-- Record the outcome of one attempt. KEYS[1] = key base.
-- ARGV: now (ms), group, stream entry, job id, outcome ('done' | 'retry' | 'failed' | 'dead'),
-- result JSON or error text, retry at (ms), TTL of the finished job (ms), done-index size.
-- Returns 1 when recorded, 0 when the job no longer exists, -1 when another worker took the
-- job over meanwhile (its lease expired): that worker's attempt decides, this one is dropped.
local base = KEYS[1]
local stream = base .. ':stream'
local now, group, entry, id, outcome, value = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local retry_at, ttl, keep = ARGV[7], ARGV[8], tonumber(ARGV[9])
local job = base .. ':job:' .. id
redis.call('XACK', stream, group, entry)
redis.call('XDEL', stream, entry)
local current = redis.call('HGET', job, 'entry')
if not current then
  if redis.call('EXISTS', job) == 0 then return 0 end
  return -1
end
if current ~= entry then return -1 end
redis.call('HDEL', job, 'entry')
-- Per-day outcome counters (dashboard activity, the last 7 days).
local day = base .. ':daily:' .. math.floor(tonumber(now) / 86400000)
redis.call('HINCRBY', day, outcome, 1)
redis.call('PEXPIRE', day, 8 * 86400000)
if outcome == 'done' then
  redis.call('HSET', job, 'state', 'done', 'result', value, 'finished', now)
  redis.call('PEXPIRE', job, ttl)
  local index = base .. ':done'
  redis.call('ZADD', index, now, id)
  redis.call('ZREMRANGEBYSCORE', index, '-inf', now - ttl)
  redis.call('ZREMRANGEBYRANK', index, 0, -(keep + 1))
  redis.call('PUBLISH', base .. ':results', id)
elseif outcome == 'retry' then
  redis.call('HSET', job, 'state', 'retrying', 'error', value, 'finished', now)
  redis.call('ZADD', base .. ':delayed', retry_at, id)
else
  redis.call('HSET', job, 'state', outcome, 'error', value, 'finished', now)
  redis.call('PEXPIRE', job, ttl)
  local dead = base .. ':dead'
  redis.call('ZADD', dead, now, id)
  redis.call('ZREMRANGEBYSCORE', dead, '-inf', now - ttl)
  redis.call('PUBLISH', base .. ':results', id)
end
return 1
