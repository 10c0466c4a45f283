/* IPC framing: header codec, socketpair round trips, limits, getters. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc/ipc.h"
#include "tests/unit/check.h"

static int
make_pair(int sv[2])
{
	return socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
}

static void
test_header_encode_bytes(void)
{
	unsigned char h[IPC_HEADER_SIZE];

	ipc_header_encode(h, IPC_JWS_SIGN, 0x01020304);
	CHECK_INT(h[0], 0x01);
	CHECK_INT(h[1], 0x02);
	CHECK_INT(h[2], 0x03);
	CHECK_INT(h[3], 0x04);
	CHECK_INT(h[4], 0x00);
	CHECK_INT(h[5], IPC_JWS_SIGN);
	CHECK_INT(h[6], 0);
	CHECK_INT(h[7], 0);
}

static void
test_header_decode_roundtrip(void)
{
	unsigned char h[IPC_HEADER_SIZE];
	uint32_t length;
	uint16_t type;

	ipc_header_encode(h, IPC_TEST_FORBIDDEN_SYSCALL, IPC_MAX_PAYLOAD);
	CHECK_INT(ipc_header_decode(h, &type, &length), 0);
	CHECK_INT(type, IPC_TEST_FORBIDDEN_SYSCALL);
	CHECK_INT(length, IPC_MAX_PAYLOAD);
}

static void
test_header_decode_rejects_flags(void)
{
	unsigned char h[IPC_HEADER_SIZE];
	uint32_t length;
	uint16_t type;

	ipc_header_encode(h, IPC_KEY_PUBLIC, 2);
	h[6] = 0x80;
	CHECK_INT(ipc_header_decode(h, &type, &length), -IPC_EFLAGS);
	h[6] = 0;
	h[7] = 1;
	CHECK_INT(ipc_header_decode(h, &type, &length), -IPC_EFLAGS);
}

static void
test_header_decode_rejects_length(void)
{
	unsigned char h[IPC_HEADER_SIZE];
	uint32_t length;
	uint16_t type;

	ipc_header_encode(h, IPC_KEY_PUBLIC, IPC_MAX_PAYLOAD + 1);
	CHECK_INT(ipc_header_decode(h, &type, &length), -IPC_ETOOBIG);
	ipc_header_encode(h, IPC_KEY_PUBLIC, 0xffffffffU);
	CHECK_INT(ipc_header_decode(h, &type, &length), -IPC_ETOOBIG);
}

static void
test_frame_roundtrip(void)
{
	struct ipc_frame frame;
	int sv[2];

	CHECK_INT(make_pair(sv), 0);
	CHECK_INT(ipc_write_frame(sv[0], IPC_KEY_PUBLIC, "{\"a\":1}", 7), 0);
	CHECK_INT(ipc_read_frame(sv[1], &frame), 0);
	CHECK_INT(frame.type, IPC_KEY_PUBLIC);
	CHECK_INT(frame.length, 7);
	CHECK_STR((const char *)frame.payload, "{\"a\":1}");
	ipc_frame_clear(&frame);
	CHECK(frame.payload == NULL);
	close(sv[0]);
	close(sv[1]);
}

static void
test_json_roundtrip(void)
{
	struct ipc_frame frame;
	json_t *obj = json_pack("{s:s}", "key_id", "x"), *back = NULL;
	int sv[2];

	CHECK_INT(make_pair(sv), 0);
	CHECK_INT(ipc_write_json(sv[0], IPC_RESULT, obj), 0);
	CHECK_INT(ipc_read_frame(sv[1], &frame), 0);
	CHECK_INT(frame.type, IPC_RESULT);
	CHECK_INT(ipc_parse_object(&frame, &back), 0);
	CHECK_STR(json_string_value(json_object_get(back, "key_id")), "x");
	json_decref(obj);
	json_decref(back);
	ipc_frame_clear(&frame);
	close(sv[0]);
	close(sv[1]);
}

/* The largest payload passes; the write side refuses one byte more. */
static void
test_max_payload_boundary(void)
{
	struct ipc_frame frame;
	char *big = malloc(IPC_MAX_PAYLOAD + 1);
	int sv[2], status = -1;
	pid_t pid;

	CHECK(big != NULL);
	if (big == NULL)
		return;
	memset(big, ' ', IPC_MAX_PAYLOAD + 1);
	CHECK_INT(make_pair(sv), 0);
	CHECK_INT(ipc_write_frame(sv[0], IPC_KEY_PUBLIC, big,
	    IPC_MAX_PAYLOAD + 1), -IPC_ETOOBIG);
	/* A child writes, because the frame exceeds the socket buffer. */
	pid = fork();
	if (pid == 0) {
		_exit(ipc_write_frame(sv[0], IPC_KEY_PUBLIC, big,
		    IPC_MAX_PAYLOAD) == 0 ? 0 : 1);
	}
	CHECK_INT(ipc_read_frame(sv[1], &frame), 0);
	CHECK_INT(frame.length, IPC_MAX_PAYLOAD);
	CHECK_INT(waitpid(pid, &status, 0), pid);
	CHECK_INT(status, 0);
	ipc_frame_clear(&frame);
	free(big);
	close(sv[0]);
	close(sv[1]);
}

