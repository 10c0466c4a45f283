/*
 * The certificate store: STORE/TENANT/LABEL/VERSION/{cert,chain,
 * fullchain}.pem and key.uri, with STORE/TENANT/LABEL/current a symlink to
 * the newest VERSION. Each tenant has its own directory, so two tenants
 * never share a LABEL. TENANT is a tenant name from the policy, which
 * allows only letters, digits, "-" and "_". LABEL is the first requested
 * name with "*" replaced by "_wildcard". VERSION is the UTC time and the
 * certificate serial in hex, for example 20261204T163000Z-0a1b2c.
 */
#ifndef CUSTOS_BROKER_STORE_H
#define CUSTOS_BROKER_STORE_H

#include <stddef.h>
#include <time.h>

struct store_files {
	const char *cert_pem;		/* the leaf certificate */
	const char *chain_pem;		/* the issuers, may be "" */
	const char *fullchain_pem;
	const char *key_uri;		/* RFC 7512 URI of the private key */
};

/* Formats VERSION from a time and a lowercase hex serial into out. */
int store_version_name(time_t when, const char *serial_hex, char *out,
    size_t outlen);

/*
 * Checks, without creating anything, that store_certificate can store a
 * version of LABEL with the current effective user: the deepest existing
 * directory of STORE/TENANT/LABEL is writable, no other file is in the
 * way, and LABEL/current, if present, is a symlink.
 */
int store_check_writable(const char *store_dir, const char *tenant,
    const char *label, char *err, size_t errlen);

/*
 * Writes the files into a new temporary directory beside VERSION (each
 * file fsynced), renames it to VERSION, fsyncs LABEL and replaces the
 * current symlink atomically. The TENANT and LABEL directories are
 * created when missing. On failure no new version is left behind and
 * current is unchanged. Sets *stored to the malloc'd VERSION path.
 * Returns 0, or -1 with a message in err.
 */
int store_certificate(const char *store_dir, const char *tenant,
    const char *label, const char *version, const struct store_files *files,
    char **stored, char *err, size_t errlen);

#endif
