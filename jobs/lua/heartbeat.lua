-- A worker's heartbeat: renew the lease of every job it holds (reset their idle time in the
-- consumer group, so no other worker takes them over) and mark it alive.
-- KEYS[1] = key base; ARGV: group, consumer, now (ms), worker-info TTL (ms), then worker info
-- field/value pairs. Only entries still owned by this consumer are renewed: a job another
-- worker already took over is never taken back. Returns how many leases were renewed.
local base = KEYS[1]
local stream = base .. ':stream'
local group, consumer, now, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local held = redis.call('XPENDING', stream, group, '-', '+', 100000, consumer)
local ids = {}
for _, e in ipairs(held) do ids[#ids + 1] = e[1] end
for i = 1, #ids, 500 do
  local args = { 'XCLAIM', stream, group, consumer, 0 }
  for j = i, math.min(i + 499, #ids) do args[#args + 1] = ids[j] end
  args[#args + 1] = 'JUSTID'
  redis.call(unpack(args))
end
redis.call('ZADD', base .. ':workers', now, consumer)
local info = base .. ':worker:' .. consumer
if #ARGV > 4 then
  redis.call('HSET', info, 'last_heartbeat', now, unpack(ARGV, 5))
end
redis.call('PEXPIRE', info, ttl)
return #ids
