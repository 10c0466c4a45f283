# shellcheck shell=bash
# The sections of bench/run.sh, each a function section_NAME that records
# its figures with bench_record. Sourced after bench/lib.sh and
# bench/peers.sh.

BENCH_TENANT=lab
BENCH_SIGNER_ORIGIN=https://127.0.0.1:14000

# Prints the machine's description: what docs/benchmarks.md needs beside
# each table.
bench_machine() {
	local package

	echo "nproc: $(nproc)"
	echo "memory: $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' \
		/proc/meminfo)"
	echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo |
		head -n 1)"
	echo "kernel: $(uname -r)"
	echo "load at start: $(cut -d ' ' -f 1-3 /proc/loadavg)"
	for package in pebble softhsm2 libp11-3 libssl3 libcurl4 \
		libsqlite3-0 certbot lego uacme; do
		echo "package: $package $(dpkg-query -W -f '${Version}' \
			"$package" 2>/dev/null)"
	done
}

# Starts Pebble once for the sections that need it.
bench_pebble() {
	[ -z "$PEBBLE_PID" ] || return 0
	pebble_start "$LAB_DIR" ||
		bail_out "Pebble did not start; see $LAB_DIR/pebble/*.log"
	export PEBBLE_DIRECTORY PEBBLE_TLS_CA PEER_HTTP_ADDRESS PEER_HTTP_PORT
}

# Usage: bench_lab DIR TOKEN-LABEL [DAEMON-LINES]
# Makes a token and a Custos configuration in DIR; DAEMON-LINES go into
# a daemon block.
bench_lab() {
	mkdir -p "$1" && chmod 0755 "$1" || return 1
	if [ "$BENCH_TOKEN_FS" = tmpfs ]; then
		mkdir -p "$1/softhsm" &&
			mount -t tmpfs -o mode=0755,size=256m custos-token \
				"$1/softhsm" || return 1
		# Cleanups run last first, so this one runs before the
		# removal of the lab directory.
		at_exit umount "$1/softhsm"
	fi
	softhsm_init "$1" "$2" || return 1
	# shellcheck disable=SC2034 # read by custos_write_config
	CUSTOS_EXTRA_BLOCKS=${3:+$(printf 'daemon {\n%s\n}' "$3")}
	custos_write_config "$1"
}

# Usage: daemon_signer_pid
# Prints the pid of the newest signer that the supervisor started.
daemon_signer_pid() {
	sed -n 's/.*started signer (pid \([0-9]*\)).*/\1/p' "$DAEMON_LOG" |
		tail -n 1
}

