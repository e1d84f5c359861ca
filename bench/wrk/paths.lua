-- One request per line of a file of paths, round-robin. Arguments: paths file,
-- method (GET or DELETE), Authorization header. With several replicas
-- (BENCH_WRK_ADDRESSES, one wrk thread each) thread i of n sends every n-th
-- path from the i-th on, so no two threads send the same path.
local paths = {}
local next_path
local step
local method
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
  for path in io.lines(args[1]) do
    paths[#paths + 1] = path
  end
  step = math.max(#addresses, 1)
  if #paths < step then error("fewer paths than threads in " .. args[1]) end
  next_path = thread_index
  method = args[2]
  wrk.headers["Authorization"] = args[3]
end

function request()
  local path = paths[next_path]
  next_path = next_path + step
  if next_path > #paths then next_path = (next_path - 1) % step + 1 end
  return wrk.format(method, path)
end