/*
 * A header claiming 4 GiB is refused from the header alone: the bytes
 * that follow it stay unread, so no payload buffer was sized from it.
 */
static void
test_oversized_refused_before_read(void)
{
	unsigned char h[IPC_HEADER_SIZE];
	struct ipc_frame frame;
	char rest[8] = { 0 };
	int sv[2];

	CHECK_INT(make_pair(sv), 0);
	ipc_header_encode(h, IPC_KEY_PUBLIC, 0xffffffffU);
	CHECK_INT(write(sv[0], h, sizeof(h)), sizeof(h));
	CHECK_INT(write(sv[0], "{}after", 7), 7);
	CHECK_INT(ipc_read_frame(sv[1], &frame), -IPC_ETOOBIG);
	CHECK(frame.payload == NULL);
	CHECK_INT(read(sv[1], rest, sizeof(rest) - 1), 7);
	CHECK_STR(rest, "{}after");
	close(sv[0]);
	close(sv[1]);
}

static void
test_read_nonzero_flags(void)
{
	unsigned char h[IPC_HEADER_SIZE];
	struct ipc_frame frame;
	int sv[2];

	CHECK_INT(make_pair(sv), 0);
	ipc_header_encode(h, IPC_KEY_PUBLIC, 2);
	h[7] = 1;
	CHECK_INT(write(sv[0], h, sizeof(h)), sizeof(h));
	CHECK_INT(write(sv[0], "{}", 2), 2);
	CHECK_INT(ipc_read_frame(sv[1], &frame), -IPC_EFLAGS);
	CHECK(frame.payload == NULL);
	close(sv[0]);
	close(sv[1]);
}

static void
test_read_truncated_header(void)
{
	unsigned char h[IPC_HEADER_SIZE];
	struct ipc_frame frame;
	int sv[2];

	CHECK_INT(make_pair(sv), 0);
	ipc_header_encode(h, IPC_KEY_PUBLIC, 2);
	CHECK_INT(write(sv[0], h, 5), 5);
	close(sv[0]);
	CHECK_INT(ipc_read_frame(sv[1], &frame), -IPC_ETRUNCATED);
	close(sv[1]);
}

static void
test_read_truncated_payload(void)
{
	unsigned char h[IPC_HEADER_SIZE];
	struct ipc_frame frame;
	int sv[2];

	CHECK_INT(make_pair(sv), 0);
	ipc_header_encode(h, IPC_KEY_PUBLIC, 100);
	CHECK_INT(write(sv[0], h, sizeof(h)), sizeof(h));
	CHECK_INT(write(sv[0], "{\"key\":", 7), 7);
	close(sv[0]);
	CHECK_INT(ipc_read_frame(sv[1], &frame), -IPC_ETRUNCATED);
	CHECK(frame.payload == NULL);
	close(sv[1]);
}

static void
test_read_eof_between_frames(void)
{
	struct ipc_frame frame;
	int sv[2];

	CHECK_INT(make_pair(sv), 0);
	CHECK_INT(ipc_write_frame(sv[0], IPC_KEY_PUBLIC, "{}", 2), 0);
	close(sv[0]);
	CHECK_INT(ipc_read_frame(sv[1], &frame), 0);
	ipc_frame_clear(&frame);
	CHECK_INT(ipc_read_frame(sv[1], &frame), -IPC_EOF);
	close(sv[1]);
}

static int
parse_text(const char *text, json_t **out)
{
	struct ipc_frame frame = {
		.type = IPC_KEY_PUBLIC,
		.length = (uint32_t)strlen(text),
		.payload = (unsigned char *)text,
	};

	return ipc_parse_object(&frame, out);
}

static void
test_parse_object_rejections(void)
{
	static const char *const bad[] = {
		"", "[]", "\"text\"", "1", "null", "{", "{} {}",
		"{\"a\":1,\"a\":2}", "{\"a\":\"\xff\"}",
	};
	json_t *obj;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(parse_text(bad[i], &obj), -IPC_EJSON);
		CHECK(obj == NULL);
	}
}

static void
test_parse_object_rejects_inner_nul(void)
{
	struct ipc_frame frame = {
		.type = IPC_KEY_PUBLIC,
		.length = 4,
		.payload = (unsigned char *)"{}\0x",
	};
	json_t *obj;

	CHECK_INT(ipc_parse_object(&frame, &obj), -IPC_EJSON);
}

