/*
 * Measures direct PKCS#11 signatures per second on one token key, the
 * floor for the signer's jws-sign path: one logged-in session, then
 * C_SignInit and C_Sign per signature over a 300-byte message (the size
 * of a typical JWS signing input). An EC key signs the SHA-256 digest,
 * made with OpenSSL, with CKM_ECDSA; an RSA key signs the message with
 * CKM_SHA256_RSA_PKCS.
 *
 *	p11_rate MODULE TOKEN-LABEL PIN-FILE KEY-ID-HEX COUNT
 *	p11_rate --keygen MODULE TOKEN-LABEL PIN-FILE COUNT
 *
 * With --keygen it measures what the token spends on each new
 * certificate key instead. Each run of C_GenerateKeyPair makes a P-256
 * token key pair with the attributes that the signer sets: a sign-only,
 * sensitive private key that cannot be extracted, a verify-only public
 * key, a random CKA_ID and a label.
 *
 * Prints one line of NAME=VALUE words: key_type, count, seconds,
 * per_second and cpu_s. Exit status 0, or 1 with a message.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <openssl/sha.h>
#include <p11-kit/pkcs11.h>

#define MESSAGE_LEN 300
#define KEY_ID_MAX 64
#define PIN_MAX 256

struct token {
	CK_FUNCTION_LIST_PTR p11;
	CK_SESSION_HANDLE session;
	CK_OBJECT_HANDLE key;
	CK_KEY_TYPE key_type;
};

static int
load_module(const char *path, struct token *t)
{
	CK_C_GetFunctionList get_list;
	void *module = dlopen(path, RTLD_NOW);

	if (module == NULL) {
		fprintf(stderr, "p11_rate: cannot load %s: %s\n", path,
		    dlerror());
		return -1;
	}
	get_list = (CK_C_GetFunctionList)dlsym(module, "C_GetFunctionList");
	if (get_list == NULL || get_list(&t->p11) != CKR_OK ||
	    t->p11->C_Initialize(NULL) != CKR_OK) {
		fprintf(stderr, "p11_rate: %s: C_Initialize failed\n", path);
		return -1;
	}
	return 0;
}

/* Compares a blank-padded CK_TOKEN_INFO label with label. */
static int
label_matches(const CK_UTF8CHAR *padded, size_t size, const char *label)
{
	size_t len = strlen(label), i;

	if (len > size || memcmp(padded, label, len) != 0)
		return 0;
	for (i = len; i < size; i++)
		if (padded[i] != ' ')
			return 0;
	return 1;
}

static int
open_session(struct token *t, const char *label)
{
	CK_SLOT_ID slots[64];
	CK_ULONG count = 64, i;
	CK_TOKEN_INFO info;

	if (t->p11->C_GetSlotList(CK_TRUE, slots, &count) != CKR_OK)
		return -1;
	for (i = 0; i < count; i++) {
		if (t->p11->C_GetTokenInfo(slots[i], &info) == CKR_OK &&
		    label_matches(info.label, sizeof(info.label), label))
			return t->p11->C_OpenSession(slots[i],
			    CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
			    &t->session) == CKR_OK ? 0 : -1;
	}
	fprintf(stderr, "p11_rate: no token labelled \"%s\"; check "
	    "SOFTHSM2_CONF\n", label);
	return -1;
}

static int
login(struct token *t, const char *pin_file)
{
	char pin[PIN_MAX];
	size_t len = 0;
	FILE *f = fopen(pin_file, "r");
	CK_RV rv;

	if (f == NULL || fgets(pin, sizeof(pin), f) == NULL) {
		fprintf(stderr, "p11_rate: cannot read PIN file %s\n",
		    pin_file);
		if (f != NULL)
			fclose(f);
		return -1;
	}
	fclose(f);
	len = strcspn(pin, "\r\n");
	rv = t->p11->C_Login(t->session, CKU_USER, (CK_UTF8CHAR_PTR)pin,
	    (CK_ULONG)len);
	explicit_bzero(pin, sizeof(pin));
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		fprintf(stderr, "p11_rate: C_Login failed (0x%lx)\n", rv);
		return -1;
	}
	return 0;
}

