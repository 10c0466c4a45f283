/*
 * The broker's records of ACME accounts and the choice of an account for
 * an order. Each account has a JSON record in the state directory:
 *
 *	STATE-DIR/accounts/ISSUER/ACCOUNT.json
 *	{"key_id": HEX, "url": URL, "status": "valid", "created": SECONDS,
 *	 "last_used": SECONDS, "cooldown_until": SECONDS,
 *	 "cooldown_reason": TEXT}
 *
 * and an issuer that answered 503 has STATE-DIR/accounts/ISSUER/
 * .cooldown.json with the last two members. Times are seconds since the
 * epoch; every member but "key_id" may be absent.
 */
#ifndef CUSTOS_BROKER_ACCOUNT_H
#define CUSTOS_BROKER_ACCOUNT_H

#include <stddef.h>
#include <time.h>

#include "config/config.h"
#include "ipc/ipc.h"
#include "policy/policy.h"

/* Longest cooldown after a rate limit or a 503, in seconds. */
#define ACCOUNT_COOLDOWN_MAX (6 * 3600)
/* Cooldown when the CA sends no usable Retry-After, in seconds. */
#define ACCOUNT_COOLDOWN_DEFAULT 60
#define ACCOUNT_REASON_MAX 256

struct account_record {
	char key_id[IPC_KEY_ID_LEN + 1];	/* "" before a key exists */
	char *url;			/* account URL, NULL before it */
	char status[16];		/* "valid", "deactivated", or "" */
	long long created;		/* 0: unknown */
	long long last_used;
	long long cooldown_until;
	char cooldown_reason[ACCOUNT_REASON_MAX];
};

/* One issuer and account that an order may use. */
struct account_candidate {
	const struct config_issuer *issuer;
	const char *account;
	long long last_used;
	long long cooldown_until;	/* the account's or issuer's */
};

struct account_plan {
	struct account_candidate *items;
	size_t count;
	size_t next;			/* the candidate to try next */
};

/*
 * Sets *path to the malloc'd record path, and *dir to its directory when
 * dir is not NULL. account NULL names the issuer's cooldown file.
 */
int account_record_path(const char *state_dir, const char *issuer,
    const char *account, char **dir, char **path, char *err, size_t errlen);

/* Loads a record; a missing file leaves it empty and returns 0. */
int account_record_load(const char *path, struct account_record *record,
    char *err, size_t errlen);
/* Replaces the record through a temporary file renamed over it. */
int account_record_save(const char *dir, const char *path,
    const struct account_record *record, char *err, size_t errlen);
void account_record_clear(struct account_record *record);

/*
 * Marks an account (or with account NULL, the issuer) as cooling down for
 * seconds, capped at ACCOUNT_COOLDOWN_MAX, and logs it with reason.
 */
int account_cooldown(const char *state_dir, const char *issuer,
    const char *account, long seconds, const char *reason, char *err,
    size_t errlen);

/*
 * Lists the issuers and accounts tenant may use, in the order to try
 * them: the issuers in the order of the tenant's issuers list (only
 * pinned when it is not NULL), and within an issuer the permitted
 * accounts least recently used first. Accounts cooling down at now, or
 * whose issuer is, come last, the one whose cooldown ends first before
 * the others, each with a log line: they are tried only when every other
 * candidate has failed. Returns 0, or -1 with err set when the tenant may
 * use no account at all.
 */
int account_plan_build(const struct custos_config *config,
    const struct policy_tenant *tenant, const char *pinned, time_t now,
    struct account_plan *plan, char *err, size_t errlen);
void account_plan_clear(struct account_plan *plan);

struct acme_client;

/*
 * Decides, after a failed step of client, whether the next candidate of
 * plan takes over. A rate limit (rateLimited or HTTP 429) cools the
 * account down and moves to the next account, of any issuer; a 503 cools
 * the issuer down, and issuer_down (the directory could not be fetched)
 * moves to the next issuer without a cooldown. The cooldown lasts the
 * Retry-After, or ACCOUNT_COOLDOWN_DEFAULT without one. Each move is
 * logged with its reason. Returns 0 with client switched to the new
 * candidate (its directory not fetched yet), or -1 with client->err set.
 */
int account_fallback(struct acme_client *client, struct account_plan *plan,
    int issuer_down);

#endif
