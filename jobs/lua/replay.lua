-- Put dead-letter jobs back into the stream with a fresh attempt budget. KEYS[1] = key base;
-- ARGV[1] = how many at most when no ids follow (replay the oldest), else the job ids.
-- Returns the ids replayed.
local base = KEYS[1]
local dead = base .. ':dead'
local ids = {}
if #ARGV == 1 then
  ids = redis.call('ZRANGE', dead, 0, tonumber(ARGV[1]) - 1)
else
  for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local out = {}
for _, id in ipairs(ids) do
  local job = base .. ':job:' .. id
  if redis.call('ZREM', dead, id) == 1 and redis.call('EXISTS', job) == 1 then
    redis.call('PERSIST', job)
    redis.call('HSET', job, 'state', 'pending', 'attempts', 0)
    redis.call('HDEL', job, 'finished', 'started', 'worker')
    redis.call('XADD', base .. ':stream', '*', 'id', id)
    out[#out + 1] = id
  end
end
return out
