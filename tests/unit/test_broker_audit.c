/*
 * The audit log's writer, chain, checkpoints, rotation and verifier, and
 * the broker's checks of the signer's audit records. Each test writes a
 * log in its own temporary directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

#include "broker/audit.h"
#include "policy/policy.h"
#include "tests/unit/check.h"

#define ZERO_HASH \
	"0000000000000000000000000000000000000000000000000000000000000000"

/* AddressSanitizer keeps freed memory, so resident sizes mean little. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static char dir[64];
static char path[128];

static void
make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/custos-audit-test.XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/audit.log", dir);
}

static void
remove_dir(void)
{
	char command[160];

	snprintf(command, sizeof(command), "rm -rf '%s'", dir);
	if (system(command) != 0)
		printf("# could not remove %s\n", dir);
}

static struct audit_log *
open_log(long long rotate_size)
{
	struct config_audit config = {
		.file = path,
		.checkpoint_interval = 3600,
		.rotate_size = rotate_size,
	};
	struct audit_log *log = NULL;
	char err[AUDIT_ERR_MAX];

	if (audit_open(&config, &log, err, sizeof(err)) != 0)
		printf("# audit_open: %s\n", err);
	return log;
}

/* Appends count records "test.event" with object {"n": i}. */
static int
append_records(struct audit_log *log, int count)
{
	char err[AUDIT_ERR_MAX];

	for (int i = 0; i < count; i++) {
		json_t *object = json_pack("{s:i}", "n", i);
		int rc = audit_append(log, "broker", "test.event", object,
		    "success", "a reason", err, sizeof(err));

		json_decref(object);
		if (rc != 0) {
			printf("# audit_append: %s\n", err);
			return -1;
		}
	}
	return 0;
}

/* Reads the whole file into a malloc'd string. */
static char *
read_text(const char *file)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = fopen(file, "r");

	if (f == NULL)
		return NULL;
	if (getdelim(&text, &len, '\0', f) < 0) {
		free(text);
		text = NULL;
	}
	fclose(f);
	return text;
}

static void
write_text(const char *file, const char *text)
{
	FILE *f = fopen(file, "w");

	if (f == NULL || fputs(text, f) < 0)
		abort();
	fclose(f);
}

/* Returns line n (from 1) of text, newline included, malloc'd. */
static char *
line_of(const char *text, int n)
{
	const char *start = text, *end;

	for (int i = 1; i < n && start != NULL; i++) {
		start = strchr(start, '\n');
		if (start != NULL)
			start++;
	}
	if (start == NULL || *start == '\0')
		return NULL;
	end = strchr(start, '\n');
	return strndup(start, end ? (size_t)(end - start + 1) :
	    strlen(start));
}

/* Verifies the files; returns the verifier's result and error. */
static int
verify(char **files, int count, EVP_PKEY *key, int partial, char *error,
    size_t errlen)
{
	struct audit_verify v;
	int rc = 0;

	audit_verify_init(&v, key);
	v.allow_partial = partial;
	for (int i = 0; i < count && rc == 0; i++)
		rc = audit_verify_file(&v, files[i]);
	snprintf(error, errlen, "%s", rc == 0 ? "" : v.error);
	audit_verify_clear(&v);
	return rc;
}

static int
verify_path(char *error, size_t errlen)
{
	char *files[] = { path };

	return verify(files, 1, NULL, 0, error, errlen);
}

static void
test_records_chain_and_fields(void)
{
	struct audit_log *log;
	char *text, *first, *second, hash[AUDIT_HASH_HEX + 1];
	json_t *record, *actor;

	make_dir();
	log = open_log(0);
	CHECK(log != NULL);
	audit_set_actor(log, "lab", "alice", 1000, "token-1");
	CHECK_INT(append_records(log, 2), 0);
	text = read_text(path);
	first = line_of(text, 1);
	second = line_of(text, 2);
	CHECK(first != NULL);
	CHECK(second != NULL);
	if (first == NULL || second == NULL)
		return;

	record = json_loads(first, 0, NULL);
	actor = json_object_get(record, "actor");
	CHECK_INT(json_integer_value(json_object_get(record, "seq")), 1);
	CHECK_STR(json_string_value(json_object_get(record, "prev")),
	    ZERO_HASH);
	CHECK_STR(json_string_value(json_object_get(record, "source")),
	    "broker");
	CHECK_STR(json_string_value(json_object_get(record, "action")),
	    "test.event");
	CHECK_STR(json_string_value(json_object_get(record, "outcome")),
	    "success");
	CHECK_STR(json_string_value(json_object_get(record, "reason")),
	    "a reason");
	CHECK_STR(json_string_value(json_object_get(actor, "tenant")), "lab");
	CHECK_STR(json_string_value(json_object_get(actor, "user")), "alice");
	CHECK_INT(json_integer_value(json_object_get(actor, "uid")), 1000);
	CHECK_STR(json_string_value(json_object_get(actor, "token_id")),
	    "token-1");
	CHECK_INT(json_integer_value(json_object_get(json_object_get(record,
	    "object"), "n")), 0);
	CHECK(strncmp(first, "{\"seq\":1,\"time\":\"", 17) == 0);
	json_decref(record);

	/* The second record carries the hash of the first line's bytes. */
	audit_hash_hex(first, strlen(first), hash);
	record = json_loads(second, 0, NULL);
	CHECK_INT(json_integer_value(json_object_get(record, "seq")), 2);
	CHECK_STR(json_string_value(json_object_get(record, "prev")), hash);
	json_decref(record);

	free(first);
	free(second);
	free(text);
	audit_close(log);
	remove_dir();
}