# Usage: wait_current COUNT TIMEOUT
# Waits until COUNT certificates have a current version.
wait_current() {
	local deadline=$((SECONDS + $2)) value

	while [ "$SECONDS" -lt "$deadline" ]; do
		value=$(state_query "SELECT count(*) FROM versions WHERE
			status = 'current'" 2>/dev/null)
		[ "${value:-0}" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# --- 1. Issuance throughput ----------------------------------------------

# Usage: throughput_profile DIR
# Waits until the worker and the signer are known, then starts two
# commands with "WORKER,SIGNER" (their pids) as the last argument:
# bench/pss-peak.sh, which samples their proportional memory into
# DIR/pss.log, and BENCH_PROFILE, when set, with its output in
# DIR/profile.log. throughput_custos stops both with SIGTERM when the
# batch is done. For example, BENCH_PROFILE="strace -c -f -p" counts the
# system calls of both processes, and "perf record -g -o FILE -p"
# samples them.
throughput_profile() {
	local deadline=$((SECONDS + 10)) worker='' signer=''

	while [ "$SECONDS" -lt "$deadline" ]; do
		worker=$(daemon_worker_pid)
		signer=$(daemon_signer_pid)
		[ -n "$worker" ] && [ -n "$signer" ] && break
		sleep 0.01
	done
	"$BENCH_DIR/pss-peak.sh" "$worker,$signer" >"$1/pss.log" 2>&1 &
	PSS_PID=$!
	[ -n "${BENCH_PROFILE:-}" ] || return 0
	# shellcheck disable=SC2086 # BENCH_PROFILE is a command with options.
	$BENCH_PROFILE "$worker,$signer" >"$1/profile.log" 2>&1 &
	PROFILE_PID=$!
}

# Usage: pss_figure DIR
# Prints "worker:W+signer:S total:T", the proportional sizes in MiB at
# the sample of DIR/pss.log where their sum was highest.
pss_figure() {
	awk '{
		for (i = 1; i <= NF; i++) {
			split($i, kv, "=")
			v[kv[1]] = kv[2]
		}
	} END {
		if (v["pss_total_kib"] == "")
			print "none"
		else
			printf "worker:%.1f+signer:%.1f total:%.1f\n",
			    v["worker_pss_kib"] / 1024,
			    v["signer_pss_kib"] / 1024,
			    v["pss_total_kib"] / 1024
	}' "$1/pss.log"
}

# Usage: throughput_custos CONCURRENCY
# Issues BENCH_CERTS certificates with the daemon running up to
# CONCURRENCY orders at once, and records the figures.
throughput_custos() {
	local concurrency=$1 n=$BENCH_CERTS i start wall pebble0
	local dir=$LAB_DIR/tput-custos-$1 super worker signer cpu_w cpu_s
	local in_flight requests connections peak pebble_cpu load pss pid

	bench_lab "$dir" "custos-tput-$concurrency" "$(printf '%s\n%s' \
		'	poll-interval 1s' "	concurrency $concurrency")" || return 1
	for ((i = 1; i <= n; i++)); do
		"$CUSTOS" cert add --config "$CUSTOS_CONF" --tenant \
			"$BENCH_TENANT" "custos-$concurrency-$i.bench.test" \
			>/dev/null || return 1
	done
	DAEMON_LOG=$dir/daemon.log
	bench_settle
	pebble0=$(proc_cpu "$PEBBLE_PID")
	start=$(bench_now)
	daemon_start
	throughput_profile "$dir"
	if ! wait_current "$n" $((n * 20)); then
		echo "throughput: the daemon did not finish; see $DAEMON_LOG" >&2
	fi
	wall=$(bench_elapsed "$start")
	super=$DAEMON_PID
	worker=$(daemon_worker_pid)
	signer=$(daemon_signer_pid)
	cpu_w=$(proc_cpu "$worker")
	cpu_s=$(proc_cpu "$signer")
	peak="worker:$(proc_mem "$worker" VmHWM)+signer:$(proc_mem \
		"$signer" VmHWM)+supervisor:$(proc_mem "$super" VmHWM)"
	pebble_cpu=$(awk -v a="$pebble0" -v b="$(proc_cpu "$PEBBLE_PID")" \
		'BEGIN { printf "%.2f", b - a }')
	load=$(bench_load)
	for pid in ${PSS_PID:-} ${PROFILE_PID:-}; do
		kill -TERM "$pid" 2>/dev/null
		wait "$pid"
	done
	PSS_PID=''
	PROFILE_PID=''
	pss=$(pss_figure "$dir")
	# The counters are read after the stop, when every run has added to
	# them.
	daemon_stop
	in_flight=$(sed -n 's/.*: \([0-9]*\) orders in flight, a new maximum.*/\1/p' \
		"$DAEMON_LOG" | sort -n | tail -n 1)
	requests=$(state_query "SELECT value FROM counters WHERE
		name = 'acme_requests'")
	connections=$(state_query "SELECT value FROM counters WHERE
		name = 'acme_connections'")
	bench_record throughput custos "daemon,concurrency-$concurrency" \
		certs="$(state_query "SELECT count(*) FROM versions WHERE
			status = 'current'")" wall_s="$wall" \
		per_s="$(awk -v n="$n" -v w="$wall" 'BEGIN { printf "%.2f", n / w }')" \
		cpu_s="worker:$cpu_w+signer:$cpu_s" \
		cpu_per_cert="$(awk -v a="$cpu_w" -v b="$cpu_s" -v n="$n" \
			'BEGIN { printf "%.4f", (a + b) / n }')" \
		peak_mib="$peak" pss_peak_mib="${pss% *}" \
		pss_sum_mib="${pss#* total:}" pebble_cpu_s="$pebble_cpu" \
		in_flight_max="${in_flight:-1}" \
		acme_requests="${requests:-0}" \
		acme_connections="${connections:-0}" token_fs="$BENCH_TOKEN_FS" \
		load="$load"
	if [ -z "${THROUGHPUT_CUSTOS:-}" ]; then
		THROUGHPUT_CUSTOS=$(awk -v n="$n" -v w="$wall" \
			'BEGIN { print n / w }')
	fi
}

# Usage: throughput_peer CLIENT MODE COUNT [PARALLEL]
throughput_peer() {
	local client=$1 mode=$2 n=$3 line wall per pebble0

	bench_settle
	pebble0=$(proc_cpu "$PEBBLE_PID")
	line=$(peer_batch "$client" "$LAB_DIR/tput-$client" "$client" "$n" \
		"${4:-1}")
	wall=$(field wall_s "$line")
	per=$(awk -v n="$n" -v w="$wall" 'BEGIN { printf "%.2f", n / w }')
	bench_record throughput "${client%-parallel}" "$mode" \
		certs="$(($(field runs "$line") - $(field failed "$line")))" \
		wall_s="$wall" per_s="$per" cpu_s="$(field cpu_s "$line")" \
		cpu_per_cert="$(awk -v c="$(field cpu_s "$line")" -v n="$n" \
			'BEGIN { printf "%.4f", c / n }')" \
		peak_mib="$(field peak_mib "$line")" \
		pebble_cpu_s="$(awk -v a="$pebble0" -v b="$(proc_cpu \
			"$PEBBLE_PID")" 'BEGIN { printf "%.2f", b - a }')" \
		custos_x="$(awk -v c="${THROUGHPUT_CUSTOS:-0}" -v p="$per" \
			'BEGIN { printf "%.2f", (p > 0) ? c / p : 0 }')" \
		load="$(bench_load)"
}

# Usage: throughput_token_floor
# Records what the token alone spends on BENCH_CERTS new certificate keys
# (p11_rate --keygen on a fresh token on the same file system as the
# daemon's): the part of the signer's CPU time that no change to Custos
# removes. Section 2 gives the cost of each of the signatures.
throughput_token_floor() {
	local dir=$LAB_DIR/tput-keygen line

	bench_lab "$dir" custos-keygen || return 1
	line=$("$CUSTOS_BUILD_DIR/bench/p11_rate" --keygen "$SOFTHSM_MODULE" \
		"$SOFTHSM_LABEL" "$SOFTHSM_PIN_FILE" "$BENCH_CERTS") || return 1
	bench_record throughput token "C_GenerateKeyPair,$BENCH_TOKEN_FS" \
		certs="$BENCH_CERTS" wall_s="$(field seconds "$line")" \
		per_s="$(field per_second "$line")" \
		cpu_s="$(field cpu_s "$line")" \
		cpu_per_cert="$(awk -v c="$(field cpu_s "$line")" \
			-v n="$BENCH_CERTS" 'BEGIN { printf "%.4f", c / n }')" \
		load="$(bench_load)"
}

section_throughput() {
	local concurrency peer

	bench_pebble
	peer_trust_pebble "$LAB_DIR" || bail_out "cannot trust Pebble for uacme"
	# The ratios against the peers use the rate of the first batch; 32 is
	# the default, and 64 gives the peak memory with 64 orders in flight.
	for concurrency in $BENCH_CONCURRENCY; do
		throughput_custos "$concurrency"
	done
	throughput_token_floor
	for peer in $BENCH_PEERS; do
		case $peer in
		certbot | lego)
			throughput_peer "$peer" sequential "$BENCH_SEQ_CERTS"
			;;
		lego-parallel)
			throughput_peer lego-parallel 8-processes \
				"$BENCH_CERTS" 8
			;;
		uacme) throughput_peer uacme sequential "$BENCH_CERTS" ;;
		*)
			echo "bench: unknown peer \"$peer\" in BENCH_PEERS; use" \
				"certbot, lego, lego-parallel or uacme" >&2
			;;
		esac
	done
}

