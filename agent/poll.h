/*
 * One poll of one certificate: fetch with If-None-Match, check the body,
 * unwrap a wrapped key, write and activate the new version, run the
 * reload command, and roll back when it fails.
 */
#ifndef CUSTOS_AGENT_POLL_H
#define CUSTOS_AGENT_POLL_H

#include <openssl/evp.h>

#include "agent/agent_conf.h"
#include "agent/unwrap.h"

struct agent_state {
	const struct agent_config *config;
	const char *token;
	EVP_PKEY *recipient;	/* NULL without recipient-key */
	char fingerprint[RECIPIENT_FINGERPRINT_SIZE];
};

/*
 * Polls cert. Returns 0 when it is up to date (unchanged or written and
 * reloaded), -1 after logging the failure.
 */
int poll_cert(const struct agent_state *state, const struct agent_cert *cert);

#endif