static void
test_head_of_empty_and_written_log(void)
{
	struct audit_log *log;
	struct audit_head head;
	char err[AUDIT_ERR_MAX], *text, *last, hash[AUDIT_HASH_HEX + 1];

	make_dir();
	log = open_log(0);
	CHECK_INT(audit_read_head(log, &head, err, sizeof(err)), 0);
	CHECK_INT(head.seq, 0);
	CHECK_STR(head.hash, ZERO_HASH);
	CHECK_INT(append_records(log, 3), 0);
	CHECK_INT(audit_read_head(log, &head, err, sizeof(err)), 0);
	text = read_text(path);
	last = line_of(text, 3);
	audit_hash_hex(last, strlen(last), hash);
	CHECK_INT(head.seq, 3);
	CHECK_STR(head.hash, hash);
	CHECK_STR(head.action, "test.event");
	free(last);
	free(text);
	audit_close(log);
	remove_dir();
}

static void
test_partial_tail_blocks_appends(void)
{
	struct audit_log *log;
	char err[AUDIT_ERR_MAX], *text;
	json_t *object = json_object();

	make_dir();
	log = open_log(0);
	CHECK_INT(append_records(log, 2), 0);
	text = read_text(path);
	text[strlen(text) - 5] = '\0';
	write_text(path, text);
	CHECK_INT(audit_append(log, "broker", "test.event", object,
	    "success", NULL, err, sizeof(err)), -1);
	CHECK(strstr(err, "ends in a partial record") != NULL);
	json_decref(object);
	free(text);
	audit_close(log);
	remove_dir();
}

static void
test_verify_intact_log(void)
{
	struct audit_log *log;
	char error[1024];

	make_dir();
	log = open_log(0);
	CHECK_INT(append_records(log, 5), 0);
	CHECK_INT(verify_path(error, sizeof(error)), 0);
	CHECK_STR(error, "");
	audit_close(log);
	remove_dir();
}

/* Counts the lines of the log file. */
static int
count_lines(void)
{
	char *text = read_text(path);
	int lines = 0;

	for (const char *p = text; p != NULL && *p != '\0'; p++)
		lines += *p == '\n';
	free(text);
	return lines;
}

/*
 * A file that root starts takes the owner of the log's directory, so the
 * broker user who owns the directory can append to it. Needs root, as CI
 * runs it; integration test daemon_concurrent covers it end to end.
 */
static void
test_new_file_takes_directory_owner(void)
{
	struct audit_log *log;
	struct stat st;

	if (geteuid() != 0) {
		printf("# skipped: needs root to create a file for another "
		    "user\n");
		return;
	}
	make_dir();
	CHECK_INT(chown(dir, 65534, 65534), 0);
	log = open_log(0);
	CHECK_INT(append_records(log, 1), 0);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT((int)st.st_uid, 65534);
	CHECK_INT((int)st.st_gid, 65534);
	audit_close(log);
	remove_dir();
}

static void
test_batch_appends_in_order_and_chains(void)
{
	struct audit_log *log;
	json_t *objects[3];
	struct audit_entry entries[3];
	char error[1024], err[AUDIT_ERR_MAX], *text, *line;

	make_dir();
	log = open_log(0);
	CHECK_INT(append_records(log, 1), 0);
	for (int i = 0; i < 3; i++) {
		objects[i] = json_pack("{s:i}", "n", 10 + i);
		entries[i] = (struct audit_entry){ "signer",
		    "policy.decision", objects[i], "allowed", "batched" };
	}
	CHECK_INT(audit_append_many(log, entries, 3, err, sizeof(err)), 0);
	CHECK_INT(count_lines(), 4);
	CHECK_INT(verify_path(error, sizeof(error)), 0);
	CHECK_STR(error, "");
	text = read_text(path);
	line = text ? line_of(text, 4) : NULL;
	CHECK(line != NULL);
	if (line != NULL) {
		CHECK(strstr(line, "\"seq\":4,") != NULL);
		CHECK(strstr(line, "\"n\":12") != NULL);
	}
	free(line);
	free(text);
	/* A record after the batch chains to its last one. */
	CHECK_INT(append_records(log, 1), 0);
	CHECK_INT(verify_path(error, sizeof(error)), 0);
	CHECK_STR(error, "");
	for (int i = 0; i < 3; i++)
		json_decref(objects[i]);
	audit_close(log);
	remove_dir();
}