# --- 2. Signer speed -----------------------------------------------------

# Usage: signer_config DIR
# Writes DIR/signer.conf and DIR/policy.conf: tenant lab may use issuer
# pebble (origin BENCH_SIGNER_ORIGIN) with P-256 and RSA-2048 keys.
signer_config() {
	cat >"$1/policy.conf" <<EOF
tenant $BENCH_TENANT {
	allow .bench.test
	issuers pebble
	accounts pebble
	key-types ec-p256 rsa-2048
}
EOF
	cat >"$1/signer.conf" <<EOF
hsm {
	module "$SOFTHSM_MODULE"
	token-label "$SOFTHSM_LABEL"
	pin-file "$SOFTHSM_PIN_FILE"
}
signer {
	user $CUSTOS_SIGNER_USER
}
issuer pebble {
	directory "$BENCH_SIGNER_ORIGIN/dir"
}
policy {
	file "$1/policy.conf"
}
EOF
	chmod 0644 "$1/policy.conf" "$1/signer.conf"
}

# Usage: signer_type DIR KEY-TYPE COUNT
signer_type() {
	local dir=$1 type=$2 count=$3 run line key ipc=() direct=()
	local ipc_cpu=() direct_cpu=()

	for ((run = 1; run <= BENCH_RUNS; run++)); do
		bench_settle
		line=$("$CUSTOS_BUILD_DIR/bench/signer_rate" "$CUSTOS_SIGNER" \
			"$dir/signer.conf" "$BENCH_TENANT" \
			"$BENCH_SIGNER_ORIGIN" "$type" "$count" \
			2>>"$dir/signer.log") || return 1
		key=$(field key_id "$line")
		ipc+=("$(field per_second "$line")")
		ipc_cpu+=("$(awk -v s="$(field signer_cpu_s "$line")" \
			-v c="$(field client_cpu_s "$line")" -v n="$count" \
			'BEGIN { printf "%.1f", (s + c) / n * 1e6 }')")
		line=$("$CUSTOS_BUILD_DIR/bench/p11_rate" "$SOFTHSM_MODULE" \
			"$SOFTHSM_LABEL" "$SOFTHSM_PIN_FILE" "$key" "$count") ||
			return 1
		direct+=("$(field per_second "$line")")
		direct_cpu+=("$(awk -v c="$(field cpu_s "$line")" -v n="$count" \
			'BEGIN { printf "%.1f", c / n * 1e6 }')")
	done
	bench_record signer custos "$type,jws-sign-over-ipc" \
		per_s="$(median "${ipc[@]}")" \
		cpu_us_per_sig="$(median "${ipc_cpu[@]}")" \
		vs_direct="$(awk -v a="$(median "${ipc[@]}")" \
			-v b="$(median "${direct[@]}")" \
			'BEGIN { printf "%.2f", a / b }')" \
		best_ratio="$(awk -v d="$(median "${direct[@]}")" \
			-v f="$SIGNER_FLOOR_US" \
			'BEGIN { printf "%.2f", 1 / (1 + d * f / 1e6) }')" \
		runs="$BENCH_RUNS" load="$(bench_load)"
	bench_record signer direct "$type,C_Sign" \
		per_s="$(median "${direct[@]}")" \
		cpu_us_per_sig="$(median "${direct_cpu[@]}")" \
		runs="$BENCH_RUNS" load="$(bench_load)"
}

