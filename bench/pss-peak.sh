#!/bin/bash
# Samples the worker's and the signer's memory every 50 ms during a
# throughput batch, which starts it with "WORKER,SIGNER" (their pids).
# At the end it prints the resident and proportional sizes of both (Rss
# and Pss of /proc/PID/smaps_rollup, in KiB) at the sample where their
# Pss together was highest. The batch's pss.log in the bench's lab
# directory keeps the line, and the throughput row shows it as
# pss_peak_mib and pss_sum_mib.
#
# Summing Rss counts twice the pages of the libraries that both
# processes map. Pss divides each shared page among the processes that
# map it.
set -u

worker=${1%,*}
signer=${1#*,}
best=0
best_line="no sample"

# Prints "RSS PSS" of pid $1 in KiB, or nothing once it has exited.
sizes() {
	awk '/^Rss:/ { r = $2 } /^Pss:/ { p = $2 } END { if (r) print r, p }' \
		"/proc/$1/smaps_rollup" 2>/dev/null
}

report() {
	echo "$best_line"
	exit 0
}
trap report TERM INT

while kill -0 "$worker" 2>/dev/null; do
	read -r w_rss w_pss <<<"$(sizes "$worker")"
	read -r s_rss s_pss <<<"$(sizes "$signer")"
	if [ -n "${w_pss:-}" ] && [ -n "${s_pss:-}" ] &&
		[ $((w_pss + s_pss)) -gt "$best" ]; then
		best=$((w_pss + s_pss))
		best_line="worker_rss_kib=$w_rss worker_pss_kib=$w_pss"
		best_line+=" signer_rss_kib=$s_rss signer_pss_kib=$s_pss"
		best_line+=" pss_total_kib=$best"
	fi
	sleep 0.05
done
report