static void
test_check_members(void)
{
	static const char *const allowed[] = { "key_id", "url", NULL };
	json_t *good = json_pack("{s:s, s:s}", "key_id", "a", "url", "b");
	json_t *extra = json_pack("{s:s, s:s}", "key_id", "a", "uRl", "b");
	char err[128] = "";

	CHECK_INT(ipc_check_members(good, allowed, err, sizeof(err)), 0);
	CHECK_INT(ipc_check_members(extra, allowed, err, sizeof(err)), -1);
	CHECK_STR(err, "unexpected member \"uRl\"");
	json_decref(good);
	json_decref(extra);
}

static void
test_get_string_cases(void)
{
	json_t *obj = json_pack("{s:s, s:i, s:s, s:s#}", "ok", "abc", "num",
	    3, "empty", "", "nul", "a\0b", (size_t)3);
	const char *out;
	char err[128];

	CHECK_INT(ipc_get_string(obj, "ok", 3, 0, &out, err, sizeof(err)),
	    0);
	CHECK_STR(out, "abc");
	CHECK_INT(ipc_get_string(obj, "ok", 2, 0, &out, err, sizeof(err)),
	    -1);
	CHECK_INT(ipc_get_string(obj, "num", 9, 0, &out, err, sizeof(err)),
	    -1);
	CHECK_STR(err, "member \"num\" is not a string");
	CHECK_INT(ipc_get_string(obj, "empty", 9, 0, &out, err,
	    sizeof(err)), -1);
	CHECK_INT(ipc_get_string(obj, "nul", 9, 0, &out, err, sizeof(err)),
	    -1);
	CHECK_INT(ipc_get_string(obj, "gone", 9, 0, &out, err, sizeof(err)),
	    -1);
	CHECK_STR(err, "missing member \"gone\"");
	CHECK_INT(ipc_get_string(obj, "gone", 9, 1, &out, err, sizeof(err)),
	    0);
	CHECK(out == NULL);
	json_decref(obj);
}

static void
test_get_choice_cases(void)
{
	static const char *const choices[] = { "account", "certificate",
		NULL };
	json_t *obj = json_pack("{s:s, s:s}", "a", "certificate", "b",
	    "Account");
	char err[128];
	int index = -1;

	CHECK_INT(ipc_get_choice(obj, "a", choices, &index, err,
	    sizeof(err)), 0);
	CHECK_INT(index, 1);
	CHECK_INT(ipc_get_choice(obj, "b", choices, &index, err,
	    sizeof(err)), -1);
	CHECK_STR(err, "member \"b\" has unsupported value \"Account\"");
	json_decref(obj);
}

static void
test_get_key_id_cases(void)
{
	static const char *const bad[] = {
		"0123456789abcdef0123456789abcde",
		"0123456789abcdef0123456789abcdef0",
		"0123456789ABCDEF0123456789abcdef",
		"0123456789abcdef0123456789abcdeg",
		"0123456789abcdef 123456789abcdef",
	};
	const char *out;
	char err[128];
	json_t *obj;
	size_t i;

	obj = json_pack("{s:s}", "key_id", "0123456789abcdef0123456789abcdef");
	CHECK_INT(ipc_get_key_id(obj, "key_id", &out, err, sizeof(err)), 0);
	CHECK_STR(out, "0123456789abcdef0123456789abcdef");
	json_decref(obj);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		obj = json_pack("{s:s}", "key_id", bad[i]);
		CHECK_INT(ipc_get_key_id(obj, "key_id", &out, err,
		    sizeof(err)), -1);
		json_decref(obj);
	}
	obj = json_pack("{s:i}", "key_id", 5);
	CHECK_INT(ipc_get_key_id(obj, "key_id", &out, err, sizeof(err)), -1);
	json_decref(obj);
}

static void
test_type_names(void)
{
	CHECK_STR(ipc_type_name(IPC_CSR_BUILD), "csr-build");
	CHECK_STR(ipc_type_name(77), "unknown");
	CHECK_STR(ipc_strerror(-IPC_ETOOBIG), "frame length over the limit");
}

int
main(void)
{
	RUN(test_header_encode_bytes);
	RUN(test_header_decode_roundtrip);
	RUN(test_header_decode_rejects_flags);
	RUN(test_header_decode_rejects_length);
	RUN(test_frame_roundtrip);
	RUN(test_json_roundtrip);
	RUN(test_max_payload_boundary);
	RUN(test_oversized_refused_before_read);
	RUN(test_read_nonzero_flags);
	RUN(test_read_truncated_header);
	RUN(test_read_truncated_payload);
	RUN(test_read_eof_between_frames);
	RUN(test_parse_object_rejections);
	RUN(test_parse_object_rejects_inner_nul);
	RUN(test_check_members);
	RUN(test_get_string_cases);
	RUN(test_get_choice_cases);
	RUN(test_get_key_id_cases);
	RUN(test_type_names);
	return check_done();
}
