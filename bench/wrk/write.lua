-- A distinct 4 KiB body per request (thread, counter and a random number up
-- front, padding after), written one of four ways. Arguments: mode, tenant,
-- namespace, Authorization header, and for "replace" the number of keys.
--   post      POST /v1/objects without a key
--   post-key  POST /v1/objects?key=k-<thread>-<n>, a new key each time
--   put-new   PUT /v1/objects/by-key/<namespace>/<tenant>/k-<thread>-<n>
--   replace   PUT by key cycling over r-<0..keys-1>, which replaces once each exists
-- With several replicas (BENCH_WRK_ADDRESSES, one wrk thread each) each thread
-- sends to its own replica, and replacing threads start a share of the keys apart.
local size = 4096
local counter = 0
local mode, base, by_key, keys, offset, padding, headers
local threads = 0
local addresses = {}
for address in string.gmatch(os.getenv("BENCH_WRK_ADDRESSES") or "", "%S+") do addresses[#addresses + 1] = address end

function setup(thread)
  threads = threads + 1
  thread:set("thread_index", threads)
  if #addresses > 1 then
    local host, port = string.match(addresses[threads], "^(.*):(%d+)$")
    thread.addr = wrk.lookup(host, port)[1]
  end
end

function init(args)
  mode = args[1]
  base = "/v1/objects?tenant_id=" .. args[2] .. "&namespace=" .. args[3]
  by_key = "/v1/objects/by-key/" .. args[3] .. "/" .. args[2] .. "/"
  headers = { ["Content-Type"] = "application/octet-stream", ["Authorization"] = args[4] }
  keys = tonumber(args[5] or "0")
  offset = (thread_index - 1) * math.floor(keys / math.max(#addresses, 1))
  math.randomseed(os.time() * 1000 + thread_index)
  padding = string.rep(".", size)
end

function request()
  counter = counter + 1
  local head = string.format("wrk %d %d %d ", thread_index, counter, math.random(0, 2147483647))
  local body = head .. string.sub(padding, 1, size - #head)
  if mode == "post" then return wrk.format("POST", base, headers, body) end
  if mode == "post-key" then return wrk.format("POST", string.format("%s&key=k-%d-%d", base, thread_index, counter), headers, body) end
  if mode == "put-new" then return wrk.format("PUT", string.format("%sk-%d-%d", by_key, thread_index, counter), headers, body) end
  if mode == "replace" then return wrk.format("PUT", string.format("%sr-%d", by_key, (counter + offset) % keys), headers, body) end
  error("unknown mode " .. mode)
end
