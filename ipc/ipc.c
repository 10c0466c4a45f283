#include "ipc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *
ipc_strerror(int status)
{
	switch (-status) {
	case IPC_OK:
		return "success";
	case IPC_EOF:
		return "peer closed the connection";
	case IPC_EIO:
		return "read or write failed";
	case IPC_ETRUNCATED:
		return "truncated frame";
	case IPC_ETOOBIG:
		return "frame length over the limit";
	case IPC_EFLAGS:
		return "nonzero flags in frame header";
	case IPC_EJSON:
		return "payload is not one JSON object";
	case IPC_ENOMEM:
		return "out of memory";
	case IPC_EAUDIT:
		return "appending the signer's audit records failed";
	default:
		return "unknown error";
	}
}

const char *
ipc_type_name(uint16_t type)
{
	switch (type) {
	case IPC_KEY_GENERATE:
		return "key-generate";
	case IPC_KEY_PUBLIC:
		return "key-public";
	case IPC_JWS_SIGN:
		return "jws-sign";
	case IPC_CSR_BUILD:
		return "csr-build";
	case IPC_KEY_WRAP:
		return "key-wrap";
	case IPC_EAB_SIGN:
		return "eab-sign";
	case IPC_KEY_CHANGE:
		return "key-change";
	case IPC_KEY_DESTROY:
		return "key-destroy";
	case IPC_REVOKE_SIGN:
		return "revoke-sign";
	case IPC_AUDIT_CHECKPOINT_SIGN:
		return "audit-checkpoint-sign";
	case IPC_AUDIT_KEY_PUBLIC:
		return "audit-key-public";
	case IPC_AUDIT_RECORD:
		return "audit-record";
	case IPC_RESULT:
		return "result";
	case IPC_ERROR:
		return "error";
	case IPC_TEST_FORBIDDEN_SYSCALL:
		return "test-forbidden-syscall";
	case IPC_TEST_OPEN_FILE:
		return "test-open-file";
	case IPC_TEST_ENVIRONMENT:
		return "test-environment";
	default:
		return "unknown";
	}
}

void
ipc_header_encode(unsigned char header[IPC_HEADER_SIZE], uint16_t type,
    uint32_t length)
{
	header[0] = (unsigned char)(length >> 24);
	header[1] = (unsigned char)(length >> 16);
	header[2] = (unsigned char)(length >> 8);
	header[3] = (unsigned char)length;
	header[4] = (unsigned char)(type >> 8);
	header[5] = (unsigned char)type;
	header[6] = 0;
	header[7] = 0;
}

int
ipc_header_decode(const unsigned char header[IPC_HEADER_SIZE], uint16_t *type,
    uint32_t *length)
{
	*length = (uint32_t)header[0] << 24 | (uint32_t)header[1] << 16 |
	    (uint32_t)header[2] << 8 | header[3];
	*type = (uint16_t)(header[4] << 8 | header[5]);
	if (header[6] != 0 || header[7] != 0)
		return -IPC_EFLAGS;
	if (*length > IPC_MAX_PAYLOAD)
		return -IPC_ETOOBIG;
	return 0;
}

