/*
 * Logging shared by every Custos program.
 *
 * Messages go to standard error through a single write(2) per line, so they
 * work inside the signer's seccomp sandbox (no stdio buffering, no terminal
 * probes) and lines from two processes do not interleave. Never pass a PIN,
 * a private key, an EAB key, a bearer token or a TSIG secret to these calls.
 */
#ifndef CUSTOS_LOG_H
#define CUSTOS_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
};

/* Sets the program name printed before each line and the lowest level kept. */
void log_init(const char *program, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

void log_message(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vmessage(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#define log_error(...) log_message(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_message(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_message(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_message(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
