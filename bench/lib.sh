# Shared by the benchmark scripts (sourced): wait for a server, run wrk at
# concurrency 1 and 32 over the servers named in ORDER (URLS[name] = URL),
# and print the table. Needs DURATION and THREADS. A script that sets
# PID[name] (the server's process) also gets CPU[name,conc]: the server's
# CPU time (user + system) per request in µs, which a busy machine
# disturbs far less than requests per second.

# wait_up URL [SECONDS]: 20 s unless told (a large component compiles first).
wait_up() { for _ in $(seq $((${2:-20} * 20))); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done; echo "not up: $1" >&2; return 1; }

# wrk --latency prints "50%  1.23ms"; convert to ms.
to_ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v+0} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000} else print v }'; }

# utime + stime of process $1, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Minor page faults of process $1 per request over a 3 s wrk run at c=1
# against URL $2: what a fresh instance's copy-on-write pages cost. Prints
# "FAULTS_PER_REQUEST REQUESTS".
faults_per_request() {
  local before after n
  before=$(awk '{print $10}' "/proc/$1/stat")
  n=$(wrk -t1 -c1 -d3s "$2" | awk '/requests in/ {print $1}')
  after=$(awk '{print $10}' "/proc/$1/stat")
  awk -v f="$((after - before))" -v n="$n" 'BEGIN{ printf "%.1f %d\n", f / n, n }'
}

declare -A RPS P50 P99 CPU PID

# serve NAME PORT COMMAND...: starts `COMMAND --addr 127.0.0.1:PORT` in the
# background (its output to $SERVE_LOG, else discarded) and notes it for
# run_wrk: URLS[NAME], PID[NAME] (the CPU column), ORDER; PIDS for the
# script's cleanup. The caller declares URLS (-A), ORDER and PIDS.
serve() {
  local name=$1 port=$2; shift 2
  "$@" --addr 127.0.0.1:"$port" >"${SERVE_LOG:-/dev/null}" 2>&1 & PIDS+=($!)
  PID[$name]=$!
  URLS[$name]=http://127.0.0.1:$port/
  ORDER+=("$name")
}

# ratio A B CONC: A's throughput over B's at concurrency CONC (nothing when
# B was not measured).
ratio() {
  awk -v a="${RPS[$1,$3]:-0}" -v b="${RPS[$2,$3]:-0}" -v c="$3" -v x="$1" -v y="$2" \
    'BEGIN{ if (b > 0) printf "%s / %s throughput at c=%s: %.2fx\n", x, y, c, a/b }'
}
# Fills RPS/P50/P99[name,conc] (and CPU[name,conc] where PID[name] is
# known); stops on any non-2xx answer.
run_wrk() {
  for c in 1 32; do
    local t=$THREADS; [ "$c" -lt "$t" ] && t=$c
    for name in "${ORDER[@]}"; do
      local out pid=${PID[$name]:-} before=0
      [ -n "$pid" ] && before=$(cpu_ticks "$pid")
      out=$(wrk -t"$t" -c"$c" -d"${DURATION}s" --latency "${URLS[$name]}")
      if echo "$out" | grep -q "Non-2xx"; then echo "$name returned errors:"; echo "$out"; exit 1; fi
      if [ -n "$pid" ]; then
        CPU[$name,$c]=$(awk -v t="$(( $(cpu_ticks "$pid") - before ))" -v hz="$(getconf CLK_TCK)" \
          -v n="$(echo "$out" | awk '/requests in/ {print $1}')" 'BEGIN{ printf "%.1f", t / hz * 1e6 / n }')
      fi
      RPS[$name,$c]=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
      P50[$name,$c]=$(to_ms "$(echo "$out" | awk '$1=="50%" {print $2}')")
      P99[$name,$c]=$(to_ms "$(echo "$out" | awk '$1=="99%" {print $2}')")
    done
  done
}

# run_wrk $ROUNDS times (default 1), the servers taking turns within each
# round, and keeps each cell's median: one server's run can differ from
# the next by 10% on a shared 2-core machine, more than some of the
# differences measured.
run_rounds() {
  local rounds=${ROUNDS:-1} r key
  declare -A all_rps all_p50 all_p99 all_cpu
  for r in $(seq "$rounds"); do
    run_wrk
    for key in "${!RPS[@]}"; do
      all_rps[$key]+="${RPS[$key]} "; all_p50[$key]+="${P50[$key]} "
      all_p99[$key]+="${P99[$key]} "; all_cpu[$key]+="${CPU[$key]:-} "
    done
  done
  median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END{ if (NR) print v[int((NR+1)/2)] }'; }
  for key in "${!all_rps[@]}"; do
    RPS[$key]=$(echo "${all_rps[$key]}" | median); P50[$key]=$(echo "${all_p50[$key]}" | median)
    P99[$key]=$(echo "${all_p99[$key]}" | median)
    [ -n "${CPU[$key]:-}" ] && CPU[$key]=$(echo "${all_cpu[$key]}" | median)
  done
  return 0
}

# The table; $1 names the first column.
print_table() {
  echo
  printf "%-20s %5s %12s %10s %10s %12s\n" "$1" conc "req/s" "p50 ms" "p99 ms" "cpu µs/req"
  for c in 1 32; do
    for name in "${ORDER[@]}"; do
      printf "%-20s %5s %12s %10s %10s %12s\n" "$name" "$c" "${RPS[$name,$c]}" "${P50[$name,$c]}" "${P99[$name,$c]}" "${CPU[$name,$c]:--}"
    done
  done
}
