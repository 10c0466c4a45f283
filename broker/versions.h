/*
 * Versions of a managed certificate in the store (broker/store.h): the
 * checks a downloaded certificate passes before it may become current,
 * the atomic switch of STORE/TENANT/LABEL/current, and the deploy hook.
 *
 * Functions return 0, or -1 with a one-line message in err.
 */
#ifndef CUSTOS_BROKER_VERSIONS_H
#define CUSTOS_BROKER_VERSIONS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "broker/certificate.h"
#include "broker/names.h"
#include "config/config.h"

/*
 * Checks a chain before activation: the leaf's key is jwk, its SANs are
 * exactly names (no more, no fewer), now is inside its validity, and the
 * chain verifies against trust_anchors (a PEM file), or when that is
 * NULL, against the last certificate of the chain itself.
 */
int versions_check(const struct cert_chain *chain, const json_t *jwk,
    const struct acme_names *names, const char *trust_anchors, time_t now,
    char *err, size_t errlen);

/* Sets the leaf's notBefore and notAfter as Unix times. */
int versions_validity(const struct cert_chain *chain, int64_t *not_before,
    int64_t *not_after, char *err, size_t errlen);

/* Returns 1 when STORE/TENANT/LABEL/VERSION exists, 0 otherwise. */
int versions_exists(const char *store_dir, const char *tenant,
    const char *label, const char *version);

/* Returns 1 when STORE/TENANT/LABEL/current points at version. */
int versions_is_current(const char *store_dir, const char *tenant,
    const char *label, const char *version);

/*
 * Removes what a killed writer left in STORE/TENANT/LABEL: ".tmp-*"
 * directories of store_certificate and the ".current-*" and ".switch-*"
 * symlinks of a switch. Sets *removed to their number.
 */
int versions_clean(const char *store_dir, const char *tenant,
    const char *label, int *removed, char *err, size_t errlen);

/* Points STORE/TENANT/LABEL/current at version by an atomic rename. */
int versions_switch(const char *store_dir, const char *tenant,
    const char *label, const char *version, char *err, size_t errlen);

/* What the deploy hook receives in its environment. */
struct deploy_info {
	const char *store_dir;
	const char *tenant;
	const char *label;
	const char *version;
	const char *names;	/* separated by spaces */
	int64_t cert_id;
	int rollback;		/* 1 when restoring an earlier version */
};

/*
 * Runs the configured deploy hook, if any, with CUSTOS_* variables naming
 * the version and its files, and kills it after deploy-timeout seconds.
 * Returns 0 when it exits 0 or none is configured.
 */
int versions_deploy(const struct config_daemon *daemon,
    const struct deploy_info *info, char *err, size_t errlen);

#endif
