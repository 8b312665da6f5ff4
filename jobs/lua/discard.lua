-- Discard a waiting job that has no hash (push.lua): name it in the queue's discarded set,
-- which the fetcher (and claim.lua on a take-over) checks, but only while its stream entry is
-- not yet delivered. Atomic against the fetcher: a delivery before this call means the job is
-- running and cannot be recalled; after it, the fetcher sees the name.
-- KEYS[1] = key base; ARGV: stream entry, job id, TTL of the set (ms), group.
-- Returns 1 when discarded, 0 when the entry was delivered already.
local base = KEYS[1]
local stream = base .. ':stream'
local entry, id, ttl, group = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local function order(e)
  local ms, seq = string.match(e, '^(%d+)-(%d+)$')
  return tonumber(ms) or 0, tonumber(seq) or 0
end
local last = nil
if redis.call('EXISTS', stream) == 1 then
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local f = {}
    for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
    if f.name == group then last = f['last-delivered-id'] end
  end
end
if last then
  local ems, eseq = order(entry)
  local lms, lseq = order(last)
  if ems < lms or (ems == lms and eseq <= lseq) then return 0 end
end
redis.call('SADD', base .. ':discarded', id)
redis.call('PEXPIRE', base .. ':discarded', ttl)
return 1
