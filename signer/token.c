/*
 * The PKCS#11 token: module loading, token lookup and login through
 * libp11. The module's own function list is kept for key generation
 * (keystore.c), because libp11 0.4.12 can make only RSA keys and cannot
 * set their attributes. Both share one loaded module, one C_Initialize
 * and one login.
 */
#include "signer.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>

#include "logging/log.h"

#define PIN_MAX 256

static const struct {
	CK_RV rv;
	const char *name;
} ckr_names[] = {
	{ CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR" },
	{ CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED" },
	{ CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD" },
	{ CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID" },
	{ CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR" },
	{ CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY" },
	{ CKR_HOST_MEMORY, "CKR_HOST_MEMORY" },
	{ CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID" },
	{ CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT" },
	{ CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE" },
	{ CKR_PIN_LOCKED, "CKR_PIN_LOCKED" },
	{ CKR_TEMPLATE_INCOMPLETE, "CKR_TEMPLATE_INCOMPLETE" },
	{ CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT" },
	{ CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT" },
	{ CKR_TOKEN_WRITE_PROTECTED, "CKR_TOKEN_WRITE_PROTECTED" },
	{ CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN" },
	{ CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED" },
};

static void
format_ckr(CK_RV rv, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; i < sizeof(ckr_names) / sizeof(ckr_names[0]); i++) {
		if (ckr_names[i].rv == rv) {
			snprintf(out, outlen, "%s", ckr_names[i].name);
			return;
		}
	}
	snprintf(out, outlen, "CKR 0x%lx", (unsigned long)rv);
}

/*
 * Checks that the open PIN file is a regular file owned by root or by the
 * effective user, and that it grants nothing to group or others. Another
 * owner could read or replace the PIN. Returns 0, or -1 with err set.
 */
static int
token_check_pin_file(int fd, const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "cannot stat PIN file '%s': %s", path,
		    strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "PIN file '%s' is not a regular file "
		    "(set hsm.pin-file to a regular file)", path);
		return -1;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(err, errlen, "PIN file '%s' is owned by uid %u, not "
		    "by root or by uid %u that reads it (run chown root '%s')",
		    path, (unsigned)st.st_uid, (unsigned)geteuid(), path);
		return -1;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen, "PIN file '%s' has mode %04o, which "
		    "grants access to group or others (run chmod 600 '%s')",
		    path, (unsigned)(st.st_mode & 07777), path);
		return -1;
	}
	return 0;
}

static int
token_open_pin_file(const char *path, char *err, size_t errlen)
{
	int fd;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
	    O_NOCTTY);
	if (fd >= 0)
		return fd;
	if (errno == ELOOP)
		snprintf(err, errlen, "PIN file '%s' is a symbolic link (set "
		    "hsm.pin-file to the file itself)", path);
	else
		snprintf(err, errlen, "cannot open PIN file '%s': %s (check "
		    "hsm.pin-file)", path, strerror(errno));
	return -1;
}

/*
 * Reads the PIN from path into pin (NUL-terminated, one trailing newline
 * removed). The last path component must not be a symbolic link, and
 * token_check_pin_file() must accept the file. Returns 0, or -1 with err
 * set; pin is wiped on failure.
 */
int
token_read_pin(const char *path, char *pin, size_t pinlen, char *err,
    size_t errlen)
{
	ssize_t n;
	size_t len;
	int fd, rc = -1;

	fd = token_open_pin_file(path, err, errlen);
	if (fd < 0)
		return -1;
	if (token_check_pin_file(fd, path, err, errlen) != 0)
		goto out;
	n = read(fd, pin, pinlen);
	if (n < 0 || (size_t)n >= pinlen) {
		snprintf(err, errlen, "cannot read PIN file '%s': %s", path,
		    n < 0 ? strerror(errno) : "longer than 255 bytes");
		goto out;
	}
	len = (size_t)n;
	if (len > 0 && pin[len - 1] == '\n')
		len--;
	if (len > 0 && pin[len - 1] == '\r')
		len--;
	pin[len] = '\0';
	if (len == 0 || strlen(pin) != len) {
		snprintf(err, errlen, "PIN file '%s' is empty or contains a "
		    "NUL byte", path);
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		explicit_bzero(pin, pinlen);
	close(fd);
	return rc;
}

static int
token_matches(const PKCS11_SLOT *slot, const struct config_hsm *hsm)
{
	const PKCS11_TOKEN *tok = slot->token;

	if (tok == NULL || !tok->initialized)
		return 0;
	if (hsm->token_label != NULL)
		return tok->label != NULL &&
		    strcmp(tok->label, hsm->token_label) == 0;
	return tok->serialnr != NULL &&
	    strcmp(tok->serialnr, hsm->token_serial) == 0;
}

/* Finds the one slot whose token has the configured label or serial. */
static int
token_find_slot(struct signer_token *token, const struct config_hsm *hsm,
    char *err, size_t errlen)
{
	const char *what = hsm->token_label ? "label" : "serial";
	const char *value = hsm->token_label ? hsm->token_label :
	    hsm->token_serial;
	unsigned int i, found = 0;

	if (PKCS11_enumerate_slots(token->ctx, &token->slots,
	    &token->slot_count) != 0) {
		snprintf(err, errlen, "listing the slots of PKCS#11 module "
		    "'%s' failed", hsm->module);
		return -1;
	}
	for (i = 0; i < token->slot_count; i++) {
		if (token_matches(&token->slots[i], hsm)) {
			token->slot = &token->slots[i];
			found++;
		}
	}
	if (found == 1)
		return 0;
	if (found == 0)
		snprintf(err, errlen, "no token with %s '%s' in PKCS#11 module "
		    "'%s' (check hsm.token-%s)", what, value, hsm->module,
		    what);
	else
		snprintf(err, errlen, "%u tokens have %s '%s' (set "
		    "hsm.token-serial to choose one)", found, what, value);
	return -1;
}

static int
token_login(struct signer_token *token, const char *pin_file, char *err,
    size_t errlen)
{
	char pin[PIN_MAX];
	char reason[64];
	int rc;

	if (token_read_pin(pin_file, pin, sizeof(pin), err, errlen) != 0)
		return -1;
	ERR_clear_error();
	/*
	 * NOTE: libp11 keeps its own copy of the PIN for re-login after a
	 * fork, and it stays in memory until exit. Only the sandbox (no core
	 * dumps, not dumpable, so no ptrace) protects that copy.
	 */
	rc = PKCS11_login(token->slot, 0, pin);
	explicit_bzero(pin, sizeof(pin));
	if (rc == 0)
		return 0;

	/* libp11 stores the CKR_ value as the reason of its error. */
	format_ckr(ERR_GET_REASON(ERR_peek_last_error()), reason,
	    sizeof(reason));
	snprintf(err, errlen, "login to token '%s' failed: %s (check "
	    "hsm.pin-file)", token->label, reason);
	return -1;
}

/* Gets the function list of the module that token_load_module() loaded. */
static int
token_bind_module(struct signer_token *token, const char *module,
    char *err, size_t errlen)
{
	CK_C_GetFunctionList get_list;

	*(void **)&get_list = dlsym(token->module, "C_GetFunctionList");
	if (get_list == NULL || get_list(&token->p11) != CKR_OK ||
	    token->p11 == NULL) {
		snprintf(err, errlen, "PKCS#11 module '%s' has no usable "
		    "C_GetFunctionList", module);
		return -1;
	}
	token->slot_id = PKCS11_get_slotid_from_slot(token->slot);
	return 0;
}

/*
 * Loads the module with dlopen(3) first, so that the error for a file that
 * is not a loadable library differs from one for a failed C_Initialize.
 * libp11 then loads the same copy, and keystore.c shares its one
 * C_Initialize. A context whose load failed is freed here, because
 * PKCS11_CTX_unload() on it would call into the unloaded module.
 */
static int
token_load_module(struct signer_token *token, const char *module,
    char *err, size_t errlen)
{
	char reason[64];
	unsigned long code;

	token->module = dlopen(module, RTLD_NOW | RTLD_LOCAL);
	if (token->module == NULL) {
		snprintf(err, errlen, "cannot load PKCS#11 module '%s': %s "
		    "(check hsm.module)", module, dlerror());
		return -1;
	}
	token->ctx = PKCS11_CTX_new();
	if (token->ctx == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ERR_clear_error();
	if (PKCS11_CTX_load(token->ctx, module) == 0)
		return 0;

	/* libp11 stores C_Initialize's CKR_ value as the error reason. */
	code = ERR_peek_last_error();
	if (code != 0)
		format_ckr(ERR_GET_REASON(code), reason, sizeof(reason));
	else
		snprintf(reason, sizeof(reason), "no reason given");
	PKCS11_CTX_free(token->ctx);
	token->ctx = NULL;
	snprintf(err, errlen, "initialising PKCS#11 module '%s' failed: %s "
	    "(check the module's own configuration, for SoftHSM2 the file "
	    "that SOFTHSM2_CONF names)", module, reason);
	return -1;
}

/*
 * Loads the module, finds the token, logs in and prepares key generation.
 * Returns 0, or -1 with a one-line message in err. token_close() frees
 * what was opened either way.
 */
int
token_open(struct signer_token *token, const struct config_hsm *hsm,
    char *err, size_t errlen)
{
	struct stat st;

	memset(token, 0, sizeof(*token));
	if (stat(hsm->module, &st) != 0) {
		snprintf(err, errlen, "PKCS#11 module '%s' not found: %s "
		    "(check hsm.module)", hsm->module, strerror(errno));
		return -1;
	}
	if (token_load_module(token, hsm->module, err, errlen) != 0)
		return -1;
	if (token_find_slot(token, hsm, err, errlen) != 0)
		return -1;
	token->label = strdup(token->slot->token->label);
	if (token->label == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (token_login(token, hsm->pin_file, err, errlen) != 0)
		return -1;
	return token_bind_module(token, hsm->module, err, errlen);
}

void
token_close(struct signer_token *token)
{
	key_cache_clear(&token->keys);
	EVP_PKEY_free(token->fresh_public);
	token->fresh_public = NULL;
	if (token->sign_session != CK_INVALID_HANDLE && token->p11 != NULL)
		token->p11->C_CloseSession(token->sign_session);
	token->sign_session = CK_INVALID_HANDLE;
	if (token->slots != NULL)
		PKCS11_release_all_slots(token->ctx, token->slots,
		    token->slot_count);
	if (token->ctx != NULL) {
		PKCS11_CTX_unload(token->ctx);
		PKCS11_CTX_free(token->ctx);
	}
	if (token->module != NULL)
		dlclose(token->module);
	free(token->label);
	memset(token, 0, sizeof(*token));
}
