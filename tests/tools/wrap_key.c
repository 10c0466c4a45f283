/*
 * wrap_key: wraps a PKCS#8 PEM private key to a recipient's RSA public
 * key as Custos's wrapped export does, for the agent's tests.
 *
 * Usage: wrap_key KEY.pem RECIPIENT-PUBLIC.pem sha256|sha1
 * Prints the blob as standard base64 with padding on one line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "tests/unit/wrap_blob.h"

static EVP_PKEY *
read_pem(const char *path, int private)
{
	EVP_PKEY *key;
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		perror(path);
		return NULL;
	}
	key = private ? PEM_read_PrivateKey(f, NULL, NULL, NULL) :
	    PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	if (key == NULL)
		fprintf(stderr, "wrap_key: %s: not a PEM %s key\n", path,
		    private ? "private" : "public");
	return key;
}

int
main(int argc, char **argv)
{
	EVP_PKEY *key, *recipient;
	unsigned char *blob, *text;
	const EVP_MD *md;
	size_t len = 0;

	if (argc != 4 || (strcmp(argv[3], "sha256") != 0 &&
	    strcmp(argv[3], "sha1") != 0)) {
		fprintf(stderr, "usage: wrap_key KEY.pem RECIPIENT-PUBLIC.pem "
		    "sha256|sha1\n");
		return 2;
	}
	md = strcmp(argv[3], "sha256") == 0 ? EVP_sha256() : EVP_sha1();
	key = read_pem(argv[1], 1);
	recipient = read_pem(argv[2], 0);
	if (key == NULL || recipient == NULL)
		return 1;
	blob = wrap_blob(key, recipient, md, &len);
	if (blob == NULL) {
		fprintf(stderr, "wrap_key: wrapping failed\n");
		return 1;
	}
	text = malloc(4 * ((len + 2) / 3) + 1);
	if (text == NULL)
		return 1;
	EVP_EncodeBlock(text, blob, (int)len);
	printf("%s\n", text);
	free(text);
	free(blob);
	EVP_PKEY_free(key);
	EVP_PKEY_free(recipient);
	return 0;
}
