# shellcheck shell=bash
# A private SoftHSM2 token for one test, sourced by bash after tap.sh.
#
# softhsm_init DIR LABEL creates DIR/softhsm with its own softhsm2.conf, a
# token named LABEL and a random user PIN in a file of mode 0600. The
# configuration is exported as SOFTHSM2_CONF, so every PKCS#11 user in the
# test, the signer included, uses only this token. The PIN is never
# printed: tests pass the PIN file, or SOFTHSM_PIN through pkcs11-tool's
# "env:" form.
#
# When run as root, the token directory belongs to custos-signer, because
# the signer drops to that user and SoftHSM reopens the token files on
# every operation. The PIN file stays root's: the signer reads it as root
# before it drops privileges, and rejects a PIN file of another owner.
#
# After softhsm_init these are set:
#   SOFTHSM_MODULE     the PKCS#11 module path
#   SOFTHSM_LABEL      the token label
#   SOFTHSM_PIN_FILE   file holding the user PIN, mode 0600
#   SOFTHSM_TOKEN_DIR  the token directory
#   SOFTHSM2_CONF      the configuration file, exported

SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
SOFTHSM_SIGNER_USER=${SOFTHSM_SIGNER_USER:-custos-signer}

# Usage: softhsm_init DIR LABEL
softhsm_init() {
	local dir=$1/softhsm label=$2 so_pin

	SOFTHSM_LABEL=$label
	SOFTHSM_TOKEN_DIR=$dir/tokens
	SOFTHSM_PIN_FILE=$dir/user.pin
	mkdir -p "$SOFTHSM_TOKEN_DIR" || return 1
	cat >"$dir/softhsm2.conf" <<CONF
directories.tokendir = $SOFTHSM_TOKEN_DIR
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
	chmod 0644 "$dir/softhsm2.conf"
	export SOFTHSM2_CONF=$dir/softhsm2.conf

	SOFTHSM_PIN=$(openssl rand -hex 12) || return 1
	so_pin=$(openssl rand -hex 12) || return 1
	(umask 077 && printf '%s\n' "$SOFTHSM_PIN" >"$SOFTHSM_PIN_FILE")
	# NOTE: softhsm2-util takes the PINs only as arguments, so they are
	# visible in /proc while it runs. That is acceptable only because
	# these are throwaway test tokens.
	softhsm2-util --init-token --free --label "$label" \
		--pin "$SOFTHSM_PIN" --so-pin "$so_pin" \
		>"$dir/init.log" 2>&1 || {
		echo "softhsm.sh: softhsm2-util --init-token failed;" \
			"see $dir/init.log" >&2
		return 1
	}
	so_pin=

	if [ "$(id -u)" -eq 0 ]; then
		chown -R "$SOFTHSM_SIGNER_USER:" "$SOFTHSM_TOKEN_DIR" ||
			return 1
	fi
}

# Usage: softhsm_tool ARG ...
# Runs pkcs11-tool on the test token, logged in with the user PIN.
softhsm_tool() {
	SOFTHSM_PIN=$SOFTHSM_PIN pkcs11-tool --module "$SOFTHSM_MODULE" \
		--token-label "$SOFTHSM_LABEL" --pin env:SOFTHSM_PIN "$@"
}

# Prints pkcs11-tool's listing of every object on the token.
softhsm_list_objects() {
	softhsm_tool --list-objects 2>/dev/null
}

# Prints the number of private keys on the token.
softhsm_private_key_count() {
	softhsm_tool --list-objects --type privkey 2>/dev/null |
		grep -c '^Private Key Object'
}

# Usage: softhsm_public_key_der ID OUTPUT-FILE
# Writes the DER SubjectPublicKeyInfo of the key whose CKA_ID is ID (hex)
# to OUTPUT-FILE: that of its public key object, or, for a key that the
# signer made without one, its private key's CKA_PUBLIC_KEY_INFO.
softhsm_public_key_der() {
	"$CUSTOS_BUILD_DIR/tests/p11probe" "$SOFTHSM_MODULE" "$SOFTHSM_LABEL" \
		"$SOFTHSM_PIN_FILE" "$1" "$2.pem" >/dev/null 2>&1 &&
		openssl pkey -pubin -in "$2.pem" -outform DER -out "$2" \
			2>/dev/null
}