# Usage: signer_floor
# Sets SIGNER_FLOOR_US to the median microseconds of a bare round trip
# between two processes (bench/ipc_floor), with frames of about the
# size of a jws-sign request and its reply, and records it.
signer_floor() {
	local run line us=() rate=()

	for ((run = 1; run <= BENCH_RUNS; run++)); do
		bench_settle
		line=$("$CUSTOS_BUILD_DIR/bench/ipc_floor" 256 384 100000) ||
			return 1
		us+=("$(field us_per_round_trip "$line")")
		rate+=("$(field per_second "$line")")
	done
	SIGNER_FLOOR_US=$(median "${us[@]}")
	bench_record signer floor "round-trip,socketpair" \
		per_s="$(median "${rate[@]}")" \
		us_per_round_trip="$SIGNER_FLOOR_US" \
		runs="$BENCH_RUNS" load="$(bench_load)"
}

section_signer() {
	local dir=$LAB_DIR/signer

	mkdir -p "$dir" && chmod 0755 "$dir" || return 1
	softhsm_init "$dir" custos-sign || bail_out "cannot make a token"
	signer_config "$dir"
	signer_floor || return 1
	signer_type "$dir" ec-p256 "$BENCH_SIGN_EC"
	signer_type "$dir" rsa-2048 "$BENCH_SIGN_RSA"
}