/* Records one allowed broker decision about subject through the hook. */
static void
decide(const char *subject)
{
	struct policy_decision decision = { .allowed = 1 };

	snprintf(decision.reason, sizeof(decision.reason), "%s: allowed",
	    subject);
	audit_record_decision(NULL, subject, &decision, NULL);
}

static void
test_held_decisions_append_at_release(void)
{
	struct audit_log *log;
	char error[1024], subject[32], *text, *line;

	make_dir();
	log = open_log(0);
	audit_set_current(log);
	audit_hold_decisions();
	decide("first");
	decide("second");
	CHECK_INT(count_lines(), 0);
	CHECK_INT(audit_release_decisions(), 0);
	CHECK_INT(count_lines(), 2);
	text = read_text(path);
	line = text ? line_of(text, 2) : NULL;
	CHECK(line != NULL);
	if (line != NULL)
		CHECK(strstr(line, "\"subject\":\"second\"") != NULL);
	free(line);
	free(text);
	/* After the release, each decision is appended at once again. */
	decide("third");
	CHECK_INT(count_lines(), 3);
	/* Past the maximum of 32 held, the held ones are appended first. */
	audit_hold_decisions();
	for (int i = 0; i < 40; i++) {
		snprintf(subject, sizeof(subject), "many %d", i);
		decide(subject);
	}
	CHECK_INT(count_lines(), 35);
	CHECK_INT(audit_release_decisions(), 0);
	CHECK_INT(count_lines(), 43);
	text = read_text(path);
	line = text ? line_of(text, 43) : NULL;
	CHECK(line != NULL);
	if (line != NULL)
		CHECK(strstr(line, "\"subject\":\"many 39\"") != NULL);
	free(line);
	free(text);
	CHECK_INT(verify_path(error, sizeof(error)), 0);
	CHECK_STR(error, "");
	audit_set_current(NULL);
	audit_close(log);
	remove_dir();
}

static void
test_batch_with_oversized_record_appends_none(void)
{
	struct audit_log *log;
	struct audit_entry entries[2];
	char err[AUDIT_ERR_MAX], *big;
	json_t *small, *large;

	make_dir();
	log = open_log(0);
	big = malloc(AUDIT_RECORD_MAX + 1);
	if (big == NULL)
		abort();
	memset(big, 'x', AUDIT_RECORD_MAX);
	big[AUDIT_RECORD_MAX] = '\0';
	small = json_pack("{s:i}", "n", 1);
	large = json_pack("{s:s}", "subject", big);
	entries[0] = (struct audit_entry){ "signer", "policy.decision",
	    small, "allowed", NULL };
	entries[1] = (struct audit_entry){ "signer", "policy.decision",
	    large, "allowed", NULL };
	CHECK_INT(audit_append_many(log, entries, 2, err, sizeof(err)), -1);
	CHECK(strstr(err, "audit record 2 is") != NULL);
	CHECK_INT(count_lines(), 0);
	json_decref(small);
	json_decref(large);
	free(big);
	audit_close(log);
	remove_dir();
}

/*
 * Writes five records, lets edit change the text, and returns the
 * verifier's error in error.
 */
static int
verify_tampered(void (*edit)(char *text, char **out), char *error,
    size_t errlen)
{
	struct audit_log *log;
	char *text, *changed = NULL;
	int rc;

	make_dir();
	log = open_log(0);
	if (append_records(log, 5) != 0)
		return 0;
	text = read_text(path);
	edit(text, &changed);
	write_text(path, changed);
	rc = verify_path(error, errlen);
	free(changed);
	free(text);
	audit_close(log);
	remove_dir();
	return rc;
}

/* Record 2's reason "a reason" becomes "a reasoN". */
static void
change_byte(char *text, char **out)
{
	char *line2 = strchr(text, '\n') + 1;
	char *at = strstr(line2, "a reason");

	at[7] = 'N';
	*out = strdup(text);
}

static void
remove_line3(char *text, char **out)
{
	char *l1 = line_of(text, 1), *l2 = line_of(text, 2);
	char *l4 = line_of(text, 4), *l5 = line_of(text, 5);

	if (asprintf(out, "%s%s%s%s", l1, l2, l4, l5) < 0)
		abort();
	free(l1);
	free(l2);
	free(l4);
	free(l5);
}

static void
swap_lines_2_3(char *text, char **out)
{
	char *l1 = line_of(text, 1), *l2 = line_of(text, 2);
	char *l3 = line_of(text, 3), *l4 = line_of(text, 4);
	char *l5 = line_of(text, 5);

	if (asprintf(out, "%s%s%s%s%s", l1, l3, l2, l4, l5) < 0)
		abort();
	free(l1);
	free(l2);
	free(l3);
	free(l4);
	free(l5);
}

static void
truncate_tail(char *text, char **out)
{
	text[strlen(text) - 20] = '\0';
	*out = strdup(text);
}

/*
 * Inserts a forged record 3 that links correctly to record 2, as a
 * forger who can compute hashes would write it.
 */
