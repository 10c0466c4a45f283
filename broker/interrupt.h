/*
 * SIGINT, SIGTERM and SIGHUP during a one-shot command: the handler
 * removes the webroot challenge files still published, closes the
 * signer's socket so that it exits, and ends the process with status
 * 128 + the signal number. dns-01 records need no handler, because the
 * journal in the state directory lists them for the next run to remove.
 */
#ifndef CUSTOS_BROKER_INTERRUPT_H
#define CUSTOS_BROKER_INTERRUPT_H

#include "broker/signer_client.h"

/*
 * Installs the handler for each of the three signals that is not ignored
 * (a background job of a shell script starts with SIGINT ignored, and
 * keeps it so).
 */
void interrupt_install(void);

/* Makes the handler stop signer, or no signer when it is NULL. */
void interrupt_watch_signer(const struct signer_client *signer);

#endif
