#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *log_program = "custos";
static enum log_level log_threshold = LOG_LEVEL_INFO;

static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warning",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

void
log_init(const char *program, enum log_level level)
{
	log_program = program;
	log_threshold = level;
}

void
log_set_level(enum log_level level)
{
	log_threshold = level;
}

enum log_level
log_get_level(void)
{
	return log_threshold;
}

void
log_vmessage(enum log_level level, const char *fmt, va_list ap)
{
	char line[2048];
	int prefix, body;
	size_t len;
	int saved_errno = errno;

	if (level > log_threshold)
		return;

	prefix = snprintf(line, sizeof(line), "%s: %s: ", log_program,
	    level_names[level]);
	if (prefix < 0 || (size_t)prefix >= sizeof(line))
		prefix = 0;
	body = vsnprintf(line + prefix, sizeof(line) - (size_t)prefix - 1,
	    fmt, ap);
	if (body < 0)
		body = 0;
	len = (size_t)prefix + (size_t)body;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;

	/* Control characters from peers must not forge extra log lines. */
	for (size_t i = (size_t)prefix; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c < 0x20 || c == 0x7f)
			line[i] = '?';
	}
	line[len++] = '\n';
	(void)!write(STDERR_FILENO, line, len);
	errno = saved_errno;
}

void
log_message(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmessage(level, fmt, ap);
	va_end(ap);
}
