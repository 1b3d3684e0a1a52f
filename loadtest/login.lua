-- wrk script: POST /api/v1/auth/token with the benchmark user's credentials (BENCH_EMAIL / BENCH_PASSWORD).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"email": "%s", "password": "%s"}', os.getenv("BENCH_EMAIL"), os.getenv("BENCH_PASSWORD"))

function done(summary, latency, requests)
  io.write(string.format("non2xx=%d\n", summary.errors.status))
end
