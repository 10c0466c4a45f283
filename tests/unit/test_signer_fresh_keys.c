/*
 * The table of certificate keys generated in the current signer run,
 * which decides whether the broker may destroy a key of a failed
 * issuance.
 */
#include <string.h>

#include "signer/signer.h"
#include "tests/unit/check.h"

static struct fresh_keys table;

static void
make_id(unsigned char id[KEY_ID_BYTES], unsigned int n)
{
	memset(id, 0, KEY_ID_BYTES);
	memcpy(id, &n, sizeof(n));
}

static int
may_discard(const char *tenant, unsigned int n, char *err, size_t errlen)
{
	unsigned char id[KEY_ID_BYTES];

	make_id(id, n);
	return fresh_keys_check_discard(&table, tenant, id, err, errlen);
}

static void
test_fresh_keys_discard(void)
{
	unsigned char id[KEY_ID_BYTES];
	char err[256];

	memset(&table, 0, sizeof(table));
	make_id(id, 1);
	fresh_keys_add(&table, "alpha", id);
	CHECK_INT(may_discard("alpha", 1, err, sizeof(err)), 0);
	CHECK_INT(may_discard("beta", 1, err, sizeof(err)), -1);
	CHECK_STR(err, "the key is neither the old key of a key change this "
	    "signer signed nor a certificate key it generated for tenant "
	    "beta");
	CHECK_INT(may_discard("alpha", 2, err, sizeof(err)), -1);

	fresh_keys_forget(&table, id);
	CHECK_INT(may_discard("alpha", 1, err, sizeof(err)), -1);
}

static void
test_fresh_keys_spent(void)
{
	unsigned char id[KEY_ID_BYTES];
	char err[256];

	memset(&table, 0, sizeof(table));
	make_id(id, 7);
	fresh_keys_add(&table, "alpha", id);
	fresh_keys_spend(&table, id);
	CHECK_INT(may_discard("alpha", 7, err, sizeof(err)), -1);
	CHECK_STR(err, "a finalize request with a CSR of this key was "
	    "signed, so a CA may have certified it");
}

static void
test_fresh_keys_evicts_oldest(void)
{
	unsigned char id[KEY_ID_BYTES];
	char err[256];
	unsigned int i;

	memset(&table, 0, sizeof(table));
	for (i = 0; i <= FRESH_KEYS_MAX; i++) {
		make_id(id, 100 + i);
		fresh_keys_add(&table, "alpha", id);
	}
	CHECK_INT(may_discard("alpha", 100, err, sizeof(err)), -1);
	CHECK_INT(may_discard("alpha", 101, err, sizeof(err)), 0);
	CHECK_INT(may_discard("alpha", 100 + FRESH_KEYS_MAX, err,
	    sizeof(err)), 0);
}

int
main(void)
{
	RUN(test_fresh_keys_discard);
	RUN(test_fresh_keys_spent);
	RUN(test_fresh_keys_evicts_oldest);
	return check_done();
}
