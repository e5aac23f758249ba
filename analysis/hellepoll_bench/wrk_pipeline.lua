-- wrk script: send N requests back to back on each connection (pipelining).
-- Usage: wrk -t1 -c25 -d2s -s wrk_pipeline.lua http://127.0.0.1:PORT/ -- 16
init = function(args)
  local depth = tonumber(args[1]) or 16
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format(nil)
  end
  req = table.concat(r)
end

request = function()
  return req
end
