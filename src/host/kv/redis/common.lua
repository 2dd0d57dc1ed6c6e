-- Shared by every goru KV script (prepended to each).
--
-- A namespace is stored under `PREFIX:ns:{HEX}:`, HEX being its stored name
-- in hexadecimal, so no two names (nor a name and a key) share a Redis key:
--   v:KEY  the value, a string, with Redis expiry when it has a TTL
--   i      hash KEY -> bytes the entry counts (key + value)
--   x      sorted set KEY -> expiry (ms, server clock), entries with a TTL
--   m      hash: bytes (the namespace's), scope (its tenant's counter key)
-- and `PREFIX:total` / a tenant's `PREFIX:scope:{HEX}` hash bytes and
-- namespaces held, so limits are checked in the script that writes.
-- `PREFIX:due` ranks namespaces by their next expiry, for the sweep.
--
-- The scripts build key names themselves (the store-wide counters make
-- every write touch keys of two slots anyway): one Redis server, or a
-- primary with replicas, not Redis Cluster.

local function num(v)
  return tonumber(v) or 0
end

-- Integral numbers as Redis wants them (no exponent).
local function int(x)
  return string.format('%.0f', x)
end

-- Milliseconds, by the Redis server's clock: one clock for every replica.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function namespace(prefix, hex)
  local base = prefix .. ':ns:{' .. hex .. '}:'
  return {
    hex = hex,
    values = base .. 'v:',
    index = base .. 'i',
    expiry = base .. 'x',
    meta = base .. 'm',
    total = prefix .. ':total',
    due = prefix .. ':due',
  }
end

-- Uncounts `bytes` of `ns`; and `ns` itself once it holds nothing.
local function release(ns, bytes)
  local scope = redis.call('HGET', ns.meta, 'scope')
  local scoped = scope and scope ~= ''
  if bytes ~= 0 then
    redis.call('HINCRBY', ns.meta, 'bytes', int(-bytes))
    redis.call('HINCRBY', ns.total, 'bytes', int(-bytes))
    if scoped then
      redis.call('HINCRBY', scope, 'bytes', int(-bytes))
    end
  end
  if redis.call('HLEN', ns.index) == 0 and redis.call('EXISTS', ns.meta) == 1 then
    redis.call('DEL', ns.meta, ns.expiry)
    redis.call('ZREM', ns.due, ns.hex)
    redis.call('HINCRBY', ns.total, 'namespaces', -1)
    if scoped then
      redis.call('HINCRBY', scope, 'namespaces', -1)
    end
  end
end

-- Removes up to `limit` entries of `ns` expired by `now`; returns how many.
-- A few multi-key calls per batch, not four calls per entry: a script
-- holds up every client of this Redis while it runs.
local function purge(ns, now, limit)
  local gone = redis.call('ZRANGEBYSCORE', ns.expiry, '-inf', int(now), 'LIMIT', 0, limit)
  if #gone == 0 then
    return 0
  end
  local bytes = 0
  for first = 1, #gone, 500 do
    local batch, values = {}, {}
    for i = first, math.min(first + 499, #gone) do
      batch[#batch + 1] = gone[i]
      values[#values + 1] = ns.values .. gone[i]
    end
    for _, size in ipairs(redis.call('HMGET', ns.index, unpack(batch))) do
      bytes = bytes + num(size)
    end
    redis.call('HDEL', ns.index, unpack(batch))
    redis.call('ZREM', ns.expiry, unpack(batch))
    redis.call('UNLINK', unpack(values))
  end
  release(ns, bytes)
  return #gone
end

local function has_expired(ns, now)
  return #redis.call('ZRANGEBYSCORE', ns.expiry, '-inf', int(now), 'LIMIT', 0, 1) > 0
end
