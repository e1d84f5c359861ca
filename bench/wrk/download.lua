-- GET /v1/objects/<id> round-robin over the ids in a file, one per line.
-- Arguments: ids file, tenant, Authorization header.
local paths = {}
local next_path = 1

function init(args)
  for id in io.lines(args[1]) do
    paths[#paths + 1] = "/v1/objects/" .. id .. "?tenant_id=" .. args[2]
  end
  if #paths == 0 then error("no ids in " .. args[1]) end
  wrk.headers["Authorization"] = args[3]
end

function request()
  local path = paths[next_path]
  next_path = next_path % #paths + 1
  return wrk.format("GET", path)
end