static int
write_all(int fd, const unsigned char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -IPC_EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Returns the number of bytes read before end of file, or -IPC_EIO. */
static ssize_t
read_full(int fd, unsigned char *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -IPC_EIO;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/*
 * Frames up to this size, header included, go out in one write(2), so the
 * peer wakes once for the whole frame. Larger ones take two.
 */
#define IPC_ONE_WRITE_MAX 4096

int
ipc_write_frame(int fd, uint16_t type, const void *payload, size_t length)
{
	unsigned char frame[IPC_ONE_WRITE_MAX];
	int rc;

	if (length > IPC_MAX_PAYLOAD)
		return -IPC_ETOOBIG;
	ipc_header_encode(frame, type, (uint32_t)length);
	if (length <= sizeof(frame) - IPC_HEADER_SIZE) {
		if (length > 0)
			memcpy(frame + IPC_HEADER_SIZE, payload, length);
		return write_all(fd, frame, IPC_HEADER_SIZE + length);
	}
	rc = write_all(fd, frame, IPC_HEADER_SIZE);
	if (rc == 0)
		rc = write_all(fd, payload, length);
	return rc;
}

int
ipc_write_json(int fd, uint16_t type, const json_t *obj)
{
	char *text;
	int rc;

	text = json_dumps(obj, JSON_COMPACT);
	if (text == NULL)
		return -IPC_ENOMEM;
	rc = ipc_write_frame(fd, type, text, strlen(text));
	free(text);
	return rc;
}

int
ipc_read_frame(int fd, struct ipc_frame *frame)
{
	unsigned char header[IPC_HEADER_SIZE];
	ssize_t n;
	int rc;

	memset(frame, 0, sizeof(*frame));
	n = read_full(fd, header, sizeof(header));
	if (n < 0)
		return (int)n;
	if (n == 0)
		return -IPC_EOF;
	if ((size_t)n < sizeof(header))
		return -IPC_ETRUNCATED;
	rc = ipc_header_decode(header, &frame->type, &frame->length);
	if (rc != 0)
		return rc;

	frame->payload = malloc((size_t)frame->length + 1);
	if (frame->payload == NULL)
		return -IPC_ENOMEM;
	n = read_full(fd, frame->payload, frame->length);
	if (n < 0 || (size_t)n < frame->length) {
		ipc_frame_clear(frame);
		return n < 0 ? (int)n : -IPC_ETRUNCATED;
	}
	frame->payload[frame->length] = '\0';
	return 0;
}

void
ipc_frame_clear(struct ipc_frame *frame)
{
	if (frame->payload != NULL) {
		explicit_bzero(frame->payload, frame->length);
		free(frame->payload);
	}
	memset(frame, 0, sizeof(*frame));
}

int
ipc_parse_object(const struct ipc_frame *frame, json_t **out)
{
	json_error_t error;
	json_t *obj;

	*out = NULL;
	if (frame->payload == NULL || frame->length == 0)
		return -IPC_EJSON;
	/* A NUL inside the payload would hide the rest from the parser. */
	if (memchr(frame->payload, '\0', frame->length) != NULL)
		return -IPC_EJSON;
	obj = json_loadb((const char *)frame->payload, frame->length,
	    JSON_REJECT_DUPLICATES, &error);
	if (obj == NULL)
		return -IPC_EJSON;
	if (!json_is_object(obj)) {
		json_decref(obj);
		return -IPC_EJSON;
	}
	*out = obj;
	return 0;
}

int
ipc_check_members(const json_t *obj, const char *const *allowed, char *err,
    size_t errlen)
{
	const char *key;
	json_t *value;

	json_object_foreach((json_t *)obj, key, value) {
		size_t i;

		(void)value;
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL) {
			snprintf(err, errlen, "unexpected member \"%.64s\"",
			    key);
			return -1;
		}
	}
	return 0;
}

int
ipc_get_string(const json_t *obj, const char *name, size_t max_len,
    int optional, const char **out, char *err, size_t errlen)
{
	json_t *value = json_object_get(obj, name);
	size_t len;

	*out = NULL;
	if (value == NULL) {
		if (optional)
			return 0;
		snprintf(err, errlen, "missing member \"%s\"", name);
		return -1;
	}
	if (!json_is_string(value)) {
		snprintf(err, errlen, "member \"%s\" is not a string", name);
		return -1;
	}
	len = json_string_length(value);
	if (len == 0 || len > max_len ||
	    strlen(json_string_value(value)) != len) {
		snprintf(err, errlen, "member \"%s\" is empty, longer than "
		    "%zu bytes or contains NUL", name, max_len);
		return -1;
	}
	*out = json_string_value(value);
	return 0;
}

int
ipc_get_choice(const json_t *obj, const char *name,
    const char *const *choices, int *index, char *err, size_t errlen)
{
	const char *text;
	int i;

	if (ipc_get_string(obj, name, 64, 0, &text, err, errlen) != 0)
		return -1;
	for (i = 0; choices[i] != NULL; i++) {
		if (strcmp(text, choices[i]) == 0) {
			*index = i;
			return 0;
		}
	}
	snprintf(err, errlen, "member \"%s\" has unsupported value \"%.64s\"",
	    name, text);
	return -1;
}

int
ipc_get_key_id(const json_t *obj, const char *name, const char **out,
    char *err, size_t errlen)
{
	const char *text;
	size_t i;

	if (ipc_get_string(obj, name, IPC_KEY_ID_LEN, 0, &text, err,
	    errlen) != 0)
		return -1;
	for (i = 0; text[i] != '\0'; i++) {
		char c = text[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			break;
	}
	if (i != IPC_KEY_ID_LEN || text[i] != '\0') {
		snprintf(err, errlen,
		    "member \"%s\" is not %d lowercase hex digits", name,
		    IPC_KEY_ID_LEN);
		return -1;
	}
	*out = text;
	return 0;
}
