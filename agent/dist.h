/*
 * The body of GET /v1/distribution/REF (docs/api.md), checked member by
 * member before the agent writes anything: JSON types, sizes, PEM
 * certificates, the version name, the key's export mode and, for a
 * wrapped key, its format, OAEP hash, recipient and base64 blob.
 */
#ifndef CUSTOS_AGENT_DIST_H
#define CUSTOS_AGENT_DIST_H

#include <stddef.h>

#include "agent/unwrap.h"

/* Longest version name, which also names a directory. */
#define DIST_VERSION_MAX 90
/* Largest PEM member (certificate, chain or fullchain). */
#define DIST_PEM_MAX (256 * 1024)
#define DIST_URI_MAX 2048

enum dist_export {
	DIST_EXPORT_HSM = 0,
	DIST_EXPORT_WRAPPED,
};

struct dist_doc {
	char version[DIST_VERSION_MAX + 1];
	char *certificate;	/* one PEM certificate */
	char *chain;		/* one or more PEM certificates */
	char *fullchain;	/* certificate followed by chain */
	enum dist_export export;
	char *uri;		/* DIST_EXPORT_HSM: the key's pkcs11: URI */
	/* DIST_EXPORT_WRAPPED: */
	char oaep_hash[8];	/* "sha256" or "sha1" */
	char recipient[RECIPIENT_FINGERPRINT_SIZE];
	char key_type[16];
	unsigned char *blob;	/* decoded data */
	size_t blob_len;
};

/*
 * Parses and checks body. Returns 0, or -1 with err naming the member
 * and what is wrong with it, never its contents.
 */
int dist_parse(const char *body, size_t len, struct dist_doc *doc, char *err,
    size_t errlen);

void dist_clear(struct dist_doc *doc);

/*
 * Decodes standard base64 with padding and no line breaks, strictly.
 * Returns a new buffer of *out_len bytes, or NULL for any other input.
 */
unsigned char *dist_base64_decode(const char *text, size_t *out_len);

/* Returns 1 when name is a safe version name (it becomes a directory). */
int dist_version_valid(const char *name);

#endif
