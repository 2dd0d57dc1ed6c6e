-- kv keys. ARGV: prefix, namespace hex, key prefix.
-- Returns the live keys starting with the key prefix, unsorted.
local ns = namespace(ARGV[1], ARGV[2])
local wanted = ARGV[3]
local expired = {}
for _, key in ipairs(redis.call('ZRANGEBYSCORE', ns.expiry, '-inf', int(now_ms()))) do
  expired[key] = true
end
local out = {}
for _, key in ipairs(redis.call('HKEYS', ns.index)) do
  if not expired[key] and string.sub(key, 1, #wanted) == wanted then
    out[#out + 1] = key
  end
end
return out
