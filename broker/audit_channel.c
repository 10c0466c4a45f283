/*
 * The broker's end of the audit channel. The signer writes the records
 * of a request before its reply, so the broker appends every record that
 * is waiting before it reads the reply, and the action is not reported
 * done before its records are on disk. Every member of a record is
 * checked for presence, JSON type, length and allowed words first.
 */
#include "broker/audit.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "logging/log.h"

/* A compromised signer cannot bury one request under records. */
#define RECORDS_PER_REPLY_MAX 4096

static const char *const record_members[] = {
	"action", "outcome", "tenant", "subject", "reason", "request", "code",
	"key_id", "purpose", "key_type", "account", "node", "recipient",
	NULL,
};
static const char *const actions[] = {
	"policy.decision", "key.generate", "key.destroy", "key.wrap",
	"signer.refusal", "audit.key-generate", NULL,
};
static const char *const outcomes[] = {
	"allowed", "denied", "success", "failure", NULL,
};

/* The optional string members and their maximum lengths in bytes. */
static const struct {
	const char *name;
	size_t max;
} optional_members[] = {
	{ "tenant", 64 },
	{ "subject", 1024 },
	{ "request", 64 },
	{ "code", 64 },
	{ "purpose", 32 },
	{ "key_type", 32 },
	{ "account", 64 },
	{ "node", 64 },
	{ "recipient", 71 },
};

/* Copies the optional members into object after checking each. */
static int
copy_optional(const json_t *record, json_t *object, char *err,
    size_t errlen)
{
	const char *text;

	for (size_t i = 0; i < sizeof(optional_members) /
	    sizeof(optional_members[0]); i++) {
		if (ipc_get_string(record, optional_members[i].name,
		    optional_members[i].max, 1, &text, err, errlen) != 0)
			return -1;
		if (text != NULL && json_object_set_new(object,
		    optional_members[i].name, json_string(text)) != 0)
			return -1;
	}
	if (json_object_get(record, "key_id") == NULL)
		return 0;
	if (ipc_get_key_id(record, "key_id", &text, err, errlen) != 0)
		return -1;
	return json_object_set_new(object, "key_id", json_string(text));
}

int
audit_channel_accept(const struct ipc_frame *frame, char *err,
    size_t errlen)
{
	json_t *record = NULL, *object = NULL;
	const char *reason;
	int action, outcome, rc = -1;

	if (frame->type != IPC_AUDIT_RECORD) {
		snprintf(err, errlen, "unexpected %s frame on the audit "
		    "channel", ipc_type_name(frame->type));
		return -1;
	}
	if (ipc_parse_object(frame, &record) != 0) {
		snprintf(err, errlen, "audit record is not one JSON object");
		return -1;
	}
	object = json_object();
	if (object == NULL ||
	    ipc_check_members(record, record_members, err, errlen) != 0 ||
	    ipc_get_choice(record, "action", actions, &action, err,
	    errlen) != 0 ||
	    ipc_get_choice(record, "outcome", outcomes, &outcome, err,
	    errlen) != 0 ||
	    ipc_get_string(record, "reason", 1024, 1, &reason, err,
	    errlen) != 0 ||
	    copy_optional(record, object, err, errlen) != 0)
		goto out;
	rc = audit_record_from("signer", actions[action], object,
	    outcomes[outcome], reason);
	object = NULL;
	if (rc != 0)
		snprintf(err, errlen, "appending the signer's record failed");
out:
	json_decref(object);
	json_decref(record);
	return rc;
}

/*
 * Reads and appends one record. Returns 0, -IPC_EOF at the end of the
 * channel, or -IPC_EJSON after logging why the record was rejected.
 */
static int
read_record(int audit_fd)
{
	struct ipc_frame frame;
	char err[256];
	int rc;

	rc = ipc_read_frame(audit_fd, &frame);
	if (rc == -IPC_EOF)
		return rc;
	if (rc != 0) {
		log_error("reading the signer's audit channel failed: %s",
		    ipc_strerror(rc));
		return -IPC_EJSON;
	}
	rc = audit_channel_accept(&frame, err, sizeof(err));
	ipc_frame_clear(&frame);
	if (rc != 0) {
		log_error("rejected an audit record from the signer: %s", err);
		return -IPC_EJSON;
	}
	return 0;
}

static void
close_channel(int *audit_fd)
{
	close(*audit_fd);
	*audit_fd = -1;
}

int
audit_channel_read_reply(int fd, int *audit_fd, struct ipc_frame *frame)
{
	struct pollfd fds[2];
	int records = 0, rc;

	while (*audit_fd >= 0) {
		fds[0] = (struct pollfd){ .fd = *audit_fd, .events = POLLIN };
		fds[1] = (struct pollfd){ .fd = fd, .events = POLLIN };
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -IPC_EIO;
		}
		if (fds[0].revents == 0) {
			if (fds[1].revents != 0)
				break;
			continue;
		}
		rc = read_record(*audit_fd);
		if (rc == -IPC_EOF) {
			close_channel(audit_fd);
		} else if (rc != 0) {
			return rc;
		} else if (++records > RECORDS_PER_REPLY_MAX) {
			log_error("the signer sent over %d audit records for "
			    "one request", RECORDS_PER_REPLY_MAX);
			return -IPC_EJSON;
		}
	}
	return ipc_read_frame(fd, frame);
}

void
audit_channel_drain(int *audit_fd)
{
	while (*audit_fd >= 0) {
		if (read_record(*audit_fd) != 0)
			close_channel(audit_fd);
	}
}
