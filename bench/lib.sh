# shellcheck shell=bash
# Measurement helpers for bench/run.sh, sourced after tests/lib/lab.sh.
#
# Figures go to BENCH_RESULTS, one line per measurement:
#   SECTION CLIENT MODE NAME=VALUE ...
# and bench_table prints them as the tables of docs/benchmarks.md.

# Prints the monotonic-enough wall clock in seconds with microseconds.
bench_now() {
	printf '%s\n' "$EPOCHREALTIME"
}

# Usage: bench_elapsed START
bench_elapsed() {
	awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'
}

# Usage: bench_wait_log SECONDS TEXT
# Waits until DAEMON_LOG contains TEXT, looking every 10 ms: the tests'
# wait_for_log looks every 0.3 s, which would round a start time of a
# few tenths of a second up to the next step.
bench_wait_log() {
	local deadline=$((SECONDS + $1))

	while [ "$SECONDS" -lt "$deadline" ]; do
		grep -qF -- "$2" "$DAEMON_LOG" 2>/dev/null && return 0
		sleep 0.01
	done
	return 1
}

# Usage: proc_cpu PID
# Prints the user plus system CPU seconds of PID (0 when it is gone).
proc_cpu() {
	local stat

	stat=$(cat "/proc/$1/stat" 2>/dev/null) || {
		echo 0
		return
	}
	# Fields 14 and 15 after the command name, which may hold spaces.
	stat=${stat##*) }
	awk -v tck="$(getconf CLK_TCK)" '{ printf "%.3f", ($12 + $13) / tck }' \
		<<<"$stat"
}

# Usage: proc_mem PID FIELD
# Prints FIELD (VmHWM for the peak, VmRSS for now) of PID in MiB.
proc_mem() {
	awk -v f="$2:" '$1 == f { printf "%.1f", $2 / 1024 }' \
		"/proc/$1/status" 2>/dev/null
}

# Usage: bench_record SECTION CLIENT MODE NAME=VALUE ...
bench_record() {
	printf '%s\n' "$*" >>"$BENCH_RESULTS"
	printf '  %s\n' "$*"
}

# Usage: bench_load
# Prints the 1-minute load average, kept beside every figure because
# other work on the machine changes wall times.
bench_load() {
	cut -d ' ' -f 1 /proc/loadavg
}

# Usage: bench_flush_fs DIR
# Prints the seconds that an fsync of a new one-byte file in DIR takes
# after a sync. After the scale section's fill has made thousands of
# folders, sync returns with ext4's journal still to be written back,
# and the next fsync on the file system waits for it: up to a second at
# 100,000 certificates. Without this, the daemon's first audit record
# would pay for it, and its start time would measure the fill.
bench_flush_fs() {
	local start

	sync
	start=$(bench_now)
	dd if=/dev/zero of="$1/flush-probe" bs=1 count=1 conv=fsync \
		status=none || return 1
	bench_elapsed "$start"
	rm -f "$1/flush-probe"
}

# Usage: bench_settle
# Waits until the 1-minute load average is below BENCH_QUIET_LOAD, for at
# most BENCH_SETTLE_MAX seconds. A timed run then does not start while
# the machine is still busy with the work before it: a build, the
# previous batch, or the `cert add` runs of this one.
bench_settle() {
	local waited=0

	while [ "$waited" -lt "$BENCH_SETTLE_MAX" ] &&
		awk -v l="$(bench_load)" -v q="$BENCH_QUIET_LOAD" \
			'BEGIN { exit !(l >= q) }'; do
		sleep 5
		waited=$((waited + 5))
	done
	if [ "$waited" -gt 0 ]; then
		echo "  waited $waited s for the load average to fall to" \
			"$(bench_load)"
	fi
}

# Usage: median VALUE ...
median() {
	printf '%s\n' "$@" | sort -g |
		awk '{ v[NR] = $1 } END {
			if (NR == 0) { print "-"; exit }
			if (NR % 2) print v[(NR + 1) / 2];
			else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Usage: field NAME LINE
# Prints the value of NAME=VALUE in LINE.
field() {
	tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p" | head -n 1
}

# Usage: timed_run LOG COMMAND [ARG ...]
# Runs COMMAND under GNU time and appends "wall user sys maxrss_kib
# status" to LOG. The CPU time and peak memory include the children that
# COMMAND waited for; the peak is that of the largest process.
timed_run() {
	local log=$1

	shift
	/usr/bin/time -a -o "$log" -f '%e %U %S %M %x' "$@"
}

# Usage: summarise_times LOG
# Prints "runs=N failed=N cpu_s=TOTAL peak_mib=MAX wall_median_s=M
# cpu_median_s=M" for a LOG written by timed_run.
summarise_times() {
	awk '$5 != 0 { failed++ }
		{ n++; cpu += $2 + $3; if ($4 > peak) peak = $4 }
		END {
			printf "runs=%d failed=%d cpu_s=%.2f peak_mib=%.1f ",
				n, failed + 0, cpu, peak / 1024
		}' "$1"
	# shellcheck disable=SC2046 # one word per value
	printf 'wall_median_s=%s cpu_median_s=%s\n' \
		"$(median $(awk '{ print $1 }' "$1"))" \
		"$(median $(awk '{ print $2 + $3 }' "$1"))"
}
