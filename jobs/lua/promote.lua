-- Move due jobs from the delayed set (scheduled pushes and retry backoffs, the latter also in
-- the retrying set) into the stream, at
-- most ARGV[2] of them: callers loop while a full chunk was moved, so any number of due jobs
-- is promoted without one long script. KEYS[1] = key base; ARGV[1] = now (ms).
-- Returns { moved, due time of the next delayed job or -1, 1 when the queue is paused }.
local base = KEYS[1]
local delayed = base .. ':delayed'
local ids = redis.call('ZRANGEBYSCORE', delayed, '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  redis.call('ZREM', delayed, id)
  redis.call('ZREM', base .. ':retrying', id)
  local job = base .. ':job:' .. id
  if redis.call('EXISTS', job) == 1 then
    redis.call('HSET', job, 'state', 'pending')
    redis.call('XADD', base .. ':stream', '*', 'id', id)
  end
end
local next_due = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
-- A retry is in the retrying set with the same score as in the delayed set, so one due before
-- the earliest delayed job is no longer delayed: drop it (left behind by a worker of an older
-- version, which promoted without this set).
if next_due[2] then
  redis.call('ZREMRANGEBYSCORE', base .. ':retrying', '-inf', '(' .. next_due[2])
else
  redis.call('DEL', base .. ':retrying')
end
return { #ids, tonumber(next_due[2] or -1), redis.call('EXISTS', base .. ':paused') }