static void
insert_forged(char *text, char **out)
{
	char *l1 = line_of(text, 1), *l2 = line_of(text, 2);
	char *rest = strstr(text, l2) + strlen(l2);
	char hash[AUDIT_HASH_HEX + 1];

	audit_hash_hex(l2, strlen(l2), hash);
	if (asprintf(out, "%s%s{\"seq\":3,\"time\":\"2026-01-01T00:00:00.000Z"
	    "\",\"prev\":\"%s\",\"source\":\"broker\",\"actor\":{},"
	    "\"action\":\"certificate.issue\",\"outcome\":\"success\"}\n%s",
	    l1, l2, hash, rest) < 0)
		abort();
	free(l1);
	free(l2);
}

static void
test_tamper_changed_byte(void)
{
	char error[1024];

	CHECK_INT(verify_tampered(change_byte, error, sizeof(error)), -1);
	CHECK(strstr(error, "audit.log:3: record 3: \"prev\" does not "
	    "match the SHA-256 of record 2") != NULL);
}

static void
test_tamper_removed_line(void)
{
	char error[1024];

	CHECK_INT(verify_tampered(remove_line3, error, sizeof(error)), -1);
	CHECK(strstr(error, "audit.log:3: record 3: found record 4 where "
	    "record 3 belongs") != NULL);
}

static void
test_tamper_swapped_lines(void)
{
	char error[1024];

	CHECK_INT(verify_tampered(swap_lines_2_3, error, sizeof(error)), -1);
	CHECK(strstr(error, "audit.log:2: record 2: found record 3 where "
	    "record 2 belongs") != NULL);
}

static void
test_tamper_truncated_tail(void)
{
	char error[1024];

	CHECK_INT(verify_tampered(truncate_tail, error, sizeof(error)), -1);
	CHECK(strstr(error, "audit.log:5: record 5: truncated record") !=
	    NULL);
}

static void
test_tamper_inserted_record(void)
{
	char error[1024];

	CHECK_INT(verify_tampered(insert_forged, error, sizeof(error)), -1);
	CHECK(strstr(error, "audit.log:4: record 4: found record 3 where "
	    "record 4 belongs") != NULL);
}

static void
test_chain_must_start_at_record_1(void)
{
	struct audit_log *log;
	char error[1024], *text, *rest;

	make_dir();
	log = open_log(0);
	CHECK_INT(append_records(log, 3), 0);
	text = read_text(path);
	rest = strchr(text, '\n') + 1;
	write_text(path, rest);
	CHECK_INT(verify_path(error, sizeof(error)), -1);
	CHECK(strstr(error, "audit.log:1: record 1: the chain starts at "
	    "record 2") != NULL);
	free(text);
	audit_close(log);
	remove_dir();
}

/* Signs checkpoints with a software key, as the signer does in a token. */
static int
sign_with_key(void *arg, const char *head, struct audit_signature *sig,
    char *err, size_t errlen)
{
	EVP_PKEY *key = arg;
	unsigned char der[128];
	size_t derlen = sizeof(der);
	char text[160], b64[200];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int n;

	snprintf(sig->key_id, sizeof(sig->key_id), "%032d", 7);
	snprintf(sig->algorithm, sizeof(sig->algorithm), "%s",
	    AUDIT_CHECKPOINT_ALGORITHM);
	snprintf(sig->signed_at, sizeof(sig->signed_at),
	    "2026-01-31T12:00:00Z");
	n = audit_checkpoint_text(head, sig->signed_at, text, sizeof(text));
	if (n < 0 || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL,
	    key) != 1 || EVP_DigestSign(ctx, der, &derlen,
	    (unsigned char *)text, (size_t)n) != 1) {
		snprintf(err, errlen, "test signing failed");
		EVP_MD_CTX_free(ctx);
		return -1;
	}
	EVP_MD_CTX_free(ctx);
	EVP_EncodeBlock((unsigned char *)b64, der, (int)derlen);
	sig->signature = strdup(b64);
	return 0;
}

static void
test_checkpoint_verifies_with_key(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256"), *other = EVP_EC_gen("P-256");
	struct audit_log *log;
	char err[AUDIT_ERR_MAX], error[1024], *files[] = { path };

	make_dir();
	log = open_log(0);
	CHECK_INT(append_records(log, 3), 0);
	CHECK_INT(audit_checkpoint(log, sign_with_key, key, err,
	    sizeof(err)), 0);
	/* A log that ends with a checkpoint gets no second one. */
	CHECK_INT(audit_checkpoint(log, sign_with_key, key, err,
	    sizeof(err)), 0);
	CHECK_INT(append_records(log, 1), 0);
	CHECK_INT(verify(files, 1, key, 0, error, sizeof(error)), 0);
	CHECK_STR(error, "");
	CHECK_INT(verify(files, 1, other, 0, error, sizeof(error)), -1);
	CHECK(strstr(error, "audit.log:4: record 4: checkpoint signature "
	    "does not verify") != NULL);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	audit_close(log);
	remove_dir();
}

/*
 * A forger who rewrites records 2 and later with valid links still
 * breaks the checkpoint, which signed the original record 3.
 */
