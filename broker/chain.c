/*
 * Preferred chain selection by the common name of the top certificate's
 * issuer, the root that a client trusting that chain needs.
 */
#include "broker/chain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "broker/headers.h"
#include "logging/log.h"

#define PEM_CHAIN_TYPE "application/pem-certificate-chain"

int
chain_top_issuer(const char *pem, size_t len, char *out, size_t outlen)
{
	BIO *bio;
	X509 *cert, *last = NULL;
	int n = -1;

	out[0] = '\0';
	if (len > INT32_MAX || (bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return -1;
	while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		X509_free(last);
		last = cert;
	}
	if (last != NULL)
		n = X509_NAME_get_text_by_NID(X509_get_issuer_name(last),
		    NID_commonName, out, (int)outlen);
	X509_free(last);
	BIO_free(bio);
	return n > 0 ? 0 : -1;
}

/* Downloads one chain; alternates (when not NULL) receives its Links. */
static int
fetch_chain(struct acme_client *client, const char *url, char **pem,
    size_t *pem_len, struct string_list *alternates)
{
	struct http_response resp = { 0 };
	const char *type, *link;
	int rc = -1;

	if (acme_post(client, url, "", 0, PEM_CHAIN_TYPE, &resp) != 0)
		return -1;
	type = http_response_header(&resp, "Content-Type", 0);
	if (type != NULL && !header_media_type_is(type, PEM_CHAIN_TYPE)) {
		snprintf(client->err, sizeof(client->err), "invalid "
		    "certificate chain from %s: Content-Type is \"%.64s\", "
		    "expected " PEM_CHAIN_TYPE, url, type);
		goto out;
	}
	if (resp.body == NULL || resp.body_len == 0) {
		snprintf(client->err, sizeof(client->err), "invalid "
		    "certificate chain from %s: empty body", url);
		goto out;
	}
	for (size_t i = 0; alternates != NULL &&
	    (link = http_response_header(&resp, "Link", i)) != NULL; i++)
		if (header_link_collect(link, "alternate", alternates) != 0)
			log_warn("ignoring an invalid Link header from %s", url);
	*pem = resp.body;
	*pem_len = resp.body_len;
	resp.body = NULL;
	rc = 0;
out:
	http_response_clear(&resp);
	return rc;
}

/*
 * Tries the alternates in order and replaces *pem with the first whose
 * top issuer is wanted. Returns 1 when one was taken, 0 when none, -1 on
 * a failed download.
 */
static int
take_alternate(struct acme_client *client, const struct string_list *urls,
    const char *wanted, char **pem, size_t *pem_len)
{
	char top[CHAIN_NAME_MAX], *alt = NULL;
	size_t alt_len = 0;

	for (size_t i = 0; i < urls->count && i < CHAIN_ALTERNATES_MAX; i++) {
		if (!http_url_is_https(urls->items[i]))
			continue;
		if (fetch_chain(client, urls->items[i], &alt, &alt_len,
		    NULL) != 0)
			return -1;
		if (chain_top_issuer(alt, alt_len, top, sizeof(top)) == 0 &&
		    strcmp(top, wanted) == 0) {
			log_info("chain: taking the alternate chain %s, which "
			    "ends at \"%s\"", urls->items[i], top);
			free(*pem);
			*pem = alt;
			*pem_len = alt_len;
			return 1;
		}
		free(alt);
		alt = NULL;
	}
	return 0;
}

int
chain_download(struct acme_client *client, const struct acme_order *order,
    char **pem, size_t *pem_len)
{
	const char *wanted = client->issuer->preferred_chain;
	struct string_list alternates = { 0 };
	char top[CHAIN_NAME_MAX];
	int rc;

	if (wanted == NULL)
		return acme_certificate_download(client, order, pem, pem_len);
	*pem = NULL;
	*pem_len = 0;
	if (fetch_chain(client, order->certificate, pem, pem_len,
	    &alternates) != 0)
		return -1;
	if (chain_top_issuer(*pem, *pem_len, top, sizeof(top)) == 0 &&
	    strcmp(top, wanted) == 0) {
		log_info("chain: the default chain ends at \"%s\"", top);
		string_list_clear(&alternates);
		return 0;
	}
	rc = take_alternate(client, &alternates, wanted, pem, pem_len);
	if (rc == 0)
		log_info("chain: no chain of the %zu offered ends at \"%s\"; "
		    "keeping the default chain, which ends at \"%s\"",
		    alternates.count + 1, wanted, top);
	string_list_clear(&alternates);
	if (rc < 0) {
		free(*pem);
		*pem = NULL;
		return -1;
	}
	return 0;
}
