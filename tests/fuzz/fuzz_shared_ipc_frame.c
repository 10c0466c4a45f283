/*
 * Reads a byte stream as IPC frames (ipc/ipc.c), as the signer reads what
 * the broker sends: the input goes into a memfd and ipc_read_frame() takes
 * frames from it until it fails. Each payload goes through
 * ipc_parse_object() and every member through each field getter. A parsed
 * object must survive a write and read back unchanged, and the first 8
 * bytes must decode and encode back to themselves.
 */
#include "tests/fuzz/fuzz.h"

#include <sys/mman.h>
#include <unistd.h>

#include "ipc/ipc.h"

static const char *const allowed_members[] = {
	"purpose", "tenant", "issuer", "type", "key_id", "url", "nonce",
	"kid", "payload", "names", NULL,
};
static const char *const purposes[] = { "account", "certificate", NULL };

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup("fuzz_shared_ipc_frame");
	return 0;
}

/* Returns a memfd holding size bytes of data, read offset at 0. */
static int
memfd_with(const void *data, size_t size)
{
	int fd = memfd_create("fuzz-ipc", MFD_CLOEXEC);

	FUZZ_ASSERT(fd >= 0);
	FUZZ_ASSERT(size == 0 || write(fd, data, size) == (ssize_t)size);
	FUZZ_ASSERT(lseek(fd, 0, SEEK_SET) == 0);
	return fd;
}

static void
check_header(const uint8_t *data, size_t size)
{
	unsigned char again[IPC_HEADER_SIZE];
	uint32_t length;
	uint16_t type;

	if (size < IPC_HEADER_SIZE ||
	    ipc_header_decode(data, &type, &length) != 0)
		return;
	FUZZ_ASSERT(length <= IPC_MAX_PAYLOAD);
	ipc_header_encode(again, type, length);
	FUZZ_ASSERT(memcmp(again, data, IPC_HEADER_SIZE) == 0);
	ipc_type_name(type);
}

static void
check_getters(const json_t *obj)
{
	const char *key, *text;
	char err[256];
	json_t *value;
	int index;

	ipc_check_members(obj, allowed_members, err, sizeof(err));
	json_object_foreach((json_t *)obj, key, value) {
		(void)value;
		if (ipc_get_string(obj, key, 64, 0, &text, err,
		    sizeof(err)) == 0)
			FUZZ_ASSERT(strlen(text) >= 1 && strlen(text) <= 64);
		if (ipc_get_key_id(obj, key, &text, err, sizeof(err)) == 0)
			FUZZ_ASSERT(strspn(text, "0123456789abcdef") ==
			    IPC_KEY_ID_LEN && text[IPC_KEY_ID_LEN] == '\0');
		if (ipc_get_choice(obj, key, purposes, &index, err,
		    sizeof(err)) == 0)
			FUZZ_ASSERT(index == 0 || index == 1);
		FUZZ_ASSERT(fuzz_is_terminated(err, sizeof(err)));
	}
	if (ipc_get_string(obj, "", 64, 1, &text, err, sizeof(err)) == 0)
		FUZZ_ASSERT(text == NULL || text[0] != '\0');
}

/* Writes obj as a frame and reads it back. */
static void
check_roundtrip(uint16_t type, const json_t *obj)
{
	struct ipc_frame frame;
	json_t *again = NULL;
	int fd = memfd_create("fuzz-ipc-out", MFD_CLOEXEC);
	int rc;

	FUZZ_ASSERT(fd >= 0);
	rc = ipc_write_json(fd, type, obj);
	FUZZ_ASSERT(rc == 0 || rc == -IPC_ETOOBIG);
	FUZZ_ASSERT(lseek(fd, 0, SEEK_SET) == 0);
	if (rc == 0) {
		FUZZ_ASSERT(ipc_read_frame(fd, &frame) == 0);
		FUZZ_ASSERT(frame.type == type);
		FUZZ_ASSERT(ipc_parse_object(&frame, &again) == 0);
		FUZZ_ASSERT(json_equal(obj, again));
		json_decref(again);
		ipc_frame_clear(&frame);
		FUZZ_ASSERT(ipc_read_frame(fd, &frame) == -IPC_EOF);
	}
	close(fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipc_frame frame;
	json_t *obj;
	int fd, rc;

	check_header(data, size);
	fd = memfd_with(data, size);
	while ((rc = ipc_read_frame(fd, &frame)) == 0) {
		FUZZ_ASSERT(frame.length <= IPC_MAX_PAYLOAD);
		FUZZ_ASSERT(frame.payload != NULL);
		FUZZ_ASSERT(frame.payload[frame.length] == '\0');
		if (ipc_parse_object(&frame, &obj) == 0) {
			FUZZ_ASSERT(json_is_object(obj));
			check_getters(obj);
			check_roundtrip(frame.type, obj);
			json_decref(obj);
		} else {
			FUZZ_ASSERT(obj == NULL);
		}
		ipc_frame_clear(&frame);
		FUZZ_ASSERT(frame.payload == NULL);
	}
	FUZZ_ASSERT(rc == -IPC_EOF || rc == -IPC_ETRUNCATED ||
	    rc == -IPC_ETOOBIG || rc == -IPC_EFLAGS);
	FUZZ_ASSERT(frame.payload == NULL);
	ipc_strerror(rc);
	close(fd);
	return 0;
}
