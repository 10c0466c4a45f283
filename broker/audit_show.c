/*
 * custos audit show: the records that match every filter, as stored
 * (--json) or as one line of text each. It reads the files only and
 * checks nothing; "custos audit verify" checks the chain.
 */
#include "broker/audit_cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "broker/audit.h"
#include "logging/log.h"

static const char *
member_text(const json_t *obj, const char *name)
{
	const char *text = json_string_value(json_object_get(obj, name));

	return text != NULL ? text : "";
}

static int
matches_tenant(const json_t *record, const char *tenant)
{
	const json_t *actor = json_object_get(record, "actor");
	const json_t *object = json_object_get(record, "object");

	return strcmp(member_text(actor, "tenant"), tenant) == 0 ||
	    strcmp(member_text(object, "tenant"), tenant) == 0;
}

static int
matches_name(const json_t *record, const char *name)
{
	const json_t *object = json_object_get(record, "object");
	const json_t *names = json_object_get(object, "names");
	const json_t *item;
	size_t i;

	json_array_foreach(names, i, item)
		if (json_is_string(item) &&
		    strcmp(json_string_value(item), name) == 0)
			return 1;
	return strstr(member_text(object, "subject"), name) != NULL;
}

/* "certificate" matches "certificate.issue"; a full action matches itself. */
static int
matches_action(const char *action, const char *wanted)
{
	size_t len = strlen(wanted);

	return strncmp(action, wanted, len) == 0 &&
	    (action[len] == '\0' || action[len] == '.');
}

static int
matches(const struct audit_options *opt, const json_t *record)
{
	long long when;

	if (opt->tenant != NULL && !matches_tenant(record, opt->tenant))
		return 0;
	if (opt->name != NULL && !matches_name(record, opt->name))
		return 0;
	if (opt->action != NULL &&
	    !matches_action(member_text(record, "action"), opt->action))
		return 0;
	if (opt->outcome != NULL &&
	    strcmp(member_text(record, "outcome"), opt->outcome) != 0)
		return 0;
	if (!opt->has_since && !opt->has_until)
		return 1;
	if (audit_time_parse(member_text(record, "time"), &when) != 0)
		return 0;
	return (!opt->has_since || when >= opt->since) &&
	    (!opt->has_until || when < opt->until);
}

/* Prints the object's members as KEY=VALUE, leaving out signatures. */
static void
print_object(const json_t *object)
{
	const char *key;
	const json_t *value, *item;
	size_t i;

	json_object_foreach((json_t *)object, key, value) {
		if (strcmp(key, "signature") == 0)
			continue;
		if (json_is_string(value)) {
			printf(" %s=%s", key, json_string_value(value));
		} else if (json_is_integer(value)) {
			printf(" %s=%lld", key,
			    (long long)json_integer_value(value));
		} else if (json_is_array(value)) {
			printf(" %s=", key);
			json_array_foreach(value, i, item)
				printf("%s%s", i ? "," : "",
				    json_is_string(item) ?
				    json_string_value(item) : "?");
		}
	}
}

static void
print_text(const json_t *record)
{
	const json_t *actor = json_object_get(record, "actor");
	const json_t *uid = json_object_get(actor, "uid");

	printf("%s #%lld %s %s %s",
	    member_text(record, "time"),
	    (long long)json_integer_value(json_object_get(record, "seq")),
	    member_text(record, "source"), member_text(record, "action"),
	    member_text(record, "outcome"));
	if (json_object_get(actor, "tenant") != NULL)
		printf(" tenant=%s", member_text(actor, "tenant"));
	if (json_object_get(actor, "user") != NULL)
		printf(" user=%s", member_text(actor, "user"));
	if (json_is_integer(uid))
		printf(" uid=%lld", (long long)json_integer_value(uid));
	if (json_object_get(actor, "token_id") != NULL)
		printf(" token_id=%s", member_text(actor, "token_id"));
	print_object(json_object_get(record, "object"));
	if (json_object_get(record, "reason") != NULL)
		printf(": %s", member_text(record, "reason"));
	putchar('\n');
}

/* Prints the matching records of one file; returns -1 on a bad line. */
static int
show_file(const struct audit_options *opt, const char *path)
{
	unsigned long long lineno = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	json_t *record;
	FILE *f;
	int rc = 0;

	f = fopen(path, "re");
	if (f == NULL) {
		log_error("cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		lineno++;
		record = json_loadb(line, (size_t)n, 0, NULL);
		if (!json_is_object(record)) {
			log_error("%s:%llu: not a JSON record (run \"custos "
			    "audit verify\")", path, lineno);
			json_decref(record);
			rc = -1;
			continue;
		}
		if (matches(opt, record)) {
			if (opt->json)
				fwrite(line, 1, (size_t)n, stdout);
			else
				print_text(record);
		}
		json_decref(record);
	}
	free(line);
	fclose(f);
	return rc;
}

int
audit_show(struct audit_options *opt)
{
	int rc = 0;

	if (audit_resolve_files(opt) != 0)
		return 1;
	for (long i = 0; i < opt->file_count; i++)
		if (show_file(opt, opt->files[i]) != 0)
			rc = 1;
	return rc;
}
