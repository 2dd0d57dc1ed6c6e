-- kv set: checks every limit and writes, in one atomic step.
-- ARGV: prefix, namespace hex, scope counter key ('' = unscoped), key,
--   value, ttl ms (0 = none), max keys per namespace, max bytes per
--   namespace, max namespaces, max total bytes, the scope's max bytes and
--   max namespaces (0 = no limit of its own).
-- Returns {0, 0} when written, else {refusal code, bytes it would hold}.
local ns = namespace(ARGV[1], ARGV[2])
local scope = ARGV[3]
local key, value, ttl = ARGV[4], ARGV[5], tonumber(ARGV[6])
local max_keys, max_ns_bytes = tonumber(ARGV[7]), tonumber(ARGV[8])
local max_namespaces, max_total = tonumber(ARGV[9]), tonumber(ARGV[10])
local scope_bytes, scope_namespaces = tonumber(ARGV[11]), tonumber(ARGV[12])
local now = now_ms()
local entry = #key + #value

-- In the in-memory store's order: namespaces, keys, the namespace's bytes,
-- the tenant's, the store's.
local function refusal()
  if redis.call('EXISTS', ns.meta) == 0 then
    if num(redis.call('HGET', ns.total, 'namespaces')) >= max_namespaces then
      return {3, 0}
    end
    if scope ~= '' and scope_namespaces > 0
        and num(redis.call('HGET', scope, 'namespaces')) >= scope_namespaces then
      return {6, 0}
    end
  end
  local old = redis.call('HGET', ns.index, key)
  if not old and redis.call('HLEN', ns.index) >= max_keys then
    return {1, 0}
  end
  local held = num(redis.call('HGET', ns.meta, 'bytes'))
  local would = held - num(old) + entry
  if would > max_ns_bytes then
    return {2, would}
  end
  local more = would - held
  if more > 0 then
    if scope ~= '' and scope_bytes > 0 then
      local tenant = num(redis.call('HGET', scope, 'bytes')) + more
      if tenant > scope_bytes then
        return {5, tenant}
      end
    end
    local total = num(redis.call('HGET', ns.total, 'bytes')) + more
    if total > max_total then
      return {4, total}
    end
  end
  return nil
end

purge(ns, now, 64)
local refused = refusal()
if refused and has_expired(ns, now) then
  -- Room held by expired entries is room: free all of it, then ask again.
  while purge(ns, now, 1000) == 1000 do end
  refused = refusal()
end
if refused then
  return refused
end

if redis.call('EXISTS', ns.meta) == 0 then
  redis.call('HSET', ns.meta, 'scope', scope, 'bytes', 0)
  redis.call('HINCRBY', ns.total, 'namespaces', 1)
  if scope ~= '' then
    redis.call('HINCRBY', scope, 'namespaces', 1)
  end
end
local delta = entry - num(redis.call('HGET', ns.index, key))
if delta ~= 0 then
  redis.call('HINCRBY', ns.meta, 'bytes', int(delta))
  redis.call('HINCRBY', ns.total, 'bytes', int(delta))
  if scope ~= '' then
    redis.call('HINCRBY', scope, 'bytes', int(delta))
  end
end
redis.call('HSET', ns.index, key, entry)
if ttl > 0 then
  redis.call('SET', ns.values .. key, value, 'PX', int(ttl))
  redis.call('ZADD', ns.expiry, int(now + ttl), key)
  redis.call('ZADD', ns.due, 'LT', int(now + ttl), ns.hex)
else
  redis.call('SET', ns.values .. key, value)
  redis.call('ZREM', ns.expiry, key)
end
return {0, 0}
