/* Certificate download (RFC 8555 section 7.4.2), a POST-as-GET. */
#include "broker/acme.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/headers.h"
#include "logging/log.h"

#define PEM_CHAIN_TYPE "application/pem-certificate-chain"

int
acme_certificate_download(struct acme_client *client,
    const struct acme_order *order, char **pem, size_t *pem_len)
{
	struct http_response resp = { 0 };
	const char *type;
	int rc = -1;

	*pem = NULL;
	*pem_len = 0;
	if (acme_post(client, order->certificate, "", 0, PEM_CHAIN_TYPE,
	    &resp) != 0)
		return -1;
	/*
	 * A missing Content-Type is accepted because the PEM parser checks
	 * the body anyway, but a different media type is rejected.
	 */
	type = http_response_header(&resp, "Content-Type", 0);
	if (type == NULL)
		log_warn("the certificate from %s has no Content-Type; reading "
		    "it as " PEM_CHAIN_TYPE, order->certificate);
	else if (!header_media_type_is(type, PEM_CHAIN_TYPE)) {
		snprintf(client->err, sizeof(client->err), "invalid "
		    "certificate from the CA: Content-Type is \"%.64s\", "
		    "expected "
		    PEM_CHAIN_TYPE, type != NULL ? type : "");
		goto out;
	}
	if (resp.body == NULL || resp.body_len == 0) {
		snprintf(client->err, sizeof(client->err), "invalid "
		    "certificate from the CA: empty body");
		goto out;
	}
	*pem = resp.body;
	*pem_len = resp.body_len;
	resp.body = NULL;
	rc = 0;
out:
	http_response_clear(&resp);
	return rc;
}