static int
parse_hex(const char *hex, unsigned char *out, size_t *len)
{
	size_t n = strlen(hex), i;
	unsigned int byte;

	if (n % 2 != 0 || n / 2 > KEY_ID_MAX)
		return -1;
	for (i = 0; i < n / 2; i++) {
		if (sscanf(hex + 2 * i, "%2x", &byte) != 1)
			return -1;
		out[i] = (unsigned char)byte;
	}
	*len = n / 2;
	return 0;
}

static int
find_key(struct token *t, const char *id_hex)
{
	unsigned char id[KEY_ID_MAX];
	size_t id_len;
	CK_OBJECT_CLASS class = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE query[] = {
		{ CKA_CLASS, &class, sizeof(class) },
		{ CKA_ID, id, 0 },
	};
	CK_ATTRIBUTE type = { CKA_KEY_TYPE, &t->key_type,
	    sizeof(t->key_type) };
	CK_ULONG found = 0;

	if (parse_hex(id_hex, id, &id_len) != 0) {
		fprintf(stderr, "p11_rate: invalid KEY-ID-HEX \"%s\"\n",
		    id_hex);
		return -1;
	}
	query[1].ulValueLen = id_len;
	if (t->p11->C_FindObjectsInit(t->session, query, 2) != CKR_OK ||
	    t->p11->C_FindObjects(t->session, &t->key, 1, &found) != CKR_OK)
		return -1;
	t->p11->C_FindObjectsFinal(t->session);
	if (found != 1 || t->p11->C_GetAttributeValue(t->session, t->key,
	    &type, 1) != CKR_OK) {
		fprintf(stderr, "p11_rate: no private key with id %s\n",
		    id_hex);
		return -1;
	}
	return 0;
}

static int
sign_once(struct token *t, const unsigned char *message)
{
	CK_MECHANISM mech = { CKM_SHA256_RSA_PKCS, NULL, 0 };
	unsigned char digest[SHA256_DIGEST_LENGTH], sig[1024];
	CK_ULONG siglen = sizeof(sig);
	const unsigned char *input = message;
	CK_ULONG input_len = MESSAGE_LEN;

	if (t->key_type == CKK_EC) {
		SHA256(message, MESSAGE_LEN, digest);
		mech.mechanism = CKM_ECDSA;
		input = digest;
		input_len = sizeof(digest);
	}
	if (t->p11->C_SignInit(t->session, &mech, t->key) != CKR_OK ||
	    t->p11->C_Sign(t->session, (CK_BYTE_PTR)input, input_len, sig,
	    &siglen) != CKR_OK)
		return -1;
	return 0;
}

/* Generates one P-256 token key pair as the signer does. */
static int
generate_once(struct token *t, long n)
{
	static const CK_BYTE p256[] = {
		0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
	};
	CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_BYTE id[16];
	char label[64];
	CK_OBJECT_HANDLE pub, priv;

	for (size_t i = 0; i < sizeof(id); i++)
		id[i] = (CK_BYTE)(rand() & 0xff);
	snprintf(label, sizeof(label), "bench/keygen/%ld", n);
	CK_ATTRIBUTE pub_attrs[] = {
		{ CKA_TOKEN, &yes, 1 },
		{ CKA_PRIVATE, &no, 1 },
		{ CKA_VERIFY, &yes, 1 },
		{ CKA_ENCRYPT, &no, 1 },
		{ CKA_WRAP, &no, 1 },
		{ CKA_DERIVE, &no, 1 },
		{ CKA_EC_PARAMS, (void *)p256, sizeof(p256) },
		{ CKA_ID, id, sizeof(id) },
		{ CKA_LABEL, label, strlen(label) },
	};
	CK_ATTRIBUTE priv_attrs[] = {
		{ CKA_TOKEN, &yes, 1 },
		{ CKA_PRIVATE, &yes, 1 },
		{ CKA_SENSITIVE, &yes, 1 },
		{ CKA_EXTRACTABLE, &no, 1 },
		{ CKA_SIGN, &yes, 1 },
		{ CKA_DECRYPT, &no, 1 },
		{ CKA_UNWRAP, &no, 1 },
		{ CKA_DERIVE, &no, 1 },
		{ CKA_ID, id, sizeof(id) },
		{ CKA_LABEL, label, strlen(label) },
	};

	return t->p11->C_GenerateKeyPair(t->session, &mech, pub_attrs,
	    sizeof(pub_attrs) / sizeof(pub_attrs[0]), priv_attrs,
	    sizeof(priv_attrs) / sizeof(priv_attrs[0]), &pub, &priv) ==
	    CKR_OK ? 0 : -1;
}

