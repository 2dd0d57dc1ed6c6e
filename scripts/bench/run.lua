-- wrk script: POST /run with {"code": "print(1+1)"} and check every answer.
-- Usage: wrk ... -s run.lua http://HOST:PORT/run -- [language [code stdout [policy]]]
-- `code` and `stdout` are given as they appear inside a JSON string (already
-- escaped). A 200 is not enough (goru answers 200 whenever a run happened,
-- even a crashed one), so the body must also say status ok and the expected
-- stdout ("2\n" for the default code). `policy` is a JSON object, as is.
-- done() prints one machine-readable line that load.py parses.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local language = args[1]
  local code = args[2] or "print(1+1)"
  expected = '"stdout":"' .. (args[3] or "2\\n") .. '"'
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  local extra = ""
  if language and language ~= "" and language ~= "python" then
    extra = ', "language": "' .. language .. '"'
  end
  if args[4] and args[4] ~= "" then
    extra = extra .. ', "policy": ' .. args[4]
  end
  wrk.body = '{"code": "' .. code .. '"' .. extra .. '}'

  ok, non200, s503, badbody, codes = 0, 0, 0, 0, ""
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
    if status == 503 then s503 = s503 + 1 end
    -- remember each distinct status once, e.g. ",503,500"
    if not codes:find("," .. status, 1, true) then codes = codes .. "," .. status end
  elseif body:find('"status":"ok"', 1, true) and body:find(expected, 1, true) then
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