static void
test_forged_checkpoint_head(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	struct audit_log *log;
	char err[AUDIT_ERR_MAX], error[1024], *files[] = { path };
	char *text, *l1, *l2, *l3, *l4, hash[AUDIT_HASH_HEX + 1], *out;
	json_t *r3, *r4;

	make_dir();
	log = open_log(0);
	CHECK_INT(append_records(log, 3), 0);
	CHECK_INT(audit_checkpoint(log, sign_with_key, key, err,
	    sizeof(err)), 0);
	text = read_text(path);
	l1 = line_of(text, 1);
	l2 = line_of(text, 2);
	l4 = line_of(text, 4);

	/* Record 3 is rewritten and linked; the checkpoint is relinked. */
	audit_hash_hex(l2, strlen(l2), hash);
	r3 = json_pack("{s:i, s:s, s:s, s:s, s:{}, s:s, s:s}", "seq", 3,
	    "time", "2026-01-01T00:00:00.000Z", "prev", hash, "source",
	    "broker", "actor", "action", "test.event", "outcome", "failure");
	l3 = json_dumps(r3, JSON_COMPACT);
	if (asprintf(&out, "%s\n", l3) < 0)
		abort();
	audit_hash_hex(out, strlen(out), hash);
	r4 = json_loads(l4, 0, NULL);
	json_object_set_new(r4, "prev", json_string(hash));
	free(l4);
	l4 = json_dumps(r4, JSON_COMPACT);
	free(text);
	if (asprintf(&text, "%s%s%s%s\n", l1, l2, out, l4) < 0)
		abort();
	write_text(path, text);

	CHECK_INT(verify(files, 1, NULL, 0, error, sizeof(error)), -1);
	CHECK(strstr(error, "audit.log:4: record 4: checkpoint signs head ")
	    != NULL);
	json_decref(r3);
	json_decref(r4);
	free(l1);
	free(l2);
	free(l3);
	free(l4);
	free(out);
	free(text);
	EVP_PKEY_free(key);
	audit_close(log);
	remove_dir();
}

static void
test_rotation_keeps_chain(void)
{
	struct audit_log *log;
	char err[AUDIT_ERR_MAX], error[1024], rotated[256], expected[256];
	char **files = NULL, *text, *first, *last_old, *old_text;
	char hash[AUDIT_HASH_HEX + 1];
	json_t *record;
	long count;

	make_dir();
	log = open_log(0);
	CHECK_INT(append_records(log, 2), 0);
	CHECK_INT(audit_rotate(log, rotated, sizeof(rotated), err,
	    sizeof(err)), 0);
	snprintf(expected, sizeof(expected), "%s.000000000003", path);
	CHECK_STR(rotated, expected);
	CHECK_INT(append_records(log, 2), 0);

	/* The new file's first record links to the rotated file's last. */
	old_text = read_text(rotated);
	last_old = line_of(old_text, 3);
	text = read_text(path);
	first = line_of(text, 1);
	audit_hash_hex(last_old, strlen(last_old), hash);
	record = json_loads(first, 0, NULL);
	CHECK_INT(json_integer_value(json_object_get(record, "seq")), 4);
	CHECK_STR(json_string_value(json_object_get(record, "prev")), hash);
	CHECK(strstr(last_old, "\"action\":\"audit.rotate\"") != NULL);

	count = audit_list_files(path, &files, err, sizeof(err));
	CHECK_INT(count, 2);
	if (count == 2) {
		CHECK_STR(files[0], expected);
		CHECK_STR(files[1], path);
		CHECK_INT(verify(files, 2, NULL, 0, error, sizeof(error)), 0);
		/* The newer file alone starts at record 4. */
		CHECK_INT(verify(files + 1, 1, NULL, 0, error,
		    sizeof(error)), -1);
		CHECK_INT(verify(files + 1, 1, NULL, 1, error,
		    sizeof(error)), 0);
	}
	audit_free_files(files, count);
	json_decref(record);
	free(first);
	free(text);
	free(last_old);
	free(old_text);
	audit_close(log);
	remove_dir();
}

static void
test_rotation_by_size(void)
{
	struct audit_log *log;
	char err[AUDIT_ERR_MAX], error[1024], **files = NULL;
	long count;

	make_dir();
	log = open_log(4096);
	CHECK_INT(append_records(log, 40), 0);
	count = audit_list_files(path, &files, err, sizeof(err));
	CHECK(count >= 2);
	if (count >= 2)
		CHECK_INT(verify(files, (int)count, NULL, 0, error,
		    sizeof(error)), 0);
	CHECK_STR(error, "");
	audit_free_files(files, count);
	audit_close(log);
	remove_dir();
}

/* Four processes append at once; the chain must stay whole. */
static void
test_concurrent_appends(void)
{
	struct audit_log *log;
	char error[1024], *text;
	int status, failures = 0, lines = 0;

	make_dir();
	for (int i = 0; i < 4; i++) {
		if (fork() == 0) {
			log = open_log(0);
			_exit(log != NULL && append_records(log, 50) == 0 ?
			    0 : 1);
		}
	}
	for (int i = 0; i < 4; i++)
		if (wait(&status) < 0 || status != 0)
			failures++;
	CHECK_INT(failures, 0);
	CHECK_INT(verify_path(error, sizeof(error)), 0);
	CHECK_STR(error, "");
	text = read_text(path);
	for (char *p = text; p != NULL && *p != '\0'; p++)
		lines += *p == '\n';
	CHECK_INT(lines, 200);
	free(text);
	remove_dir();
}

