-- A worker's heartbeat: renew the lease of every job it holds (reset their idle time in the
-- consumer group, so no other worker takes them over) and mark it alive.
-- KEYS[1] = key base; ARGV: group, consumer, now (ms), worker-info TTL (ms), n, then the n
-- stream entries the worker holds in memory, then worker info field/value pairs.
-- Only entries both held and still owned by this consumer are renewed: a job another worker
-- took over is never taken back, and an entry delivered to this consumer but lost on the way
-- (Redis failed between delivery and claim) is left to expire and be taken over.
-- Returns how many leases were renewed.
local base = KEYS[1]
local stream = base .. ':stream'
local group, consumer, now, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local n = tonumber(ARGV[5])
local owned = {}
for _, e in ipairs(redis.call('XPENDING', stream, group, '-', '+', 100000, consumer)) do
  owned[e[1]] = true
end
local ids = {}
for i = 6, 5 + n do
  if owned[ARGV[i]] then ids[#ids + 1] = ARGV[i] end
end
for i = 1, #ids, 500 do
  local args = { 'XCLAIM', stream, group, consumer, 0 }
  for j = i, math.min(i + 499, #ids) do args[#args + 1] = ids[j] end
  args[#args + 1] = 'JUSTID'
  redis.call(unpack(args))
end
redis.call('ZADD', base .. ':workers', now, consumer)
local info = base .. ':worker:' .. consumer
if #ARGV > 5 + n then
  redis.call('HSET', info, 'last_heartbeat', now, unpack(ARGV, 6 + n))
end
redis.call('PEXPIRE', info, ttl)
return #ids
