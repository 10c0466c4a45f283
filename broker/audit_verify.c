/*
 * The audit log's verifier. Record N must have "seq" N and carry in
 * "prev" the SHA-256 of record N-1's line, newline included. So a
 * changed, removed, inserted or reordered record breaks the chain at the
 * first record after the damage, or at the damaged record itself when
 * its own fields no longer fit. A checkpoint must name an earlier record
 * by number and hash, and with a key its signature must verify.
 */
#include "broker/audit.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define ZERO_HASH \
	"0000000000000000000000000000000000000000000000000000000000000000"

void
audit_verify_init(struct audit_verify *v, EVP_PKEY *key)
{
	memset(v, 0, sizeof(*v));
	v->key = key;
	v->next_seq = 1;
	snprintf(v->prev_hash, sizeof(v->prev_hash), "%s", ZERO_HASH);
}

void
audit_verify_clear(struct audit_verify *v)
{
	free(v->hashes);
	v->hashes = NULL;
	v->hash_count = v->hash_alloc = 0;
}

static int __attribute__((format(printf, 4, 5)))
fail(struct audit_verify *v, const char *where, unsigned long long seq,
    const char *fmt, ...)
{
	char detail[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(v->error, sizeof(v->error), "%s: record %llu: %s", where,
	    seq, detail);
	return -1;
}

static int
remember_hash(struct audit_verify *v, const char *hash)
{
	if (v->hash_count == v->hash_alloc) {
		size_t alloc = v->hash_alloc ? 2 * v->hash_alloc : 1024;
		void *grown = realloc(v->hashes, alloc * sizeof(*v->hashes));

		if (grown == NULL)
			return -1;
		v->hashes = grown;
		v->hash_alloc = alloc;
	}
	memcpy(v->hashes[v->hash_count++], hash, AUDIT_HASH_HEX + 1);
	return 0;
}

/* Decodes standard base64 with padding; returns the length or -1. */
static long
decode_base64(const char *text, unsigned char *out, size_t outlen)
{
	size_t len = strlen(text), pad = 0;
	int n;

	if (len == 0 || len % 4 != 0 || len / 4 * 3 > outlen)
		return -1;
	if (text[len - 1] == '=')
		pad = text[len - 2] == '=' ? 2 : 1;
	n = EVP_DecodeBlock(out, (const unsigned char *)text, (int)len);
	if (n < 0 || (size_t)n < pad)
		return -1;
	return (long)((size_t)n - pad);
}

int
audit_signature_verify(EVP_PKEY *key, const char *head,
    const char *signed_at, const char *signature_b64)
{
	unsigned char sig[512];
	char message[256];
	EVP_MD_CTX *ctx;
	long siglen;
	int n, ok;

	siglen = decode_base64(signature_b64, sig, sizeof(sig));
	n = audit_checkpoint_text(head, signed_at, message, sizeof(message));
	if (siglen <= 0 || n < 0)
		return -1;
	ctx = EVP_MD_CTX_new();
	ok = ctx != NULL &&
	    EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
	    EVP_DigestVerify(ctx, sig, (size_t)siglen,
	    (const unsigned char *)message, (size_t)n) == 1;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

/* Returns the string member name, or NULL when it is not a string. */
static const char *
string_member(const json_t *obj, const char *name)
{
	return json_string_value(json_object_get(obj, name));
}

static int
check_checkpoint(struct audit_verify *v, const char *where,
    unsigned long long seq, const json_t *object)
{
	const char *head = string_member(object, "head");
	const char *signed_at = string_member(object, "signed_at");
	const char *signature = string_member(object, "signature");
	json_t *head_seq = json_object_get(object, "head_seq");
	unsigned long long target;

	if (head == NULL || !audit_is_hash_hex(head) || signed_at == NULL ||
	    signature == NULL || !json_is_integer(head_seq) ||
	    json_integer_value(head_seq) < 1)
		return fail(v, where, seq, "checkpoint lacks a valid head, "
		    "head_seq, signed_at or signature");
	target = (unsigned long long)json_integer_value(head_seq);
	if (target >= seq)
		return fail(v, where, seq, "checkpoint signs record %llu, "
		    "which is not an earlier record", target);
	/* A record in a file not given (with allow_partial) is unchecked. */
	if (target >= v->first_seq &&
	    strcmp(v->hashes[target - v->first_seq], head) != 0)
		return fail(v, where, seq, "checkpoint signs head %s of record "
		    "%llu, but that record hashes to %s", head, target,
		    v->hashes[target - v->first_seq]);
	v->checkpoints++;
	if (v->key == NULL)
		return 0;
	if (audit_signature_verify(v->key, head, signed_at, signature) != 0)
		return fail(v, where, seq, "checkpoint signature does not "
		    "verify with the given key (forged checkpoint, or "
		    "another key)");
	v->signatures++;
	return 0;
}

/* Checks the members every record has. */
static int
check_members(struct audit_verify *v, const char *where,
    unsigned long long expected, const json_t *record)
{
	static const char *const strings[] = {
		"time", "prev", "source", "action", "outcome", NULL,
	};
	json_t *object = json_object_get(record, "object");
	json_t *reason = json_object_get(record, "reason");

	for (size_t i = 0; strings[i] != NULL; i++)
		if (string_member(record, strings[i]) == NULL)
			return fail(v, where, expected, "member \"%s\" is "
			    "missing or not a string", strings[i]);
	if (!json_is_object(json_object_get(record, "actor")))
		return fail(v, where, expected, "member \"actor\" is missing "
		    "or not an object");
	if ((object != NULL && !json_is_object(object)) ||
	    (reason != NULL && !json_is_string(reason)))
		return fail(v, where, expected, "member \"object\" or "
		    "\"reason\" has the wrong type");
	if (json_object_size(record) != 7 + (size_t)(object != NULL) +
	    (size_t)(reason != NULL))
		return fail(v, where, expected, "record has members that "
		    "the format does not define");
	return 0;
}

/* Checks the record's number and its link to the record before. */
static int
check_link(struct audit_verify *v, const char *where, const json_t *record)
{
	json_t *seq_value = json_object_get(record, "seq");
	const char *prev = string_member(record, "prev");
	unsigned long long seq;

	if (!json_is_integer(seq_value) || json_integer_value(seq_value) < 1)
		return fail(v, where, v->next_seq, "member \"seq\" is missing "
		    "or not a positive integer");
	seq = (unsigned long long)json_integer_value(seq_value);
	if (!audit_is_hash_hex(prev))
		return fail(v, where, v->next_seq, "member \"prev\" is not 64 "
		    "lowercase hex digits");
	if (v->first_seq == 0 && seq != 1 && !v->allow_partial)
		return fail(v, where, 1, "the chain starts at record %llu: "
		    "the records before it were removed, or their files were "
		    "not given (pass every file, oldest first, or --partial)",
		    seq);
	if (v->first_seq == 0 && seq != 1) {
		v->starts_mid_chain = 1;
		v->first_seq = seq;
		v->next_seq = seq;
		snprintf(v->prev_hash, sizeof(v->prev_hash), "%s", prev);
	}
	if (v->first_seq == 0)
		v->first_seq = 1;
	if (seq != v->next_seq)
		return fail(v, where, v->next_seq, "found record %llu where "
		    "record %llu belongs: a record was removed, inserted or "
		    "moved here", seq, v->next_seq);
	if (strcmp(prev, v->prev_hash) != 0)
		return fail(v, where, seq, "\"prev\" does not match the "
		    "SHA-256 of record %llu: this record or the one before it "
		    "was changed, or one was inserted between them", seq - 1);
	return 0;
}

int
audit_verify_line(struct audit_verify *v, const char *where,
    const char *line, size_t len)
{
	json_t *record;
	char hash[AUDIT_HASH_HEX + 1];
	const char *action, *outcome;
	int rc = -1;

	if (len == 0 || line[len - 1] != '\n')
		return fail(v, where, v->next_seq, "truncated record: the line "
		    "has no newline at its end");
	if (len > AUDIT_RECORD_MAX)
		return fail(v, where, v->next_seq, "record is longer than %d "
		    "bytes", AUDIT_RECORD_MAX);
	if (memchr(line, '\0', len) != NULL)
		return fail(v, where, v->next_seq, "record contains a NUL "
		    "byte");
	record = json_loadb(line, len - 1, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(record)) {
		json_decref(record);
		return fail(v, where, v->next_seq, "record is not one JSON "
		    "object");
	}
	if (check_link(v, where, record) != 0 ||
	    check_members(v, where, v->next_seq, record) != 0)
		goto out;
	audit_hash_hex(line, len, hash);
	if (remember_hash(v, hash) != 0) {
		fail(v, where, v->next_seq, "out of memory");
		goto out;
	}
	action = string_member(record, "action");
	outcome = string_member(record, "outcome");
	if (strcmp(action, "audit.checkpoint") == 0 &&
	    strcmp(outcome, "success") == 0 &&
	    check_checkpoint(v, where, v->next_seq,
	    json_object_get(record, "object")) != 0)
		goto out;
	snprintf(v->prev_hash, sizeof(v->prev_hash), "%s", hash);
	v->next_seq++;
	rc = 0;
out:
	json_decref(record);
	return rc;
}

int
audit_verify_file(struct audit_verify *v, const char *path)
{
	char where[4200], *line = NULL;
	unsigned long long lineno = 0;
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	int rc = 0;

	f = fopen(path, "re");
	if (f == NULL) {
		snprintf(v->error, sizeof(v->error), "cannot open %s: %s",
		    path, strerror(errno));
		return -1;
	}
	while (rc == 0 && (n = getline(&line, &cap, f)) > 0) {
		snprintf(where, sizeof(where), "%s:%llu", path, ++lineno);
		rc = audit_verify_line(v, where, line, (size_t)n);
	}
	if (rc == 0 && ferror(f)) {
		snprintf(v->error, sizeof(v->error), "reading %s failed: %s",
		    path, strerror(errno));
		rc = -1;
	}
	free(line);
	fclose(f);
	return rc;
}
