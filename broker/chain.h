/*
 * The choice among the certificate chains an ACME server offers (RFC 8555
 * section 7.4.2): the default chain, and alternates named by Link
 * rel="alternate" header fields of the download.
 */
#ifndef CUSTOS_BROKER_CHAIN_H
#define CUSTOS_BROKER_CHAIN_H

#include <stddef.h>

#include "broker/acme.h"

#define CHAIN_ALTERNATES_MAX 8	/* alternate chains fetched at most */
#define CHAIN_NAME_MAX 256

/*
 * Writes the common name of the issuer of the last certificate in a PEM
 * chain (the root that the chain ends at) into out. Returns 0, or -1 when
 * the text holds no certificate or that issuer has no common name.
 */
int chain_top_issuer(const char *pem, size_t len, char *out, size_t outlen);

/*
 * Downloads the order's certificate chain. Without preferred-chain in the
 * issuer block this is the default chain. With it, the first chain whose
 * top issuer's common name equals preferred-chain is taken: the default
 * one or an alternate, tried in the server's order. When none matches,
 * the default chain is kept and the log says so. Sets *pem (malloc'd) and
 * *pem_len; returns 0, or -1 with client->err set.
 */
int chain_download(struct acme_client *client, const struct acme_order *order,
    char **pem, size_t *pem_len);

#endif
