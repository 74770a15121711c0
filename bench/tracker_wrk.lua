-- bench/tracker_wrk.lua - wrk script of bench/tracker.sh: which pixel
-- each wrk thread asks for, and one exact summary line at the end.
--
--   wrk ... -s bench/tracker_wrk.lua URL -- PATH [PATH...]
--
-- Thread i (0-based) asks for PATH number i modulo their count, the same
-- request all along: the request is made once per thread (no request()
-- or response() function), so the script costs wrk nothing per request.
-- done() prints one line that bench/tracker_bench.py reads:
--   wrk-summary requests=N duration_us=N bytes=N p50_us=N p99_us=N
--               p999_us=N max_us=N connect=N read=N write=N status=N timeout=N
-- requests is wrk's count of completed responses; status counts the
-- answers that were not 2xx or 3xx.

local threads = 0

-- setup - main state: number each thread
function setup(thread)
   thread:set("index", threads)
   threads = threads + 1
end

-- init - thread state: this thread's path, from the script's arguments
function init(args)
   if #args > 0 then
      wrk.path = args[(index % #args) + 1]
   end
end

-- done - the exact counts and latency percentiles (microseconds)
function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format("wrk-summary requests=%d duration_us=%d bytes=%d p50_us=%d " ..
                             "p99_us=%d p999_us=%d max_us=%d connect=%d read=%d write=%d " ..
                             "status=%d timeout=%d\n",
                          summary.requests, summary.duration, summary.bytes,
                          latency:percentile(50), latency:percentile(99),
                          latency:percentile(99.9), latency.max, e.connect, e.read,
                          e.write, e.status, e.timeout))
end
