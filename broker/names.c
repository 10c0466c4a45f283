#include "broker/names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/name.h"

void
names_clear(struct acme_names *names)
{
	for (size_t i = 0; i < names->count; i++)
		free(names->items[i].value);
	free(names->items);
	names->items = NULL;
	names->count = 0;
}

/* The canonical form is the one the signer checks names against. */
int
names_convert(const char *name, struct acme_identifier *id, char *err,
    size_t errlen)
{
	char canonical[POLICY_NAME_BUFSIZE];
	struct policy_ip ip;
	char reason[256];

	id->value = NULL;
	if (name[0] == '\0') {
		snprintf(err, errlen, "invalid name \"\": a name cannot be "
		    "empty");
		return -1;
	}
	if (policy_ip_parse(name, &ip, reason, sizeof(reason)) == 0) {
		if (policy_ip_format(&ip, canonical, sizeof(canonical)) != 0)
			return -1;
		snprintf(id->type, sizeof(id->type), "ip");
	} else if (strchr(name, ':') != NULL ||
	    strspn(name, "0123456789.") == strlen(name)) {
		/* It looks like an address, so the address error helps. */
		snprintf(err, errlen, "%s", reason);
		return -1;
	} else {
		if (policy_name_normalize(name, canonical, sizeof(canonical),
		    err, errlen) != 0)
			return -1;
		snprintf(id->type, sizeof(id->type), "dns");
	}
	id->value = strdup(canonical);
	if (id->value == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int
names_parse(char *const *names, size_t count, struct acme_names *out,
    char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (count == 0 || count > NAMES_MAX) {
		snprintf(err, errlen, "give 1 to %d names to issue a "
		    "certificate for (got %zu)", NAMES_MAX, count);
		return -1;
	}
	out->items = calloc(count, sizeof(*out->items));
	if (out->items == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		if (names_convert(names[i], &out->items[i], err,
		    errlen) != 0)
			goto fail;
		out->count++;
		for (size_t j = 0; j < i; j++)
			if (strcmp(out->items[j].value,
			    out->items[i].value) == 0) {
				snprintf(err, errlen, "name \"%s\" is given "
				    "twice (give each name once)", names[i]);
				goto fail;
			}
	}
	return 0;
fail:
	names_clear(out);
	return -1;
}

char *
names_store_label(const char *name)
{
	char *label;

	if (strncmp(name, "*.", 2) != 0)
		return strdup(name);
	if (asprintf(&label, "_wildcard%s", name + 1) < 0)
		return NULL;
	return label;
}
