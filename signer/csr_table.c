/*
 * The CSRs this signer process built, by the SHA-256 digest of their DER
 * form, with the tenant each was built for. A finalize payload may carry
 * only one of them, so a broker cannot finalize an order with a CSR it
 * made itself or one built for another tenant. The table keeps the newest
 * CSR_TABLE_SIZE entries and overwrites the oldest. It lives only as long
 * as the process.
 */
#include "signer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "encoding/base64url.h"

/* Writes the names as "a.test, b.test", cut to fit out. */
static void
join_names(const json_t *names, char *out, size_t outlen)
{
	size_t i, pos = 0;
	int n;

	out[0] = '\0';
	for (i = 0; i < json_array_size(names) && pos < outlen; i++) {
		n = snprintf(out + pos, outlen - pos, "%s%s", i ? ", " : "",
		    json_string_value(json_array_get(names, i)));
		if (n < 0)
			return;
		pos += (size_t)n;
	}
}

static int
digest_der(const unsigned char *der, size_t len,
    unsigned char digest[CSR_DIGEST_LEN])
{
	unsigned int digest_len = 0;

	if (EVP_Digest(der, len, digest, &digest_len, EVP_sha256(),
	    NULL) != 1 || digest_len != CSR_DIGEST_LEN)
		return -1;
	return 0;
}

/*
 * Decodes a base64url CSR into a new buffer. Returns its length, or -1
 * for invalid base64url or no memory.
 */
static long
decode_csr(const char *b64, unsigned char **der)
{
	size_t len = strlen(b64);
	long der_len;

	*der = malloc(len * 3 / 4 + 1);
	if (*der == NULL)
		return -1;
	der_len = base64url_decode(b64, len, *der);
	if (der_len <= 0) {
		free(*der);
		*der = NULL;
		return -1;
	}
	return der_len;
}

/* Records a CSR built for tenant. Returns 0, or -1 when out of memory. */
int
csr_table_add(struct csr_table *table, const char *tenant,
    const unsigned char key_id[KEY_ID_BYTES], const char *b64,
    const json_t *names)
{
	struct csr_record *record = &table->records[table->next];
	unsigned char *der = NULL;
	long der_len;
	int rc = -1;

	der_len = decode_csr(b64, &der);
	if (der_len < 0)
		return -1;
	memset(record, 0, sizeof(*record));
	if (digest_der(der, (size_t)der_len, record->digest) != 0)
		goto out;
	memcpy(record->key_id, key_id, KEY_ID_BYTES);
	snprintf(record->tenant, sizeof(record->tenant), "%s", tenant);
	join_names(names, record->names, sizeof(record->names));
	record->used = 1;
	table->next = (table->next + 1) % CSR_TABLE_SIZE;
	rc = 0;
out:
	free(der);
	return rc;
}

/*
 * Looks up the CSR b64 (base64url DER) for tenant. Returns
 * CSR_FOUND with *record set, CSR_OTHER_TENANT (with *record set to
 * the other tenant's entry), CSR_UNKNOWN, or CSR_INVALID for text that is
 * not base64url.
 */
enum csr_lookup
csr_table_find(const struct csr_table *table, const char *tenant,
    const char *b64, const struct csr_record **record)
{
	unsigned char digest[CSR_DIGEST_LEN];
	enum csr_lookup result = CSR_UNKNOWN;
	unsigned char *der = NULL;
	long der_len;
	size_t i;

	*record = NULL;
	der_len = decode_csr(b64, &der);
	if (der_len < 0 || digest_der(der, (size_t)der_len, digest) != 0) {
		free(der);
		return CSR_INVALID;
	}
	free(der);
	for (i = 0; i < CSR_TABLE_SIZE; i++) {
		const struct csr_record *r = &table->records[i];

		if (!r->used || CRYPTO_memcmp(r->digest, digest,
		    CSR_DIGEST_LEN) != 0)
			continue;
		*record = r;
		if (strcmp(r->tenant, tenant) == 0)
			return CSR_FOUND;
		result = CSR_OTHER_TENANT;
	}
	return result;
}