/* Runs audit_channel_accept() on payload; the log is path's. */
static int
accept_record(const char *payload, char *err, size_t errlen)
{
	struct ipc_frame frame = {
		.type = IPC_AUDIT_RECORD,
		.length = (uint32_t)strlen(payload),
		.payload = (unsigned char *)payload,
	};

	return audit_channel_accept(&frame, err, errlen);
}

static void
test_signer_record_checks(void)
{
	struct audit_log *log;
	char err[256], *text, *line;
	json_t *record, *object;

	make_dir();
	log = open_log(0);
	audit_set_current(log);
	CHECK_INT(accept_record("{\"action\":\"signer.refusal\",\"outcome\":"
	    "\"denied\",\"tenant\":\"lab\",\"request\":\"jws-sign\",\"code\":"
	    "\"policy-denied\",\"reason\":\"x.example: denied\"}", err,
	    sizeof(err)), 0);
	text = read_text(path);
	line = line_of(text, 1);
	record = json_loads(line, 0, NULL);
	object = json_object_get(record, "object");
	CHECK_STR(json_string_value(json_object_get(record, "source")),
	    "signer");
	CHECK_STR(json_string_value(json_object_get(record, "action")),
	    "signer.refusal");
	CHECK_STR(json_string_value(json_object_get(record, "outcome")),
	    "denied");
	CHECK_STR(json_string_value(json_object_get(record, "reason")),
	    "x.example: denied");
	CHECK_STR(json_string_value(json_object_get(object, "tenant")), "lab");
	CHECK_STR(json_string_value(json_object_get(object, "code")),
	    "policy-denied");

	CHECK_INT(accept_record("{\"action\":\"signer.refusal\",\"outcome\":"
	    "\"denied\",\"pin\":\"1234\"}", err, sizeof(err)), -1);
	CHECK_STR(err, "unexpected member \"pin\"");
	CHECK_INT(accept_record("{\"action\":\"certificate.issue\","
	    "\"outcome\":\"success\"}", err, sizeof(err)), -1);
	CHECK(strstr(err, "\"action\" has unsupported value") != NULL);
	CHECK_INT(accept_record("{\"action\":\"key.generate\",\"outcome\":"
	    "\"success\",\"tenant\":7}", err, sizeof(err)), -1);
	CHECK_STR(err, "member \"tenant\" is not a string");
	CHECK_INT(accept_record("{\"action\":\"key.generate\",\"outcome\":"
	    "\"success\",\"key_id\":\"ABC\"}", err, sizeof(err)), -1);
	CHECK(strstr(err, "lowercase hex digits") != NULL);
	CHECK_INT(accept_record("{\"outcome\":\"success\"}", err,
	    sizeof(err)), -1);
	CHECK_STR(err, "missing member \"action\"");
	CHECK_INT(accept_record("[1]", err, sizeof(err)), -1);
	CHECK_STR(err, "audit record is not one JSON object");

	json_decref(record);
	free(line);
	free(text);
	audit_set_current(NULL);
	audit_close(log);
	remove_dir();
}

/* Returns a valid signer record whose subject and reason are 1024 bytes. */
static char *
full_record(int n)
{
	char subject[1025], reason[1025], *payload = NULL;

	memset(subject, 's', sizeof(subject) - 1);
	subject[sizeof(subject) - 1] = '\0';
	snprintf(reason, sizeof(reason), "%d", n);
	memset(reason + strlen(reason), 'r', sizeof(reason) - 1 -
	    strlen(reason));
	reason[sizeof(reason) - 1] = '\0';
	if (asprintf(&payload, "{\"action\":\"policy.decision\",\"outcome\":"
	    "\"allowed\",\"tenant\":\"lab\",\"subject\":\"%s\",\"reason\":"
	    "\"%s\"}", subject, reason) < 0)
		abort();
	return payload;
}

/*
 * Forks a fake signer that writes count records on its end of the audit
 * channel and then an IPC_RESULT reply. The record at index bad is
 * malformed, and bad is -1 for none.
 */
static pid_t
fake_signer(int reply_fd, int audit_fd, int count, int bad)
{
	static const char bad_record[] =
	    "{\"action\":\"policy.decision\",\"outcome\":\"maybe\"}";
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	for (int i = 0; i < count; i++) {
		char *payload = full_record(i);
		const char *sent = i == bad ? bad_record : payload;

		if (ipc_write_frame(audit_fd, IPC_AUDIT_RECORD, sent,
		    strlen(sent)) != 0)
			_exit(1);
		free(payload);
	}
	if (ipc_write_frame(reply_fd, IPC_RESULT, "{}", 2) != 0)
		_exit(1);
	_exit(0);
}

