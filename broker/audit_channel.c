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
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "logging/log.h"

/* A compromised signer cannot bury one request under records. */
#define RECORDS_PER_REPLY_MAX 4096
/*
 * The records kept in memory before they are appended. At the maximum
 * member sizes a parsed record takes an estimated 5 KiB, so one batch
 * takes about 320 KiB.
 */
#define RECORDS_PER_BATCH 64

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

/* A checked record of the signer, kept until its batch is appended. */
struct channel_record {
	json_t *record;		/* owns reason */
	json_t *object;
	int action;
	int outcome;
	const char *reason;
};

static void
channel_record_clear(struct channel_record *r)
{
	json_decref(r->object);
	json_decref(r->record);
	memset(r, 0, sizeof(*r));
}

/* Checks a frame and fills out; returns 0, or -1 with err set. */
static int
parse_record(const struct ipc_frame *frame, struct channel_record *out,
    char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (frame->type != IPC_AUDIT_RECORD) {
		snprintf(err, errlen, "unexpected %s frame on the audit "
		    "channel", ipc_type_name(frame->type));
		return -1;
	}
	if (ipc_parse_object(frame, &out->record) != 0) {
		snprintf(err, errlen, "audit record is not one JSON object");
		return -1;
	}
	out->object = json_object();
	if (out->object == NULL ||
	    ipc_check_members(out->record, record_members, err,
	    errlen) != 0 ||
	    ipc_get_choice(out->record, "action", actions, &out->action, err,
	    errlen) != 0 ||
	    ipc_get_choice(out->record, "outcome", outcomes, &out->outcome,
	    err, errlen) != 0 ||
	    ipc_get_string(out->record, "reason", 1024, 1, &out->reason, err,
	    errlen) != 0 ||
	    copy_optional(out->record, out->object, err, errlen) != 0) {
		channel_record_clear(out);
		return -1;
	}
	return 0;
}

/* Appends records in one batch and frees them. Returns 0 or -1. */
static int
append_records(struct channel_record *records, size_t count)
{
	struct audit_entry *entries;
	int rc = -1;

	if (count == 0)
		return 0;
	entries = calloc(count, sizeof(*entries));
	if (entries != NULL) {
		for (size_t i = 0; i < count; i++)
			entries[i] = (struct audit_entry){
				.source = "signer",
				.action = actions[records[i].action],
				.object = records[i].object,
				.outcome = outcomes[records[i].outcome],
				.reason = records[i].reason,
			};
		rc = audit_record_many(entries, count);
		free(entries);
	}
	for (size_t i = 0; i < count; i++)
		channel_record_clear(&records[i]);
	if (rc != 0)
		log_error("appending %zu records of the signer failed", count);
	return rc;
}

int
audit_channel_accept(const struct ipc_frame *frame, char *err,
    size_t errlen)
{
	struct channel_record record;

	if (parse_record(frame, &record, err, errlen) != 0)
		return -1;
	if (append_records(&record, 1) != 0) {
		snprintf(err, errlen, "appending the signer's record failed");
		return -1;
	}
	return 0;
}

/*
 * Reads one record into out. Returns 0, -IPC_EOF at the end of the
 * channel, or -IPC_EJSON after logging why the record was rejected.
 */
static int
read_record(int audit_fd, struct channel_record *out)
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
	rc = parse_record(&frame, out, err, sizeof(err));
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

/*
 * Ends the signer connection after a protocol error, because its reply,
 * still unread, would otherwise be taken as the reply to the next
 * request. The next request then finds the connection closed.
 */
static void
end_connection(int fd, int *audit_fd)
{
	shutdown(fd, SHUT_RDWR);
	close_channel(audit_fd);
}

/*
 * Reads the records that come before the reply, appends them in batches
 * of at most RECORDS_PER_BATCH (one batch and one fsync for the five
 * records of a jws-sign), then reads the reply. A failed append fails
 * the request with -IPC_EAUDIT but still reads the reply, so the
 * connection stays in step. A malformed record or too many records end
 * the connection.
 */
int
audit_channel_read_reply(int fd, int *audit_fd, struct ipc_frame *frame)
{
	struct channel_record records[RECORDS_PER_BATCH];
	struct pollfd fds[2];
	size_t count = 0, total = 0;
	int rc = 0, append_failed = 0;

	while (*audit_fd >= 0) {
		fds[0] = (struct pollfd){ .fd = *audit_fd, .events = POLLIN };
		fds[1] = (struct pollfd){ .fd = fd, .events = POLLIN };
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			rc = -IPC_EIO;
			break;
		}
		if (fds[0].revents == 0) {
			if (fds[1].revents != 0)
				break;
			continue;
		}
		if (total == RECORDS_PER_REPLY_MAX) {
			log_error("the signer sent over %d audit records for "
			    "one request", RECORDS_PER_REPLY_MAX);
			rc = -IPC_EJSON;
			break;
		}
		rc = read_record(*audit_fd, &records[count]);
		if (rc == -IPC_EOF) {
			rc = 0;
			close_channel(audit_fd);
			continue;
		}
		if (rc != 0)
			break;
		count++;
		total++;
		/* A full batch goes to disk now, so memory stays bounded. */
		if (count == RECORDS_PER_BATCH) {
			if (append_records(records, count) != 0)
				append_failed = 1;
			count = 0;
		}
	}
	/* The records before a malformed one are still appended. */
	if (append_records(records, count) != 0)
		append_failed = 1;
	if (rc != 0) {
		end_connection(fd, audit_fd);
		return rc;
	}
	rc = ipc_read_frame(fd, frame);
	if (rc == 0 && append_failed) {
		ipc_frame_clear(frame);
		rc = -IPC_EAUDIT;
	}
	return rc;
}

void
audit_channel_drain(int *audit_fd)
{
	struct channel_record record;

	while (*audit_fd >= 0) {
		if (read_record(*audit_fd, &record) != 0 ||
		    append_records(&record, 1) != 0)
			close_channel(audit_fd);
	}
}
