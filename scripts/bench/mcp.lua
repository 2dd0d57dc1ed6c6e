-- wrk script: an MCP `tools/call` of run_code on POST /mcp, as the official
-- client sends it under the 2026-07-28 protocol (stateless, JSON answer), and
-- check every answer: a 200 is not enough, the result must be a clean tool
-- result whose text is the run's stdout ("stdout:\n2" for print(1+1)).
-- Usage: wrk ... -s mcp.lua http://HOST:PORT/mcp -- [language]
-- done() prints the same GORU_BENCH line as run.lua, which load.py parses.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local language = args[1] or "python"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json, text/event-stream"
  wrk.headers["Mcp-Protocol-Version"] = "2026-07-28"
  wrk.headers["Mcp-Method"] = "tools/call"
  wrk.headers["Mcp-Name"] = "run_code"
  wrk.body = '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {' ..
    '"name": "run_code", "arguments": {"code": "print(1+1)", "language": "' .. language .. '"}, ' ..
    '"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28", ' ..
    '"io.modelcontextprotocol/clientCapabilities": {}}}}'
  ok, non200, s503, badbody, codes = 0, 0, 0, 0, ""
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
    if status == 503 then s503 = s503 + 1 end
    if not codes:find("," .. status, 1, true) then codes = codes .. "," .. status end
  elseif body:find('"isError":false', 1, true) and body:find('"text":"stdout:\\n2"', 1, true) then
    ok = ok + 1
  else
    badbody = badbody + 1
  end
end

function done(summary, latency, requests)
  local t = { ok = 0, non200 = 0, s503 = 0, badbody = 0 }
  local codes_all = ""
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + thread:get(k) end
    codes_all = codes_all .. thread:get("codes")
  end
  local e = summary.errors
  io.write(string.format(
    "GORU_BENCH ok=%d non200=%d s503=%d badbody=%d codes=%s duration_us=%d requests=%d " ..
    "connect=%d read=%d write=%d timeout=%d status_err=%d\n",
    t.ok, t.non200, t.s503, t.badbody, codes_all == "" and "-" or codes_all:sub(2),
    summary.duration, summary.requests, e.connect, e.read, e.write, e.timeout, e.status))
end