/* The two socket pairs of a fake signer: [0] the broker's, [1] its own. */
struct fake_channel {
	int reply[2];
	int audit[2];
};

static void
fake_channel_open(struct fake_channel *c)
{
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, c->reply) != 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, c->audit) != 0)
		abort();
}

static void
fake_channel_close(struct fake_channel *c)
{
	close(c->reply[0]);
	close(c->reply[1]);
	if (c->audit[0] >= 0)
		close(c->audit[0]);
	close(c->audit[1]);
}

/* What audit_channel_read_reply() did with a fake signer's output. */
struct reply_outcome {
	int rc;			/* its return value */
	uint16_t type;		/* the reply's frame type, 0 when none */
	int audit_open;		/* the audit channel is still open */
	int unread;		/* bytes left unread on the reply socket */
	int ended;		/* the broker's end no longer sends */
};

/*
 * Runs audit_channel_read_reply() against fake_signer(count, bad) and
 * returns what it did.
 */
static struct reply_outcome
read_reply_from_fake(int count, int bad)
{
	struct reply_outcome out = { 0 };
	struct fake_channel c;
	struct ipc_frame frame = { 0 };
	char byte;
	int status;
	pid_t pid;

	fake_channel_open(&c);
	pid = fake_signer(c.reply[1], c.audit[1], count, bad);
	out.rc = audit_channel_read_reply(c.reply[0], &c.audit[0], &frame);
	out.type = out.rc == 0 ? frame.type : 0;
	out.audit_open = c.audit[0] >= 0;
	ipc_frame_clear(&frame);
	/* Unblocks a signer that still writes records left unread. */
	if (c.audit[0] >= 0)
		close(c.audit[0]);
	c.audit[0] = -1;
	waitpid(pid, &status, 0);
	out.unread = recv(c.reply[0], &byte, 1, MSG_DONTWAIT | MSG_PEEK) > 0;
	out.ended = send(c.reply[0], "", 1, MSG_NOSIGNAL) < 0 &&
	    errno == EPIPE;
	fake_channel_close(&c);
	return out;
}

static void
test_reply_after_batch_of_records(void)
{
	struct audit_log *log;
	struct reply_outcome out;
	char error[1024];

	make_dir();
	log = open_log(0);
	audit_set_current(log);
	CHECK_INT(append_records(log, 1), 0);
	out = read_reply_from_fake(5, -1);
	CHECK_INT(out.rc, 0);
	CHECK_INT(out.type, IPC_RESULT);
	CHECK_INT(out.audit_open, 1);
	CHECK_INT(out.unread, 0);
	CHECK_INT(out.ended, 0);
	CHECK_INT(count_lines(), 6);
	/* The next single record chains to the batch's last. */
	CHECK_INT(append_records(log, 1), 0);
	CHECK_INT(verify_path(error, sizeof(error)), 0);
	CHECK_STR(error, "");
	audit_set_current(NULL);
	audit_close(log);
	remove_dir();
}

/* The records before a malformed one are kept, but the request fails. */
static void
test_malformed_record_mid_batch(void)
{
	struct audit_log *log;
	struct reply_outcome out;
	char error[1024];

	make_dir();
	log = open_log(0);
	audit_set_current(log);
	out = read_reply_from_fake(5, 2);
	CHECK_INT(out.rc, -IPC_EJSON);
	CHECK_INT(out.type, 0);
	/* Its unread reply would be taken for the next request's. */
	CHECK_INT(out.ended, 1);
	CHECK_INT(out.audit_open, 0);
	CHECK_INT(count_lines(), 2);
	CHECK_INT(verify_path(error, sizeof(error)), 0);
	CHECK_STR(error, "");
	audit_set_current(NULL);
	audit_close(log);
	remove_dir();
}

static void
test_records_per_reply_limit(void)
{
	struct audit_log *log;
	struct reply_outcome out;
	char error[1024];

	make_dir();
	log = open_log(0);
	audit_set_current(log);
	out = read_reply_from_fake(4096, -1);
	CHECK_INT(out.rc, 0);
	CHECK_INT(out.type, IPC_RESULT);
	CHECK_INT(count_lines(), 4096);
	out = read_reply_from_fake(4097, -1);
	CHECK_INT(out.rc, -IPC_EJSON);
	CHECK_INT(out.ended, 1);
	CHECK_INT(count_lines(), 8192);
	CHECK_INT(verify_path(error, sizeof(error)), 0);
	CHECK_STR(error, "");
	audit_set_current(NULL);
	audit_close(log);
	remove_dir();
}

/*
 * Reads the reply of a fake signer that sends 4096 records of about
 * 2.5 KiB, in a fresh process (this program run again with
 * --record-flood), so that no earlier test's heap hides the growth.
 * Prints the growth of the peak resident size in KiB.
 */
