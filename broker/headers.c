#include "broker/headers.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#define SPACE " \t"

void
string_list_clear(struct string_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		free(list->items[i]);
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

static int
string_list_append(struct string_list *list, const char *text, size_t len)
{
	char **items;
	char *copy;

	copy = strndup(text, len);
	if (copy == NULL)
		return -1;
	items = reallocarray(list->items, list->count + 1, sizeof(*items));
	if (items == NULL) {
		free(copy);
		return -1;
	}
	items[list->count++] = copy;
	list->items = items;
	return 0;
}

static int
parse_delta_seconds(const char *value, long *seconds)
{
	char *end;
	long n;

	for (const char *p = value; *p != '\0'; p++)
		if (*p < '0' || *p > '9')
			return -1;
	errno = 0;
	n = strtol(value, &end, 10);
	if (errno == ERANGE || end == value || *end != '\0')
		return -1;
	*seconds = n;
	return 0;
}

int
header_retry_after(const char *value, time_t now, long max_seconds,
    long *seconds)
{
	time_t when;
	long delay;

	if (value[0] >= '0' && value[0] <= '9') {
		if (parse_delta_seconds(value, &delay) != 0)
			return -1;
	} else {
		/* curl_getdate() reads all three HTTP-date forms. */
		when = curl_getdate(value, NULL);
		if (when == -1)
			return -1;
		if (when <= now)
			delay = 0;
		else if (when - now > (time_t)LONG_MAX)
			delay = LONG_MAX;
		else
			delay = (long)(when - now);
	}
	*seconds = delay > max_seconds ? max_seconds : delay;
	return 0;
}

/* Reports whether the space-separated relation list contains rel. */
static int
rel_list_contains(const char *list, size_t len, const char *rel)
{
	size_t rel_len = strlen(rel);
	size_t i = 0, start;

	while (i < len) {
		while (i < len && (list[i] == ' ' || list[i] == '\t'))
			i++;
		start = i;
		while (i < len && list[i] != ' ' && list[i] != '\t')
			i++;
		if (i - start == rel_len &&
		    strncasecmp(list + start, rel, rel_len) == 0)
			return 1;
	}
	return 0;
}

/*
 * Reads one link parameter at *p ("; name=value" or "; name=\"value\"").
 * Sets the name and value spans and advances *p. Returns 0 or -1.
 */
static int
read_link_param(const char **p, const char **name, size_t *name_len,
    const char **val, size_t *val_len)
{
	const char *s = *p + 1;

	s += strspn(s, SPACE);
	*name = s;
	*name_len = strcspn(s, "=;, \t");
	if (*name_len == 0)
		return -1;
	s += *name_len;
	s += strspn(s, SPACE);
	*val = s;
	*val_len = 0;
	if (*s == '=') {
		s++;
		s += strspn(s, SPACE);
		if (*s == '"') {
			const char *close = strchr(s + 1, '"');

			if (close == NULL)
				return -1;
			*val = s + 1;
			*val_len = (size_t)(close - s - 1);
			s = close + 1;
		} else {
			*val = s;
			*val_len = strcspn(s, ";, \t");
			s += *val_len;
		}
	}
	*p = s + strspn(s, SPACE);
	return 0;
}

int
header_link_collect(const char *value, const char *rel,
    struct string_list *list)
{
	const char *p = value, *target, *close, *name, *val;
	size_t target_len, name_len, val_len;
	int matched;

	for (;;) {
		p += strspn(p, " \t,");
		if (*p == '\0')
			return 0;
		if (*p != '<')
			return -1;
		target = p + 1;
		close = strchr(target, '>');
		if (close == NULL)
			return -1;
		target_len = (size_t)(close - target);
		p = close + 1;
		p += strspn(p, SPACE);

		matched = 0;
		while (*p == ';') {
			if (read_link_param(&p, &name, &name_len, &val,
			    &val_len) != 0)
				return -1;
			if (name_len == 3 && strncasecmp(name, "rel", 3) == 0 &&
			    rel_list_contains(val, val_len, rel))
				matched = 1;
		}
		if (*p != ',' && *p != '\0')
			return -1;
		if (matched && string_list_append(list, target,
		    target_len) != 0)
			return -1;
	}
}

int
header_nonce_is_valid(const char *value)
{
	size_t len = strlen(value);

	if (len == 0 || len > HEADER_NONCE_MAX_LEN)
		return 0;
	if (strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_") != len)
		return 0;
	/* One character left over cannot encode a whole byte. */
	return len % 4 != 1;
}

int
header_media_type_is(const char *value, const char *media_type)
{
	size_t len, expected = strlen(media_type);

	value += strspn(value, SPACE);
	len = strcspn(value, "; \t");
	if (len != expected || strncasecmp(value, media_type, len) != 0)
		return 0;
	value += len;
	value += strspn(value, SPACE);
	return *value == '\0' || *value == ';';
}
