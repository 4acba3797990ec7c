-- wrk script for every HTTP scenario of the benchmark (run with -t1: one counter, unique requests).
--   BENCH_DATA  a Lua file returning the run's ids, tokens and slots (written by bench/run.py)
--   BENCH_MODE  book | contention | vitals | get
--   BENCH_PATH  the endpoint (book: /api/v1/sessions/ or a baseline; get: the full path with query)
--   BENCH_AUTH  "1" to send the front desk's bearer token
-- Prints one line "BENCHJSON {...}" with counts and latency percentiles (ms).

local data = dofile(os.getenv("BENCH_DATA"))
local mode = os.getenv("BENCH_MODE") or "get"
local path = os.getenv("BENCH_PATH") or "/"
local auth = os.getenv("BENCH_AUTH") == "1"
local counter = 0
local threads = {}

wrk.headers["Content-Type"] = "application/json"
if auth then
  wrk.headers["Authorization"] = "Bearer " .. data.desk_token
end

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  n201 = 0
  n409 = 0
  n2xx = 0
  nother = 0
end

local function book_body(n)
  -- 8 bookings per hour, one per (chair, clinician) pair: every request is a new, free slot.
  local k = math.floor(n / 8) % #data.slots + 1
  local sub = n % 8 + 1
  return string.format(
    '{"patient": %d, "treatment_type": %d, "start": "%s", "room": %d, "clinician": %d}',
    data.patients[n % #data.patients + 1], data.treatment_type, data.slots[k], data.rooms[sub], data.clinicians[sub])
end

local function contention_body(n)
  -- Few slots: 2 hours x 12 chairs, clinician chosen by the service; most requests must get 409.
  local chair = n % #data.all_rooms + 1
  local hour = math.floor(n / #data.all_rooms) % #data.contention_slots + 1
  return string.format(
    '{"patient": %d, "treatment_type": %d, "start": "%s", "room": %d}',
    data.patients[(n * 7) % #data.patients + 1], data.treatment_type, data.contention_slots[hour], data.all_rooms[chair])
end

local function vitals_body(n)
  local now = os.time()
  local parts = {}
  for i = 1, 20 do
    local taken = os.date("!%Y-%m-%dT%H:%M:%S+00:00", now - 20 + i)
    parts[i] = string.format(
      '{"taken_at": "%s", "systolic": %d, "diastolic": %d, "heart_rate": %d, "spo2": %d, "respiratory_rate": %d}',
      taken, 118 + (n + i) % 10, 76 + (n + i) % 6, 70 + (n + i) % 12, 97 + (n + i) % 3, 14 + (n + i) % 3)
  end
  return "[" .. table.concat(parts, ", ") .. "]"
end

request = function()
  local n = counter
  counter = counter + 1
  if mode == "book" then
    return wrk.format("POST", path, nil, book_body(n))
  elseif mode == "contention" then
    return wrk.format("POST", path, nil, contention_body(n))
  elseif mode == "vitals" then
    local r = n % #data.records + 1
    local headers = {["Authorization"] = "Bearer " .. data.record_tokens[r], ["Content-Type"] = "application/json"}
    return wrk.format("POST", "/api/v1/monitoring/" .. data.records[r] .. "/vitals/", headers, vitals_body(n))
  end
  return wrk.format("GET", path)
end

if mode == "contention" then
  response = function(status, headers, body)
    if status == 201 then
      n201 = n201 + 1
    elseif status == 409 then
      n409 = n409 + 1
    elseif status >= 200 and status < 300 then
      n2xx = n2xx + 1
    else
      nother = nother + 1
    end
  end
end

done = function(summary, latency, requests)
  local c201, c409, c2xx, cother = 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    c201 = c201 + (thread:get("n201") or 0)
    c409 = c409 + (thread:get("n409") or 0)
    c2xx = c2xx + (thread:get("n2xx") or 0)
    cother = cother + (thread:get("nother") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests": %d, "duration_us": %d, "bytes": %d, "non2xx": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "timeouts": %d, "p50_ms": %.3f, "p90_ms": %.3f, "p95_ms": %.3f, ' ..
    '"p99_ms": %.3f, "max_ms": %.3f, "n201": %d, "n409": %d, "n2xx_other": %d, "n_other": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, c201, c409, c2xx, cother))
end
