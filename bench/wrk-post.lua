-- wrk script: POST /webhook with a fresh event id per request, so every event is really stored.
-- BATCH (env) events per request; 1 sends a single event object.
local batch = tonumber(os.getenv("BATCH") or "1")
local counter = 0
-- PREFIX (env, 8 hex digits) makes ids unique across runs against the same database.
local prefix = os.getenv("PREFIX") or "0badcafe"

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

local function event()
  counter = counter + 1
  local n = counter
  -- Time-ordered, as the plugin's ids are (UUID version 7): each id sorts after the one before.
  local uuid = string.format("%s-%04x-7%03x-8%03x-%012x", prefix, math.floor(n / 16777216) % 65536,
    math.floor(n / 4096) % 4096, n % 4096, n)
  return '{"v":1,"event_id":"' .. uuid .. '","run_id":"' .. prefix .. '-0000-4000-8000-000000000001","seq":' .. n ..
    ',"time":"2026-11-26T08:00:03.250Z","kind":"task_result","host":{"hostname":"bench-' .. prefix ..
    '","machine_id":"' .. prefix .. prefix .. prefix .. prefix .. '"},"data":{"play":"Configure","task":"Install packages","action":"ansible.builtin.apt","status":"ok","duration_ms":12}}'
end

function request()
  local body
  if batch == 1 then
    body = event()
  else
    local parts = {}
    for i = 1, batch do parts[i] = event() end
    body = '{"events":[' .. table.concat(parts, ",") .. ']}'
  end
  return wrk.format(nil, "/webhook", nil, body)
end