static int
record_flood_child(void)
{
	struct audit_log *log = open_log(0);
	struct rusage before, after;
	int rc;

	audit_set_current(log);
	getrusage(RUSAGE_SELF, &before);
	rc = read_reply_from_fake(4096, -1).rc;
	getrusage(RUSAGE_SELF, &after);
	printf("%ld\n", after.ru_maxrss - before.ru_maxrss);
	audit_set_current(NULL);
	audit_close(log);
	return rc == 0 && count_lines() == 4096 ? 0 : 1;
}

/*
 * Kept all at once, 4096 records of a hostile signer cost the broker
 * about 30 MiB before one reply. Appended in batches of 64, the peak
 * grows by about 3 MiB.
 */
static void
test_record_flood_memory(void)
{
	char command[256];
	long growth = -1;
	FILE *child;

	make_dir();
	snprintf(command, sizeof(command), "/proc/%d/exe --record-flood %s",
	    (int)getpid(), dir);
	child = popen(command, "r");
	if (child != NULL && fscanf(child, "%ld", &growth) != 1)
		growth = -1;
	CHECK_INT(child != NULL ? pclose(child) : -1, 0);
	printf("# peak resident size grew by %ld KiB\n", growth);
	CHECK(growth >= 0);
#ifdef UNDER_ASAN
	printf("# bound not checked: AddressSanitizer's quarantine keeps "
	    "freed memory resident\n");
#else
	CHECK(growth < 8192);
#endif
	remove_dir();
}

/* Returns the size of the log file in bytes, or -1. */
static long
file_size(void)
{
	char *text = read_text(path);
	long size = text != NULL ? (long)strlen(text) : -1;

	free(text);
	return size;
}

static void
test_failed_batch_write_fails_request(void)
{
	struct audit_log *log;
	struct rlimit limit, small;
	struct reply_outcome out;
	char error[1024];
	long size;

	make_dir();
	log = open_log(0);
	audit_set_current(log);
	CHECK_INT(append_records(log, 1), 0);
	size = file_size();
	/* Five 2.5 KiB records cross the limit in the middle of the batch. */
	getrlimit(RLIMIT_FSIZE, &limit);
	small = (struct rlimit){ 4096, limit.rlim_max };
	signal(SIGXFSZ, SIG_IGN);
	setrlimit(RLIMIT_FSIZE, &small);
	out = read_reply_from_fake(5, -1);
	setrlimit(RLIMIT_FSIZE, &limit);
	signal(SIGXFSZ, SIG_DFL);
	CHECK_INT(out.rc, -IPC_EAUDIT);
	CHECK_INT(out.type, 0);
	/* The reply was read, so the connection stays in step. */
	CHECK_INT(out.unread, 0);
	CHECK_INT(out.ended, 0);
	CHECK_INT(file_size(), size);
	CHECK_INT(append_records(log, 1), 0);
	CHECK_INT(count_lines(), 2);
	CHECK_INT(verify_path(error, sizeof(error)), 0);
	CHECK_STR(error, "");
	audit_set_current(NULL);
	audit_close(log);
	remove_dir();
}

static void
test_time_parse(void)
{
	long long t = 0;

	CHECK_INT(audit_time_parse("2026-01-31", &t), 0);
	CHECK_INT(t, 1769817600);
	CHECK_INT(audit_time_parse("2026-01-31T12:00:00Z", &t), 0);
	CHECK_INT(t, 1769860800);
	CHECK_INT(audit_time_parse("2026-01-31T12:00:00.123Z", &t), 0);
	CHECK_INT(t, 1769860800);
	CHECK_INT(audit_time_parse("2026-01-31T12:00:00", &t), -1);
	CHECK_INT(audit_time_parse("2026-13-01", &t), -1);
	CHECK_INT(audit_time_parse("yesterday", &t), -1);
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--record-flood") == 0) {
		snprintf(dir, sizeof(dir), "%s", argv[2]);
		snprintf(path, sizeof(path), "%s/audit.log", dir);
		return record_flood_child();
	}
	RUN(test_records_chain_and_fields);
	RUN(test_head_of_empty_and_written_log);
	RUN(test_partial_tail_blocks_appends);
	RUN(test_verify_intact_log);
	RUN(test_new_file_takes_directory_owner);
	RUN(test_batch_appends_in_order_and_chains);
	RUN(test_batch_with_oversized_record_appends_none);
	RUN(test_tamper_changed_byte);
	RUN(test_tamper_removed_line);
	RUN(test_tamper_swapped_lines);
	RUN(test_tamper_truncated_tail);
	RUN(test_tamper_inserted_record);
	RUN(test_chain_must_start_at_record_1);
	RUN(test_checkpoint_verifies_with_key);
	RUN(test_forged_checkpoint_head);
	RUN(test_rotation_keeps_chain);
	RUN(test_rotation_by_size);
	RUN(test_held_decisions_append_at_release);
	RUN(test_concurrent_appends);
	RUN(test_signer_record_checks);
	RUN(test_reply_after_batch_of_records);
	RUN(test_malformed_record_mid_batch);
	RUN(test_records_per_reply_limit);
	RUN(test_record_flood_memory);
	RUN(test_failed_batch_write_fails_request);
	RUN(test_time_parse);
	return check_done();
}
