-- One request per line of a file of paths, round-robin. Arguments: paths file,
-- method (GET or DELETE), Authorization header.
local paths = {}
local next_path = 1
local method

function init(args)
  for path in io.lines(args[1]) do
    paths[#paths + 1] = path
  end
  if #paths == 0 then error("no paths in " .. args[1]) end
  method = args[2]
  wrk.headers["Authorization"] = args[3]
end

function request()
  local path = paths[next_path]
  next_path = next_path % #paths + 1
  return wrk.format(method, path)
end
