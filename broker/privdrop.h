#ifndef CUSTOS_BROKER_PRIVDROP_H
#define CUSTOS_BROKER_PRIVDROP_H

#include <stddef.h>

/*
 * Switches to user (groups, gid, then uid) when running as root and checks
 * that root cannot be regained; then sets PR_SET_NO_NEW_PRIVS in any case.
 * config_path names the file to fix in messages. Returns 0, or -1 with a
 * message in err.
 */
int privdrop_to_user(const char *user, const char *config_path, char *err,
    size_t errlen);

#endif
