#include "broker/privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static int
switch_user(const char *user, const char *config_path, char *err,
    size_t errlen)
{
	struct passwd *pw;
	gid_t gid;
	uid_t uid;

	errno = 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		snprintf(err, errlen, "user \"%s\" not found (create it with "
		    "\"useradd --system %s\" or set broker user in %s)", user,
		    user, config_path);
		return -1;
	}
	if (pw->pw_uid == 0) {
		snprintf(err, errlen, "broker user \"%s\" is root (set broker "
		    "user in %s to an unprivileged user)", user, config_path);
		return -1;
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
		snprintf(err, errlen, "cannot switch to user \"%s\": %s", user,
		    strerror(errno));
		return -1;
	}
	if (setuid(0) == 0 || geteuid() == 0 || getegid() == 0) {
		snprintf(err, errlen, "root privileges remain after switching "
		    "to user \"%s\"", user);
		return -1;
	}
	return 0;
}

int
privdrop_to_user(const char *user, const char *config_path, char *err,
    size_t errlen)
{
	if (geteuid() == 0 &&
	    switch_user(user, config_path, err, errlen) != 0)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		snprintf(err, errlen, "cannot set no-new-privileges: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}
