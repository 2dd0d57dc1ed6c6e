-- The sweep: uncounts what expired in namespaces nobody wrote to since
-- (Redis already dropped the values). ARGV: prefix, most namespaces,
-- most entries per namespace. Returns how many namespaces it visited;
-- one left due is visited again by the next call.
local prefix, most, per = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', prefix .. ':due', '-inf', int(now), 'LIMIT', 0, most)
for _, hex in ipairs(due) do
  local ns = namespace(prefix, hex)
  purge(ns, now, per)
  local next = redis.call('ZRANGE', ns.expiry, 0, 0, 'WITHSCORES')
  if next[2] then
    redis.call('ZADD', ns.due, next[2], hex)
  else
    redis.call('ZREM', ns.due, hex)
  end
end
return #due
