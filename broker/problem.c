#include "broker/problem.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Appends formatted text to out; stops quietly when out is full. */
static void __attribute__((format(printf, 3, 4)))
append(char *out, size_t outlen, const char *fmt, ...)
{
	size_t used = strnlen(out, outlen);
	va_list ap;

	if (used + 1 >= outlen)
		return;
	va_start(ap, fmt);
	vsnprintf(out + used, outlen - used, fmt, ap);
	va_end(ap);
}

static const char *
string_member(const json_t *obj, const char *name)
{
	const json_t *value = json_object_get(obj, name);

	return json_is_string(value) ? json_string_value(value) : NULL;
}

static const char *
short_type(const json_t *obj)
{
	const char *type = string_member(obj, "type");
	size_t prefix = strlen(PROBLEM_ACME_PREFIX);

	if (type == NULL || type[0] == '\0')
		return "unknown problem";
	if (strncmp(type, PROBLEM_ACME_PREFIX, prefix) == 0 &&
	    type[prefix] != '\0')
		return type + prefix;
	return type;
}

static void
append_subproblem(const json_t *sub, char *out, size_t outlen)
{
	const json_t *identifier = json_object_get(sub, "identifier");
	const char *id_type = string_member(identifier, "type");
	const char *id_value = string_member(identifier, "value");
	const char *detail = string_member(sub, "detail");

	append(out, outlen, "; ");
	if (id_value != NULL)
		append(out, outlen, "%s:%s: ", id_type ? id_type : "?",
		    id_value);
	append(out, outlen, "%s", short_type(sub));
	if (detail != NULL && detail[0] != '\0')
		append(out, outlen, ": %s", detail);
}

void
problem_format(const json_t *doc, long http_status, char *out,
    size_t outlen)
{
	const json_t *status = json_object_get(doc, "status");
	const json_t *subproblems = json_object_get(doc, "subproblems");
	const char *detail = string_member(doc, "detail");
	size_t i;

	if (outlen == 0)
		return;
	out[0] = '\0';
	if (!json_is_object(doc)) {
		append(out, outlen, "problem document is not a JSON object");
	} else {
		append(out, outlen, "%s", short_type(doc));
		if (detail != NULL && detail[0] != '\0')
			append(out, outlen, ": %s", detail);
	}

	if (json_is_integer(status) && json_integer_value(status) >= 100 &&
	    json_integer_value(status) <= 599)
		http_status = (long)json_integer_value(status);
	if (http_status > 0)
		append(out, outlen, " (HTTP %ld)", http_status);

	if (!json_is_array(subproblems))
		return;
	for (i = 0; i < json_array_size(subproblems); i++) {
		const json_t *sub = json_array_get(subproblems, i);

		if (json_is_object(sub))
			append_subproblem(sub, out, outlen);
	}
}

void
problem_format_body(const char *body, size_t len, long http_status,
    char *out, size_t outlen)
{
	json_t *doc;

	doc = json_loadb(body, len, 0, NULL);
	problem_format(doc, http_status, out, outlen);
	json_decref(doc);
}

int
problem_is(const json_t *doc, const char *acme_type)
{
	const char *type = string_member(doc, "type");
	size_t prefix = strlen(PROBLEM_ACME_PREFIX);

	if (type == NULL || strncmp(type, PROBLEM_ACME_PREFIX, prefix) != 0)
		return 0;
	return strcmp(type + prefix, acme_type) == 0;
}
