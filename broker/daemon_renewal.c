/*
 * When the daemon renews a certificate. Each new version gets a renewal
 * time from the lifetime fraction (broker/scheduler.c). When the issuer's
 * directory has renewalInfo (RFC 9773), the worker GETs the window that
 * the CA suggests for the version, renews at a random time inside it,
 * and GETs it again after the CA's Retry-After. A failed GET falls back
 * to the lifetime fraction. The schedule lives in the state database, so
 * a restart neither polls early nor loses the chosen time.
 */
#include "broker/daemon.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "broker/certificate.h"
#include "broker/renewal_info.h"
#include "broker/scheduler.h"
#include "logging/log.h"

/* The task is due at the renewal time or at the next poll, if earlier. */
static int64_t
task_due(const struct state_renewal *r)
{
	if (r->next_poll != 0 && r->next_poll < r->renew_at)
		return r->next_poll;
	return r->renew_at;
}

/* Formats a Unix time as an RFC 3339 UTC date-time. */
static const char *
format_time(int64_t when, char *buf, size_t size)
{
	time_t t = (time_t)when;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "%lld", (long long)when);
	return buf;
}

int64_t
daemon_renewal_plan(const struct daemon_worker *w,
    const struct state_cert *cert, const struct cert_chain *chain,
    int64_t not_before, int64_t not_after, int has_ari,
    struct state_renewal *renewal, char *ari_id)
{
	char err[256];

	memset(renewal, 0, sizeof(*renewal));
	renewal->cert_id = cert->id;
	renewal->generation = cert->generation;
	renewal->fallback_at = sched_renewal_time(&w->config->daemon,
	    not_before, not_after, sched_random());
	renewal->renew_at = renewal->fallback_at;
	if (ari_cert_id(chain->leaf, ari_id, ARI_ID_MAX + 1, err,
	    sizeof(err)) == 0)
		renewal->ari_id = ari_id;
	else if (has_ari)
		log_warn("certificate %lld: %s; its renewal follows the "
		    "lifetime fraction", (long long)cert->id, err);
	if (has_ari && renewal->ari_id != NULL)
		renewal->next_poll = time(NULL);
	return task_due(renewal);
}

/* Sets the renewal time from a window that the CA suggested. */
static void
apply_window(struct state_renewal *r, const struct state_cert *cert,
    const struct ari_window *window, int64_t now)
{
	char start[32], end[32], at[32];

	/* An unchanged window keeps its time, so repolls do not move it. */
	if (r->fetched == 0 || r->window_start != window->start ||
	    r->window_end != window->end || r->renew_at < window->start ||
	    r->renew_at >= window->end)
		r->renew_at = ari_choose(window, sched_random());
	r->fetched = now;
	r->window_start = window->start;
	r->window_end = window->end;
	r->next_poll = now + window->poll_delay;
	log_info("certificate %lld: issuer %s suggests renewal from %s to %s; "
	    "renewing at %s, next renewalInfo poll in %lld s",
	    (long long)cert->id, cert->issuer,
	    format_time(window->start, start, sizeof(start)),
	    format_time(window->end, end, sizeof(end)),
	    format_time(r->renew_at, at, sizeof(at)),
	    (long long)window->poll_delay);
	if (window->explanation[0] != '\0')
		log_info("certificate %lld: issuer %s explains its window at "
		    "%.300s", (long long)cert->id, cert->issuer,
		    window->explanation);
}

/* Falls back to the lifetime fraction after a failed poll. */
static void
apply_fallback(struct state_renewal *r, const struct state_cert *cert,
    const char *why, int64_t next_poll)
{
	char at[32];

	r->renew_at = r->fallback_at;
	r->window_start = r->window_end = 0;
	r->next_poll = next_poll;
	log_warn("certificate %lld: %s; renewal falls back to the lifetime "
	    "fraction at %s", (long long)cert->id, why,
	    format_time(r->renew_at, at, sizeof(at)));
}

/*
 * Ends the window at the certificate's notAfter, so that a CA cannot
 * schedule the renewal after the certificate has expired.
 */
static struct ari_window *
clip_window(struct ari_window *window, const struct state_cert *cert)
{
	if (cert->not_after != 0 && window->end > cert->not_after)
		window->end = cert->not_after;
	return window;
}

/* GETs the renewalInfo of the current version and updates r. */
static void
poll_renewal_info(struct daemon_worker *w, const struct state_cert *cert,
    struct state_renewal *r, int64_t now)
{
	struct acme_client acme;
	struct ari_window window;

	memset(&acme, 0, sizeof(acme));
	memset(&window, 0, sizeof(window));
	acme.config = w->config;
	acme.issuer = config_find_issuer(w->config, cert->issuer);
	if (acme.issuer == NULL) {
		apply_fallback(r, cert, "its issuer is no longer in the "
		    "configuration", 0);
		return;
	}
	if (http_client_new(acme.issuer->trust_bundle,
	    w->config->acme.http_timeout, &acme.http, acme.err,
	    sizeof(acme.err)) != 0 || acme_directory_fetch(&acme) != 0)
		apply_fallback(r, cert, acme.err, now + ARI_POLL_MIN);
	else if (acme.directory.renewal_info == NULL)
		apply_fallback(r, cert, "the issuer's directory no longer has "
		    "renewalInfo", 0);
	else if (ari_fetch(&acme, r->ari_id, &window) != 0)
		apply_fallback(r, cert, acme.err, now + ARI_POLL_MIN);
	else if (cert->not_after != 0 && window.start >= cert->not_after)
		apply_fallback(r, cert, "the renewalInfo window starts at or "
		    "after the certificate's notAfter", now + ARI_POLL_MIN);
	else
		apply_window(r, cert, clip_window(&window, cert), now);
	http_client_free(acme.http);
	acme_directory_clear(&acme.directory);
}

int
daemon_renewal_wait(struct daemon_worker *w, const struct state_cert *cert)
{
	struct state_renewal r;
	int64_t now = time(NULL), due;
	char err[512];
	int rc;

	rc = state_renewal_get(w->state, cert->id, &r, err, sizeof(err));
	if (rc != 0) {
		if (rc != STATE_NOT_FOUND)
			log_error("%s", err);
		return 0;
	}
	/*
	 * A reissue raised the generation, or an attempt failed and is
	 * retried: either way the request is due now.
	 */
	if (r.generation != cert->generation || cert->failures > 0 ||
	    r.renew_at <= now) {
		state_renewal_clear(&r);
		return 0;
	}
	if (r.ari_id != NULL && r.next_poll != 0 && r.next_poll <= now)
		poll_renewal_info(w, cert, &r, now);
	due = r.renew_at <= now ? now : task_due(&r);
	if (state_renewal_set(w->state, &r, due, err, sizeof(err)) != 0)
		log_error("%s", err);
	rc = r.renew_at > now;
	state_renewal_clear(&r);
	return rc;
}

int
daemon_renewal_replaces(struct daemon_worker *w,
    const struct state_cert *cert, char *out)
{
	struct state_renewal r;
	char err[512];
	int rc = -1;

	if (state_renewal_get(w->state, cert->id, &r, err, sizeof(err)) != 0)
		return -1;
	if (r.ari_id != NULL && strlen(r.ari_id) <= ARI_ID_MAX) {
		memcpy(out, r.ari_id, strlen(r.ari_id) + 1);
		rc = 0;
	}
	state_renewal_clear(&r);
	return rc;
}
