/*
 * The key labels that bind a key to an issuer and account or to a tenant,
 * and the table of CSRs the signer built, which finalize checks.
 */
#include <string.h>

#include "signer/signer.h"
#include "tests/unit/check.h"

static const char hex[] = "0123456789abcdef0123456789abcdef";

static void
test_label_roundtrip(void)
{
	struct key_binding in = { .purpose = KEY_PURPOSE_ACCOUNT };
	struct key_binding out;
	char label[KEY_LABEL_MAX];

	strcpy(in.issuer, "pebble");
	strcpy(in.account, "main-1");
	CHECK_INT(key_label_format(&in, hex, label, sizeof(label)), 0);
	CHECK_STR(label, "custos/account/pebble/main-1/"
	    "0123456789abcdef0123456789abcdef");
	CHECK_INT(key_label_parse(label, hex, &out), 0);
	CHECK_INT(out.purpose, KEY_PURPOSE_ACCOUNT);
	CHECK_STR(out.issuer, "pebble");
	CHECK_STR(out.account, "main-1");

	in = (struct key_binding){ .purpose = KEY_PURPOSE_CERTIFICATE };
	strcpy(in.tenant, "alpha");
	CHECK_INT(key_label_format(&in, hex, label, sizeof(label)), 0);
	CHECK_STR(label, "custos/certificate/alpha/"
	    "0123456789abcdef0123456789abcdef");
	CHECK_INT(key_label_parse(label, hex, &out), 0);
	CHECK_INT(out.purpose, KEY_PURPOSE_CERTIFICATE);
	CHECK_STR(out.tenant, "alpha");
}

static void
test_label_longest_fits(void)
{
	struct key_binding in = { .purpose = KEY_PURPOSE_ACCOUNT };
	struct key_binding out;
	char label[KEY_LABEL_MAX];

	memset(in.issuer, 'i', KEY_NAME_MAX);
	memset(in.account, 'a', KEY_NAME_MAX);
	CHECK_INT(key_label_format(&in, hex, label, sizeof(label)), 0);
	CHECK_INT(strlen(label), KEY_LABEL_MAX - 1);
	CHECK_INT(key_label_parse(label, hex, &out), 0);
	CHECK_INT(strlen(out.account), KEY_NAME_MAX);
}

static void
test_label_format_rejects(void)
{
	struct key_binding in = { .purpose = KEY_PURPOSE_ACCOUNT };
	char label[KEY_LABEL_MAX];

	strcpy(in.issuer, "a/b");
	strcpy(in.account, "main");
	CHECK_INT(key_label_format(&in, hex, label, sizeof(label)), -1);
	strcpy(in.issuer, "pebble");
	in.account[0] = '\0';
	CHECK_INT(key_label_format(&in, hex, label, sizeof(label)), -1);
	strcpy(in.account, "main");
	CHECK_INT(key_label_format(&in, hex, label, 20), -1);
}

static void
test_label_parse_rejects(void)
{
	static const char *const labels[] = {
		"custos-account-0123456789abcdef0123456789abcdef",
		"custos/account/pebble/0123456789abcdef0123456789abcdef",
		"custos/account/pebble/main/0123456789abcdef0123456789abcdee",
		"custos/account/pebble/main/0123456789abcdef0123456789abcdef/",
		"custos/account/pebble/main/x/0123456789abcdef0123456789abcdef",
		"custos/account//main/0123456789abcdef0123456789abcdef",
		/* Parentheses: one element made of two literals. */
		("custos/certificate/alpha/beta/"
		    "0123456789abcdef0123456789abcdef"),
		"custos/certificate/0123456789abcdef0123456789abcdef",
		"custos/certificate/alpha/",
		"Custos/certificate/alpha/0123456789abcdef0123456789abcdef",
		"",
	};
	struct key_binding out;
	size_t i;

	for (i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
		if (key_label_parse(labels[i], hex, &out) != -1) {
			printf("#   accepted \"%s\"\n", labels[i]);
			CHECK(0);
		}
	}
}

/* The id of the key that signed the CSRs of the table tests. */
static const unsigned char key_id[KEY_ID_BYTES] = {
	0x0f, 0x0e, 0x0d, 0x0c, 0x0b, 0x0a, 0x09, 0x08,
	0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0x00,
};

static void
test_csr_table_lookup(void)
{
	static struct csr_table table;
	const struct csr_record *record;
	json_t *names = json_pack("[s, s]", "a.alpha.test", "b.alpha.test");

	CHECK_INT(csr_table_add(&table, "alpha", key_id, "AQID", names), 0);
	CHECK_INT(csr_table_find(&table, "alpha", "AQID", &record),
	    CSR_FOUND);
	CHECK_STR(record->names, "a.alpha.test, b.alpha.test");
	CHECK_INT(memcmp(record->key_id, key_id, KEY_ID_BYTES), 0);
	CHECK_INT(csr_table_find(&table, "beta", "AQID", &record),
	    CSR_OTHER_TENANT);
	CHECK_STR(record->tenant, "alpha");
	CHECK_INT(csr_table_find(&table, "alpha", "AQIE", &record),
	    CSR_UNKNOWN);
	CHECK_INT(csr_table_find(&table, "alpha", "AQ+D", &record),
	    CSR_INVALID);
	CHECK_INT(csr_table_find(&table, "alpha", "", &record), CSR_INVALID);
	json_decref(names);
}

static void
test_csr_table_evicts_oldest(void)
{
	static struct csr_table table;
	const struct csr_record *record;
	json_t *names = json_pack("[s]", "a.test");
	char b64[16];
	size_t i;

	for (i = 0; i <= CSR_TABLE_SIZE; i++) {
		snprintf(b64, sizeof(b64), "AAAA%04zx", i);
		CHECK_INT(csr_table_add(&table, "t", key_id, b64, names), 0);
	}
	CHECK_INT(csr_table_find(&table, "t", "AAAA0000", &record),
	    CSR_UNKNOWN);
	CHECK_INT(csr_table_find(&table, "t", "AAAA0001", &record),
	    CSR_FOUND);
	snprintf(b64, sizeof(b64), "AAAA%04x", CSR_TABLE_SIZE);
	CHECK_INT(csr_table_find(&table, "t", b64, &record), CSR_FOUND);
	json_decref(names);
}

int
main(void)
{
	RUN(test_label_roundtrip);
	RUN(test_label_longest_fits);
	RUN(test_label_format_rejects);
	RUN(test_label_parse_rejects);
	RUN(test_csr_table_lookup);
	RUN(test_csr_table_evicts_oldest);
	return check_done();
}
