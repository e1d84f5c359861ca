-- POST /v1/objects with a distinct 4 KiB body per request: thread, counter and
-- a random number up front, padding after. Arguments: tenant, namespace, Authorization header.
local size = 4096
local counter = 0
local path, padding, headers
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_index", threads)
end

function init(args)
  path = "/v1/objects?tenant_id=" .. args[1] .. "&namespace=" .. args[2]
  headers = { ["Content-Type"] = "application/octet-stream", ["Authorization"] = args[3] }
  math.randomseed(os.time() * 1000 + thread_index)
  padding = string.rep(".", size)
end

function request()
  counter = counter + 1
  local head = string.format("wrk %d %d %d ", thread_index, counter, math.random(0, 2147483647))
  local body = head .. string.sub(padding, 1, size - #head)
  return wrk.format("POST", path, headers, body)
end
