/*
 * The files of one certificate under its directory:
 *
 *	DIR/VERSION/cert.pem, chain.pem, fullchain.pem, and privkey.pem
 *	    (a wrapped key) or key.uri (a key that stays in the HSM)
 *	DIR/current -> VERSION
 *	DIR/previous -> the version current before it
 *
 * A version is written into a temporary directory, synced, renamed to its
 * name and then made current by renaming a new symbolic link over
 * "current", so a reader sees either the old files or the new ones.
 */
#ifndef CUSTOS_AGENT_INSTALL_H
#define CUSTOS_AGENT_INSTALL_H

#include <stddef.h>

#include "agent/agent_conf.h"

#define INSTALL_NAME_MAX 128

struct install_file {
	const char *name;	/* "cert.pem", ... */
	const char *data;
	size_t len;
	int secret;		/* 1: key-mode applies, else cert-mode */
};

/*
 * Reads the version that DIR/current names into out. Returns 1 when there
 * is one, 0 when there is none, -1 with err set on a damaged link.
 */
int install_current(const char *dir, char *out, size_t size, char *err,
    size_t errlen);

/*
 * Writes version with files into cert's directory and makes it current;
 * the old current becomes previous. *old receives the old current ("" for
 * none) and *old_previous the old previous, for install_rollback.
 * Returns 0, or -1 with err set and nothing changed.
 */
int install_version(const struct agent_cert *cert, const char *version,
    const struct install_file *files, size_t count,
    char old[INSTALL_NAME_MAX], char old_previous[INSTALL_NAME_MAX],
    char *err, size_t errlen);

/*
 * Makes old current again, previous point at old_previous, and removes
 * the failed version's directory. Returns 0 or -1 with err set.
 */
int install_rollback(const struct agent_cert *cert, const char *failed,
    const char *old, const char *old_previous, char *err, size_t errlen);

/* Removes version directories that neither current nor previous names. */
void install_prune(const struct agent_cert *cert);

/*
 * Runs cert's reload command, if any, through /bin/sh with the paths in
 * its environment, and kills its process group after timeout seconds.
 * Returns 0 when it exited with status 0, or -1 with err set.
 */
int install_reload(const struct agent_cert *cert, const char *version,
    int rollback, int timeout, char *err, size_t errlen);

#endif
