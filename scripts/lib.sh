# scripts/lib.sh -- shell helpers shared by the test scripts (sourced by
# scripts/test.sh and scripts/test-versions.sh; not run on its own).

# send signal $1 (TERM, QUIT, ...) to the pids that follow, wait until they
# have exited (up to 10 s, checking every 0.2 s), then SIGKILL what is left
signal_and_reap() {
    local sig="$1" pids pid i
    shift
    pids="$*"
    for pid in $pids; do kill "-$sig" "$pid" 2>/dev/null; done
    for i in $(seq 1 50); do
        pids="$(for pid in $pids; do kill -0 "$pid" 2>/dev/null && echo "$pid"; done)"
        [ -n "$pids" ] || return 0
        sleep 0.2
    done
    for pid in $pids; do kill -KILL "$pid" 2>/dev/null; done
}
