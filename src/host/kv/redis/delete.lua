-- kv delete. ARGV: prefix, namespace hex, key.
-- Returns 1 when a live entry was removed, 0 otherwise.
local ns = namespace(ARGV[1], ARGV[2])
local key = ARGV[3]
local bytes = redis.call('HGET', ns.index, key)
if not bytes then
  return 0
end
local expires = redis.call('ZSCORE', ns.expiry, key)
local live = (not expires) or tonumber(expires) > now_ms()
redis.call('HDEL', ns.index, key)
redis.call('ZREM', ns.expiry, key)
redis.call('DEL', ns.values .. key)
release(ns, tonumber(bytes))
if live then
  return 1
end
return 0
