/*
 * The generic syntax tree behind configuration and policy files: statements
 * of a key and zero or more values, some with a block of statements. The
 * readers in config.c and in policy/ check this tree against what they
 * accept and point their errors at the node's file, line and column.
 */
#ifndef CUSTOS_CONF_TREE_H
#define CUSTOS_CONF_TREE_H

#include <stddef.h>

#define CONF_MAX_FILE_SIZE (1024 * 1024)	/* bytes */
#define CONF_MAX_DEPTH 8		/* blocks inside blocks */
#define CONF_MAX_STATEMENTS 10000	/* in the whole file, nested included */

struct conf_value {
	char *text;		/* unescaped, NUL-terminated */
	int quoted;		/* 1 when written as a "string" */
	int line;
	int column;
};

struct conf_node {
	char *key;
	int line;
	int column;
	struct conf_value *values;
	size_t value_count;
	int has_block;		/* 1 when followed by { ... } */
	struct conf_node *children;
	size_t child_count;
};

struct conf_tree {
	char *file;		/* path or name used in messages */
	struct conf_node root;	/* key "", children are the top statements */
};

/*
 * Parses text into a tree. Returns 0 and a new tree in *out, or -1 with
 * "FILE:LINE:COLUMN: message" in err.
 */
int conf_tree_parse(const char *file, const char *text, size_t len,
    struct conf_tree **out, char *err, size_t errlen);

/* Reads a whole file (at most 1 MiB) and parses it. */
int conf_tree_parse_file(const char *path, struct conf_tree **out, char *err,
    size_t errlen);

void conf_tree_free(struct conf_tree *tree);

/*
 * Writes text into buf for an error message: newline and tab as \n and \t,
 * cut with "..." to fit size. Returns buf, or "" when size is below 8.
 */
const char *conf_format_value(char *buf, size_t size, const char *text);

/* Formats "FILE:LINE:COLUMN: " followed by fmt into err and returns -1. */
int conf_error(char *err, size_t errlen, const char *file, int line,
    int column, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#endif
