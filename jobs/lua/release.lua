-- Hand back jobs this consumer holds but will not finish (claimed and never started, or cut
-- off at shutdown): they go back to the end of the stream for another worker, and the
-- interrupted claim does not count as an attempt. The old entry is acknowledged, not deleted:
-- deleting would leave tombstones that blind the group's lag counter; XTRIM drops it later.
-- KEYS[1] = key base; ARGV: group, then stream entry ids. Returns how many were handed back.
local base = KEYS[1]
local stream = base .. ':stream'
local group = ARGV[1]
local n = 0
for i = 2, #ARGV do
  local entry = ARGV[i]
  local found = redis.call('XRANGE', stream, entry, entry)
  redis.call('XACK', stream, group, entry)
  if found[1] then
    local fields = found[1][2]
    local id = nil
    for j = 1, #fields, 2 do
      if fields[j] == 'id' then id = fields[j + 1] end
    end
    local job = id and (base .. ':job:' .. id)
    if job and redis.call('EXISTS', job) == 0 then
      -- A job without a hash in its first delivery (push.lua): the same fields, at the end.
      local f = {}
      for j = 1, #fields, 2 do f[fields[j]] = fields[j + 1] end
      if f.a then
        redis.call('XADD', stream, '*', unpack(fields))
        n = n + 1
      end
    elseif job and redis.call('HGET', job, 'entry') == entry then
      redis.call('HINCRBY', job, 'attempts', -1)
      redis.call('HSET', job, 'state', 'pending')
      redis.call('HDEL', job, 'entry', 'worker', 'started')
      redis.call('XADD', stream, '*', 'id', id)
      n = n + 1
    end
  end
end
return n
