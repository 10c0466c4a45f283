# shellcheck shell=bash
# The peer ACME clients (Debian 12 packages certbot, lego and uacme)
# issuing certificates from the Pebble that bench/run.sh started, run the
# way their users run them: one process per certificate. Sourced by
# bench/run.sh after bench/lib.sh.
#
# Each peer_* function takes OUT-DIR, a name prefix and a count, issues
# one HTTP-01 certificate with an ECDSA P-256 key for each name
# PREFIX-N.bench.test, and prints "wall_s=S" followed by the
# summarise_times words of its processes. Every command names the
# Pebble directory explicitly: the peers' defaults point at public CAs.

PEER_HTTP_ADDRESS=127.0.0.1
PEER_HTTP_PORT=5002
PEER_WEB_PID=

# Usage: peer_webroot_start DIR
# Serves DIR over HTTP on the HTTP-01 port, for clients that write
# their challenge files into a web root.
peer_webroot_start() {
	mkdir -p "$1/.well-known/acme-challenge" || return 1
	python3 -m http.server --bind "$PEER_HTTP_ADDRESS" --directory "$1" \
		"$PEER_HTTP_PORT" >"$1.log" 2>&1 &
	PEER_WEB_PID=$!
	for _ in $(seq 50); do
		curl -s -o /dev/null \
			"http://$PEER_HTTP_ADDRESS:$PEER_HTTP_PORT/" && return 0
		sleep 0.1
	done
	echo "peers.sh: the web root server did not start; see $1.log" >&2
	return 1
}

peer_webroot_stop() {
	if [ -n "$PEER_WEB_PID" ]; then
		kill "$PEER_WEB_PID" 2>/dev/null
		wait "$PEER_WEB_PID" 2>/dev/null
		PEER_WEB_PID=
	fi
}

# Usage: peer_certbot_one DIR NAME
peer_certbot_one() {
	REQUESTS_CA_BUNDLE=$PEBBLE_TLS_CA timed_run "$1/times" \
		certbot certonly --non-interactive --agree-tos \
		--register-unsafely-without-email --server "$PEBBLE_DIRECTORY" \
		--standalone --http-01-address "$PEER_HTTP_ADDRESS" \
		--http-01-port "$PEER_HTTP_PORT" --key-type ecdsa \
		--elliptic-curve secp256r1 --config-dir "$1/config" \
		--work-dir "$1/work" --logs-dir "$1/logs" -d "$2" \
		>>"$1/output.log" 2>&1
}

# Usage: peer_lego_one DIR NAME [CHALLENGE-FLAGS ...]
# Without CHALLENGE-FLAGS lego serves HTTP-01 itself.
peer_lego_one() {
	local dir=$1 name=$2

	shift 2
	[ "$#" -gt 0 ] || set -- --http.port "$PEER_HTTP_ADDRESS:$PEER_HTTP_PORT"
	LEGO_CA_CERTIFICATES=$PEBBLE_TLS_CA timed_run "$dir/times" \
		lego --server "$PEBBLE_DIRECTORY" --accept-tos \
		--email admin@example.org --path "$dir/lego" --key-type ec256 \
		--http "$@" -d "$name" run >>"$dir/output.log" 2>&1
}

# Usage: peer_uacme_one DIR NAME
peer_uacme_one() {
	timed_run "$1/times" uacme --acme-url "$PEBBLE_DIRECTORY" \
		--confdir "$1/uacme" --type EC --bits 256 --yes \
		--hook "$1/hook" issue "$2" >>"$1/output.log" 2>&1
}

# Usage: peer_uacme_hook DIR WEBROOT
# Writes DIR/hook, which publishes http-01 key authorizations in WEBROOT
# and declines every other challenge type (uacme's hook protocol: a
# non-zero exit declines the challenge).
peer_uacme_hook() {
	cat >"$1/hook" <<HOOK
#!/bin/sh
# uacme hook: METHOD TYPE IDENTIFIER TOKEN KEY-AUTHORIZATION
[ "\$2" = http-01 ] || exit 1
file="$2/.well-known/acme-challenge/\$4"
case \$1 in
begin) printf '%s' "\$5" >"\$file" ;;
*) rm -f "\$file" ;;
esac
HOOK
	chmod 0755 "$1/hook"
}

# Usage: peer_trust_pebble DIR
# Bind-mounts a bundle of the system roots plus Pebble's TLS CA over the
# system bundle, inside bench/run.sh's private mount namespace, because
# uacme has no option for a CA file. The machine's own bundle is not
# changed.
peer_trust_pebble() {
	local system=/etc/ssl/certs/ca-certificates.crt

	cat "$system" "$PEBBLE_TLS_CA" >"$1/ca-bundle.crt" || return 1
	mount --bind "$1/ca-bundle.crt" "$system"
}

# Usage: peer_batch CLIENT DIR PREFIX COUNT [PARALLEL]
# Issues COUNT certificates, PARALLEL processes at once (default 1), and
# prints the wall time and the summary of the process times.
peer_batch() {
	local client=$1 dir=$2 prefix=$3 count=$4 parallel=${5:-1} start

	mkdir -p "$dir" || return 1
	: >"$dir/times"
	start=$(bench_now)
	case $client in
	certbot)
		peer_each "$count" "$prefix" peer_certbot_one "$dir"
		;;
	lego)
		peer_each "$count" "$prefix" peer_lego_one "$dir"
		;;
	lego-parallel)
		peer_webroot_start "$dir/webroot" || return 1
		# The first run registers the account that the others share.
		peer_lego_one "$dir" "$prefix-1.bench.test" \
			--http.webroot "$dir/webroot"
		seq 2 "$count" | sed "s/.*/$prefix-&.bench.test/" |
			xargs -P "$parallel" -I NAME bash -c \
			"$(declare -f timed_run peer_lego_one); peer_lego_one \"\$@\"" \
			_ "$dir" NAME --http.webroot "$dir/webroot"
		peer_webroot_stop
		;;
	uacme)
		peer_webroot_start "$dir/webroot" || return 1
		peer_uacme_hook "$dir" "$dir/webroot"
		uacme --acme-url "$PEBBLE_DIRECTORY" --confdir "$dir/uacme" \
			--type EC --bits 256 --yes new >>"$dir/output.log" 2>&1
		peer_each "$count" "$prefix" peer_uacme_one "$dir"
		peer_webroot_stop
		;;
	esac
	printf 'wall_s=%s %s\n' "$(bench_elapsed "$start")" \
		"$(summarise_times "$dir/times")"
}

# Usage: peer_each COUNT PREFIX FUNCTION DIR
peer_each() {
	local i

	for ((i = 1; i <= $1; i++)); do
		"$3" "$4" "$2-$i.bench.test"
	done
}