# --- 3. Scale ------------------------------------------------------------

# Usage: scale_fill COUNT
# Adds synthetic certificates 2..COUNT next to certificate 1, which
# `cert add` made, each with a current version whose store folder,
# `current` symlink and cert.pem (one self-signed certificate for all)
# exist. Lifetimes are 90 days with notBefore spread
# over the last 90 days, so renewals (at 2/3 of the lifetime) fall over
# the next 90 days and none is due within the first hour.
scale_fill() {
	local n=$1 now

	now=$(date +%s)
	state_query "
		UPDATE tasks SET due = $now + 7776000 WHERE cert_id = 1;
		WITH RECURSIVE seq(i) AS (SELECT 2 UNION ALL
			SELECT i + 1 FROM seq WHERE i < $n)
		INSERT INTO certificates (id, tenant, label, names, key_type,
			issuer, created)
		SELECT i, '$BENCH_TENANT', 's' || i || '.bench.test',
			's' || i || '.bench.test', 'ec-p256', 'pebble', $now
		FROM seq;
		INSERT INTO versions (cert_id, name, serial, not_before,
			not_after, created, status)
		SELECT id, 'v1', printf('%x', id), nb, nb + 7776000, nb,
			'current'
		FROM (SELECT id, $now - 3600 - (id * 7919) % 2592000 AS nb
			FROM certificates WHERE id > 1);
		INSERT INTO tasks (cert_id, due, failures)
		SELECT cert_id, not_before + 5184000, 0 FROM versions
		WHERE cert_id > 1;" >/dev/null || return 1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -subj /CN=scale.bench.test -days 90 -keyout /dev/null \
		-out "$LAB_DIR/scale-cert.pem" 2>/dev/null || return 1
	python3 - "$CUSTOS_STORE/$BENCH_TENANT" "$n" \
		"$LAB_DIR/scale-cert.pem" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
with open(sys.argv[3]) as f:
    pem = f.read()
for i in range(2, n + 1):
    d = os.path.join(root, "s%d.bench.test" % i)
    os.makedirs(os.path.join(d, "v1"), exist_ok=True)
    with open(os.path.join(d, "v1", "cert.pem"), "w") as f:
        f.write(pem)
    if not os.path.islink(os.path.join(d, "current")):
        os.symlink("v1", os.path.join(d, "current"))
PY
	custos_give_to "$CUSTOS_BROKER_USER" "$CUSTOS_STORE"
}

