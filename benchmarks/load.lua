-- 50 logged-in users alternating between the dashboard and the license list.
-- The session cookie comes from the environment (benchmarks/load.sh makes one).
local cookie = os.getenv("DESK_COOKIE")
local paths = {"/admin/", "/admin/licensing/license/"}
local n = 0

request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1], {["Cookie"] = cookie, ["Host"] = "127.0.0.1"})
end

done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    "requests %d in %.1f s (%.1f/s), errors %d (non-2xx %d)\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    errors, summary.errors.status))
  io.write(string.format("latency p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
