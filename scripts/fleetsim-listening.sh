# shellcheck shell=bash
# Sourced by the scripts that start `fleetsim serve` (make demo, make bench,
# make boot-test).

# fleetsim_listening LOG PID: wait until `fleetsim serve`, running as PID
# with its standard output in LOG, prints "listening on HOST:PORT", and
# print HOST:PORT. Fails if the process exits first, or after 10 s.
fleetsim_listening() {
	local log=$1 pid=$2 addr
	for _ in $(seq 1 200); do
		addr=$(sed -n 's/^listening on //p' "$log" | head -n1)
		if [ -n "$addr" ]; then
			echo "$addr"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