# Usage: scale_pass_ms
# Prints the median CPU time in milliseconds of 20 runs of the query
# that the worker's scheduler runs on every pass (state_task_next in
# broker/state_db.c, so keep the two in step). CPU time, because
# sqlite3's timer gives it in microseconds but wall time in milliseconds.
scale_pass_ms() {
	local sql='SELECT t.cert_id, t.due FROM tasks t CROSS JOIN
		certificates c ON c.id = t.cert_id WHERE c.removed = 0
		ORDER BY t.due, t.cert_id LIMIT 1;'

	# shellcheck disable=SC2046 # one word per time
	median $( (printf '.timer on\n'; for _ in $(seq 20); do
		printf '%s\n' "$sql"; done) |
		runuser -u "$CUSTOS_BROKER_USER" -- sqlite3 \
			"$CUSTOS_STATE/custos.db" |
		awk '/^Run Time/ { printf "%.3f\n", ($6 + $8) * 1000 }')
}

# Usage: scale_start
# Starts the daemon and sets SCALE_READY to the seconds until its worker
# is ready.
scale_start() {
	local start

	start=$(bench_now)
	daemon_start
	if ! bench_wait_log 600 "worker ready"; then
		echo "scale: the worker did not start; see $DAEMON_LOG" >&2
		return 1
	fi
	SCALE_READY=$(bench_elapsed "$start")
}

# Usage: scale_one COUNT
# Records the first start after the certificates were added, the memory
# at rest, the scheduler query, a second start (a restart), and the
# count that a tenant with max-certificates or rate pays before each
# order, without and with the daemon's cache (bench/usage_count).
scale_one() {
	local n=$1 dir=$LAB_DIR/scale-$1 ready restart rss super worker signer
	local flush usage

	bench_lab "$dir" "custos-scale-$n" '	poll-interval 60s' || return 1
	"$CUSTOS" cert add --config "$CUSTOS_CONF" --tenant "$BENCH_TENANT" \
		s1.bench.test >/dev/null || return 1
	scale_fill "$n" || return 1
	DAEMON_LOG=$dir/daemon.log
	flush=$(bench_flush_fs "$dir") || return 1
	scale_start || {
		daemon_stop
		return 1
	}
	ready=$SCALE_READY
	sleep 2
	super=$DAEMON_PID
	worker=$(daemon_worker_pid)
	signer=$(daemon_signer_pid)
	rss="worker:$(proc_mem "$worker" VmRSS)+signer:$(proc_mem "$signer" \
		VmRSS)+supervisor:$(proc_mem "$super" VmRSS)"
	daemon_stop
	: >"$DAEMON_LOG"
	scale_start
	restart=$SCALE_READY
	daemon_stop
	usage=$("$CUSTOS_BUILD_DIR/bench/usage_count" "$CUSTOS_STORE" \
		"$BENCH_TENANT" 3) || return 1
	bench_record scale custos "$n-certificates" \
		flush_s="$flush" start_s="$ready" restart_s="$restart" \
		rss_mib="$rss" \
		pass_cpu_ms="$(scale_pass_ms)" \
		count_ms="$(field uncached_ms "$usage")" \
		count_cached_ms="$(field cached_ms "$usage")" \
		count_cache_kib="$(field cache_kib "$usage")" \
		db_mib="$(du -m "$CUSTOS_STATE/custos.db" | cut -f 1)" \
		load="$(bench_load)"
}

section_scale() {
	local n

	# The daemons never reach the CA, but their configuration names it.
	bench_pebble
	for n in $BENCH_SCALE; do
		scale_one "$n"
	done
}

# --- 4. One-shot cost ----------------------------------------------------

# Usage: oneshot_custos DIR NAME
oneshot_custos() {
	timed_run "$1/times" "$CUSTOS" issue --config "$CUSTOS_CONF" "$2" \
		>>"$1/output.log" 2>&1
}