static double
cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
parse_count(const char *text, long *count)
{
	char *end;

	*count = strtol(text, &end, 10);
	if (*end == '\0' && *count >= 1)
		return 0;
	fprintf(stderr, "p11_rate: invalid COUNT \"%s\"; use a positive "
	    "number\n", text);
	return -1;
}

static void
print_line(const char *key_type, long count, double seconds,
    double cpu_start)
{
	printf("key_type=%s count=%ld seconds=%.3f per_second=%.0f "
	    "cpu_s=%.3f\n", key_type, count, seconds,
	    (double)count / seconds, cpu_seconds() - cpu_start);
}

static int
run_keygen(char **argv)
{
	struct token t = { 0 };
	double start, cpu_start;
	long count, i;

	if (parse_count(argv[3], &count) != 0)
		return 2;
	if (load_module(argv[0], &t) != 0 || open_session(&t, argv[1]) != 0 ||
	    login(&t, argv[2]) != 0)
		return 1;
	cpu_start = cpu_seconds();
	start = now_seconds();
	for (i = 0; i < count; i++) {
		if (generate_once(&t, i) != 0) {
			fprintf(stderr, "p11_rate: C_GenerateKeyPair failed "
			    "for key %ld of %ld; check the token's free space "
			    "and SOFTHSM2_CONF\n", i + 1, count);
			return 1;
		}
	}
	print_line("ec-keygen", count, now_seconds() - start, cpu_start);
	t.p11->C_Logout(t.session);
	t.p11->C_CloseSession(t.session);
	t.p11->C_Finalize(NULL);
	return 0;
}

int
main(int argc, char **argv)
{
	struct token t = { 0 };
	unsigned char message[MESSAGE_LEN];
	double start, cpu_start;
	long count, i;

	if (argc == 6 && strcmp(argv[1], "--keygen") == 0)
		return run_keygen(argv + 2);
	if (argc != 6) {
		fprintf(stderr, "usage: p11_rate MODULE TOKEN-LABEL PIN-FILE "
		    "KEY-ID-HEX COUNT\n"
		    "       p11_rate --keygen MODULE TOKEN-LABEL PIN-FILE "
		    "COUNT\n");
		return 2;
	}
	if (parse_count(argv[5], &count) != 0)
		return 2;
	memset(message, 'a', sizeof(message));
	if (load_module(argv[1], &t) != 0 || open_session(&t, argv[2]) != 0 ||
	    login(&t, argv[3]) != 0 || find_key(&t, argv[4]) != 0)
		return 1;
	for (i = 0; i < 20; i++)
		if (sign_once(&t, message) != 0)
			goto failed;
	cpu_start = cpu_seconds();
	start = now_seconds();
	for (i = 0; i < count; i++)
		if (sign_once(&t, message) != 0)
			goto failed;
	print_line(t.key_type == CKK_EC ? "ec" : "rsa", count,
	    now_seconds() - start, cpu_start);
	t.p11->C_Logout(t.session);
	t.p11->C_CloseSession(t.session);
	t.p11->C_Finalize(NULL);
	return 0;
failed:
	fprintf(stderr, "p11_rate: C_Sign failed\n");
	return 1;
}