# Usage: oneshot_record CLIENT MODE LOG
oneshot_record() {
	local line

	line=$(summarise_times "$3")
	bench_record oneshot "$1" "$2" wall_s="$(field wall_median_s "$line")" \
		cpu_s="$(field cpu_median_s "$line")" \
		peak_mib="$(field peak_mib "$line")" \
		runs="$(field runs "$line")" failed="$(field failed "$line")" \
		load="$(bench_load)"
}

# Usage: oneshot_client CLIENT
# Runs CLIENT once with a new account (the first run) and BENCH_RUNS
# times with its account in place, one new name each.
oneshot_client() {
	local client=$1 dir=$LAB_DIR/oneshot-$1 run

	mkdir -p "$dir" || return 1
	case $client in
	custos) bench_lab "$dir" custos-oneshot || return 1 ;;
	uacme)
		peer_webroot_start "$dir/webroot" || return 1
		peer_uacme_hook "$dir" "$dir/webroot"
		;;
	esac
	for ((run = 0; run <= BENCH_RUNS; run++)); do
		: >"$dir/times"
		if [ "$client" = uacme ] && [ "$run" -eq 0 ]; then
			timed_run "$dir/times" uacme --acme-url \
				"$PEBBLE_DIRECTORY" --confdir "$dir/uacme" \
				--type EC --bits 256 --yes new \
				>>"$dir/output.log" 2>&1
		fi
		"oneshot_${client}_run" "$dir" "$client-one-$run.bench.test"
		# One line per issuance, even when it took two processes.
		awk '{ w += $1; u += $2; s += $3; if ($4 > m) m = $4
			if ($5 != 0) x = $5 } END { print w, u, s, m, x + 0 }' \
			"$dir/times" >>"$dir/$([ "$run" -eq 0 ] && echo first ||
				echo again)"
	done
	[ "$client" != uacme ] || peer_webroot_stop
	oneshot_record "$client" "new-account" "$dir/first"
	oneshot_record "$client" "account-exists" "$dir/again"
}

oneshot_custos_run() { oneshot_custos "$@"; }
oneshot_certbot_run() { peer_certbot_one "$@"; }
oneshot_lego_run() { peer_lego_one "$@"; }
oneshot_uacme_run() { peer_uacme_one "$@"; }

section_oneshot() {
	local client

	bench_pebble
	if ! mountpoint -q /etc/ssl/certs/ca-certificates.crt; then
		peer_trust_pebble "$LAB_DIR" ||
			bail_out "cannot trust Pebble for uacme"
	fi
	for client in custos certbot lego uacme; do
		oneshot_client "$client"
	done
}

# --- Tables --------------------------------------------------------------

# Usage: bench_table RESULTS
# Prints one Markdown table per section; the columns are the NAME=VALUE
# words in the order they first appear.
bench_table() {
	awk '
	{
		s = $1
		if (!(s in seen)) { seen[s] = 1; order[++ns] = s }
		row = ++rows[s]
		cell[s, row, "client"] = $2
		cell[s, row, "mode"] = $3
		for (i = 4; i <= NF; i++) {
			k = substr($i, 1, index($i, "=") - 1)
			v = substr($i, index($i, "=") + 1)
			if (!((s, k) in known)) {
				known[s, k] = 1
				cols[s, ++ncols[s]] = k
			}
			cell[s, row, k] = v
		}
	}
	END {
		for (j = 1; j <= ns; j++) {
			s = order[j]
			printf "\n### %s\n\n| client | mode |", s
			for (c = 1; c <= ncols[s]; c++)
				printf " %s |", cols[s, c]
			printf "\n|---|---|"
			for (c = 1; c <= ncols[s]; c++)
				printf "---|"
			printf "\n"
			for (r = 1; r <= rows[s]; r++) {
				printf "| %s | %s |", cell[s, r, "client"],
					cell[s, r, "mode"]
				for (c = 1; c <= ncols[s]; c++)
					printf " %s |", cell[s, r, cols[s, c]]
				printf "\n"
			}
		}
	}' "$1"
}
