/*
 * A lexer and recursive-descent parser for the configuration syntax
 * described in config.h. The whole text is checked first (UTF-8, no NUL,
 * no control characters), so the lexer only has to split tokens. Every
 * loop is bounded by the text length, and recursion by CONF_MAX_DEPTH.
 */
#include "conf_tree.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum token_kind {
	TOKEN_WORD,
	TOKEN_STRING,
	TOKEN_OPEN,
	TOKEN_CLOSE,
	TOKEN_NEWLINE,
	TOKEN_END,
};

struct token {
	enum token_kind kind;
	char *text;		/* WORD and STRING only, owned by the token */
	int line;
	int column;
};

struct parser {
	const char *file;
	const unsigned char *pos;
	const unsigned char *end;
	int line;
	int column;
	size_t statements;
	char *err;
	size_t errlen;
};

int
conf_error(char *err, size_t errlen, const char *file, int line, int column,
    const char *fmt, ...)
{
	va_list ap;
	int n;

	if (err == NULL || errlen == 0)
		return -1;
	n = snprintf(err, errlen, "%s:%d:%d: ", file, line, column);
	if (n < 0 || (size_t)n >= errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

const char *
conf_format_value(char *buf, size_t size, const char *text)
{
	size_t o = 0;
	const char *p;
	char esc;

	if (size < 8)
		return "";
	for (p = text; *p != '\0'; p++) {
		esc = 0;
		if (*p == '\n')
			esc = 'n';
		else if (*p == '\t')
			esc = 't';
		if (o + (esc ? 2 : 1) + 4 > size) {
			memcpy(buf + o, "...", 4);
			return buf;
		}
		if (esc) {
			buf[o++] = '\\';
			buf[o++] = esc;
		} else {
			buf[o++] = *p;
		}
	}
	buf[o] = '\0';
	return buf;
}

/* Returns the length of the UTF-8 sequence at p, or 0 when it is invalid. */
static size_t
utf8_sequence(const unsigned char *p, const unsigned char *end,
    uint32_t *code)
{
	size_t len, i;
	uint32_t c;

	if (p[0] < 0x80) {
		*code = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		c = p[0] & 0x07;
	} else {
		return 0;
	}
	if ((size_t)(end - p) < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}

	/* Overlong forms, UTF-16 surrogates and code points past U+10FFFF. */
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return 0;
	*code = c;
	return len;
}

/*
 * Rejects text that is not UTF-8, or that contains NUL or a control
 * character other than tab and line feed. A carriage return is accepted
 * only before a line feed, so files with CRLF line endings still load.
 */
static int
check_text(const char *file, const unsigned char *text, size_t len,
    char *err, size_t errlen)
{
	const unsigned char *p = text, *end = text + len;
	int line = 1, column = 1;
	uint32_t code;
	size_t n;

	if (len >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
		return conf_error(err, errlen, file, 1, 1, "UTF-8 byte order "
		    "mark; save the file without it");
	while (p < end) {
		n = utf8_sequence(p, end, &code);
		if (n == 0)
			return conf_error(err, errlen, file, line, column,
			    "invalid UTF-8 byte 0x%02x; save the file as "
			    "UTF-8", p[0]);
		if (code == 0)
			return conf_error(err, errlen, file, line, column,
			    "NUL byte; a configuration file must be text");
		if (code == '\r' && p + 1 < end && p[1] == '\n') {
			p++;
			continue;
		}
		if ((code < 0x20 && code != '\t' && code != '\n') ||
		    (code >= 0x7f && code <= 0x9f))
			return conf_error(err, errlen, file, line, column,
			    "control character U+%04X; remove it",
			    (unsigned)code);
		if (code == '\n') {
			line++;
			column = 1;
		} else {
			column++;
		}
		p += n;
	}
	return 0;
}

static int
is_word_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr("-_./:@*+,=~%", c) != NULL;
}

/* A key starts with a letter and contains letters, digits, '-' and '_'. */
static int
is_key(const char *word)
{
	const char *p;

	if (!((*word >= 'a' && *word <= 'z') || (*word >= 'A' && *word <= 'Z')))
		return 0;
	for (p = word; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_')
			continue;
		return 0;
	}
	return 1;
}

/* Moves one byte forward. Only a UTF-8 lead byte adds a column. */
static void
advance(struct parser *ps)
{
	if (*ps->pos == '\n') {
		ps->line++;
		ps->column = 1;
	} else if ((*ps->pos & 0xc0) != 0x80) {
		ps->column++;
	}
	ps->pos++;
}

static int
parser_error(struct parser *ps, int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
parser_error(struct parser *ps, int line, int column, const char *fmt, ...)
{
	char message[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	return conf_error(ps->err, ps->errlen, ps->file, line, column, "%s",
	    message);
}

/* Reports the character at the current position, which starts no token. */
static int
invalid_character(struct parser *ps)
{
	char shown[5] = { 0 };
	uint32_t code;
	size_t n;

	n = utf8_sequence(ps->pos, ps->end, &code);
	memcpy(shown, ps->pos, n > 0 && n < 5 ? n : 1);
	return parser_error(ps, ps->line, ps->column,
	    "invalid character '%s' outside quotes; put the value in double "
	    "quotes", shown);
}

static int
lex_word(struct parser *ps, struct token *tok)
{
	const unsigned char *start = ps->pos;
	size_t len;

	while (ps->pos < ps->end && is_word_char(*ps->pos))
		advance(ps);
	len = (size_t)(ps->pos - start);
	tok->text = malloc(len + 1);
	if (tok->text == NULL)
		return parser_error(ps, tok->line, tok->column,
		    "out of memory");
	memcpy(tok->text, start, len);
	tok->text[len] = '\0';
	tok->kind = TOKEN_WORD;
	return 0;
}

static int
lex_escape(struct parser *ps, char *out)
{
	int line = ps->line, column = ps->column;
	unsigned char c;

	advance(ps);
	if (ps->pos == ps->end || *ps->pos == '\n' || *ps->pos == '\r')
		return 1;
	c = *ps->pos;
	switch (c) {
	case '"':
	case '\\':
		*out = (char)c;
		break;
	case 'n':
		*out = '\n';
		break;
	case 't':
		*out = '\t';
		break;
	default:
		if (c < 0x80)
			return parser_error(ps, line, column,
			    "invalid escape '\\%c'; use \\\", \\\\, \\n or "
			    "\\t", c);
		return parser_error(ps, line, column,
		    "invalid escape; use \\\", \\\\, \\n or \\t");
	}
	advance(ps);
	return 0;
}

/*
 * Reads a quoted string into tok. The unescaped text is never longer than
 * the source up to the end of the line, which sizes the buffer.
 */
static int
lex_string(struct parser *ps, struct token *tok)
{
	const unsigned char *scan;
	size_t o = 0;
	int rc;

	for (scan = ps->pos + 1; scan < ps->end && *scan != '\n'; scan++)
		;
	tok->text = malloc((size_t)(scan - ps->pos));
	if (tok->text == NULL)
		return parser_error(ps, tok->line, tok->column,
		    "out of memory");
	tok->kind = TOKEN_STRING;
	advance(ps);
	for (;;) {
		if (ps->pos == ps->end || *ps->pos == '\n' ||
		    *ps->pos == '\r')
			return parser_error(ps, tok->line, tok->column,
			    "unterminated string; close it with '\"' on the "
			    "same line");
		if (*ps->pos == '"')
			break;
		if (*ps->pos == '\\') {
			rc = lex_escape(ps, &tok->text[o]);
			if (rc > 0)
				return parser_error(ps, tok->line,
				    tok->column, "unterminated string; close "
				    "it with '\"' on the same line");
			if (rc < 0)
				return -1;
			o++;
			continue;
		}
		tok->text[o++] = (char)*ps->pos;
		advance(ps);
	}
	advance(ps);
	tok->text[o] = '\0';
	return 0;
}

/* Values must be separated by blanks: 'a"b"' and '"a"b' are errors. */
static int
check_separator(struct parser *ps, const struct token *tok)
{
	unsigned char c;

	if (ps->pos == ps->end)
		return 0;
	c = *ps->pos;
	if (strchr(" \t\r\n#{}", c) != NULL)
		return 0;
	if (c == '"' || (tok->kind == TOKEN_STRING && is_word_char(c)))
		return parser_error(ps, ps->line, ps->column,
		    "missing space between two values; separate them with a "
		    "space or write them as one quoted string");
	return invalid_character(ps);
}

static void
token_clear(struct token *tok)
{
	free(tok->text);
	tok->text = NULL;
}

/* Reads the next token. Every call at the end of the text sets TOKEN_END. */
static int
next_token(struct parser *ps, struct token *tok)
{
	int rc;

	token_clear(tok);
	for (;;) {
		while (ps->pos < ps->end &&
		    (*ps->pos == ' ' || *ps->pos == '\t'))
			advance(ps);
		if (ps->pos == ps->end || *ps->pos != '#')
			break;
		while (ps->pos < ps->end && *ps->pos != '\n')
			advance(ps);
	}
	tok->line = ps->line;
	tok->column = ps->column;
	if (ps->pos == ps->end) {
		tok->kind = TOKEN_END;
		return 0;
	}
	if (*ps->pos == '\r')
		advance(ps);	/* check_text allows it only before '\n' */

	switch (*ps->pos) {
	case '\n':
		tok->kind = TOKEN_NEWLINE;
		advance(ps);
		return 0;
	case '{':
		tok->kind = TOKEN_OPEN;
		advance(ps);
		return 0;
	case '}':
		tok->kind = TOKEN_CLOSE;
		advance(ps);
		return 0;
	case '"':
		rc = lex_string(ps, tok);
		break;
	default:
		if (!is_word_char(*ps->pos))
			return invalid_character(ps);
		rc = lex_word(ps, tok);
		break;
	}
	if (rc != 0)
		return rc;
	return check_separator(ps, tok);
}

/*
 * Makes room for one more element in an array of count elements. The
 * capacity is implicit: 4, then doubled each time count reaches a power of
 * two, so no capacity field is needed in the public structures.
 */
static int
grow(void **array, size_t count, size_t size)
{
	size_t capacity;
	void *p;

	if (count != 0 && (count < 4 || (count & (count - 1)) != 0))
		return 0;
	capacity = count == 0 ? 4 : count * 2;
	if (capacity > SIZE_MAX / size)
		return -1;
	p = realloc(*array, capacity * size);
	if (p == NULL)
		return -1;
	*array = p;
	return 0;
}

static int
add_value(struct parser *ps, struct conf_node *node, struct token *tok)
{
	struct conf_value *value;

	if (grow((void **)&node->values, node->value_count,
	    sizeof(*node->values)) != 0)
		return parser_error(ps, tok->line, tok->column,
		    "out of memory");
	value = &node->values[node->value_count++];
	value->text = tok->text;
	value->quoted = tok->kind == TOKEN_STRING;
	value->line = tok->line;
	value->column = tok->column;
	tok->text = NULL;
	return 0;
}

static int parse_block(struct parser *ps, struct conf_node *block,
    int depth, const struct token *open);

static int
parse_statement(struct parser *ps, struct conf_node *node, int depth,
    struct token *tok)
{
	struct token open;

	for (;;) {
		if (next_token(ps, tok) != 0)
			return -1;
		switch (tok->kind) {
		case TOKEN_WORD:
		case TOKEN_STRING:
			if (add_value(ps, node, tok) != 0)
				return -1;
			break;
		case TOKEN_NEWLINE:
		case TOKEN_END:
			return 0;
		case TOKEN_CLOSE:
			return parser_error(ps, tok->line, tok->column,
			    "'}' must be on a line of its own");
		case TOKEN_OPEN:
			if (depth >= CONF_MAX_DEPTH)
				return parser_error(ps, tok->line,
				    tok->column, "blocks nest deeper than %d "
				    "levels", CONF_MAX_DEPTH);
			open = *tok;
			open.text = NULL;
			node->has_block = 1;
			if (next_token(ps, tok) != 0)
				return -1;
			if (tok->kind != TOKEN_NEWLINE &&
			    tok->kind != TOKEN_END)
				return parser_error(ps, tok->line,
				    tok->column, "text after '{'; start the "
				    "block's first statement on the next "
				    "line");
			return parse_block(ps, node, depth + 1, &open);
		}
	}
}

static int
add_statement(struct parser *ps, struct conf_node *block, int depth,
    struct token *tok)
{
	struct conf_node *node;

	if (ps->statements == CONF_MAX_STATEMENTS)
		return parser_error(ps, tok->line, tok->column,
		    "more than %d statements; split the file",
		    CONF_MAX_STATEMENTS);
	ps->statements++;
	if (grow((void **)&block->children, block->child_count,
	    sizeof(*block->children)) != 0)
		return parser_error(ps, tok->line, tok->column,
		    "out of memory");
	node = &block->children[block->child_count++];
	memset(node, 0, sizeof(*node));
	node->key = tok->text;
	node->line = tok->line;
	node->column = tok->column;
	tok->text = NULL;
	return parse_statement(ps, node, depth, tok);
}

static int
reject_statement_start(struct parser *ps, const struct token *tok)
{
	char shown[64];

	if (tok->kind == TOKEN_OPEN)
		return parser_error(ps, tok->line, tok->column,
		    "'{' without a key; write the block's name before it, "
		    "as in 'name {'");
	return parser_error(ps, tok->line, tok->column,
	    "value '%s' without a key; a statement starts with a key "
	    "(a letter, then letters, digits, '-' or '_')",
	    conf_format_value(shown, sizeof(shown), tok->text));
}

/*
 * Parses statements into block until its closing brace, or until the end
 * of the text for the top level (depth 0, open NULL).
 */
static int
parse_block(struct parser *ps, struct conf_node *block, int depth,
    const struct token *open)
{
	struct token tok = { .kind = TOKEN_END };
	int rc = -1;

	for (;;) {
		if (next_token(ps, &tok) != 0)
			goto out;
		if (tok.kind == TOKEN_NEWLINE)
			continue;
		if (tok.kind == TOKEN_END) {
			if (open == NULL)
				rc = 0;
			else
				parser_error(ps, open->line, open->column,
				    "unbalanced '{': block '%s' is not "
				    "closed; add '}' on a line of its own",
				    block->key);
			goto out;
		}
		if (tok.kind == TOKEN_CLOSE)
			break;
		if (tok.kind != TOKEN_WORD || !is_key(tok.text)) {
			reject_statement_start(ps, &tok);
			goto out;
		}
		if (add_statement(ps, block, depth, &tok) != 0)
			goto out;
		if (tok.kind == TOKEN_END && open == NULL) {
			rc = 0;
			goto out;
		}
	}

	if (open == NULL) {
		parser_error(ps, tok.line, tok.column,
		    "unbalanced '}': no block is open");
		goto out;
	}
	if (next_token(ps, &tok) != 0)
		goto out;
	if (tok.kind != TOKEN_NEWLINE && tok.kind != TOKEN_END) {
		parser_error(ps, tok.line, tok.column,
		    "text after '}'; start the next statement on a new line");
		goto out;
	}
	rc = 0;
out:
	token_clear(&tok);
	return rc;
}

static void
node_clear(struct conf_node *node)
{
	size_t i;

	for (i = 0; i < node->value_count; i++)
		free(node->values[i].text);
	free(node->values);
	for (i = 0; i < node->child_count; i++)
		node_clear(&node->children[i]);
	free(node->children);
	free(node->key);
}

void
conf_tree_free(struct conf_tree *tree)
{
	if (tree == NULL)
		return;
	node_clear(&tree->root);
	free(tree->file);
	free(tree);
}

int
conf_tree_parse(const char *file, const char *text, size_t len,
    struct conf_tree **out, char *err, size_t errlen)
{
	struct parser ps;
	struct conf_tree *tree = NULL;
	int rc = -1;

	*out = NULL;
	if (len > CONF_MAX_FILE_SIZE) {
		snprintf(err, errlen, "%s: file is %zu bytes, more than the "
		    "maximum of %d (1 MiB)", file, len, CONF_MAX_FILE_SIZE);
		return -1;
	}
	if (check_text(file, (const unsigned char *)text, len, err,
	    errlen) != 0)
		return -1;

	tree = calloc(1, sizeof(*tree));
	if (tree == NULL || (tree->file = strdup(file)) == NULL ||
	    (tree->root.key = strdup("")) == NULL) {
		snprintf(err, errlen, "%s: out of memory", file);
		goto out;
	}
	memset(&ps, 0, sizeof(ps));
	ps.file = file;
	ps.pos = (const unsigned char *)text;
	ps.end = ps.pos + len;
	ps.line = 1;
	ps.column = 1;
	ps.err = err;
	ps.errlen = errlen;
	if (parse_block(&ps, &tree->root, 0, NULL) != 0)
		goto out;
	*out = tree;
	tree = NULL;
	rc = 0;
out:
	conf_tree_free(tree);
	return rc;
}

/*
 * Reads at most CONF_MAX_FILE_SIZE + 1 bytes, so that a larger file is
 * detected.
 */
static int
read_file(const char *path, int fd, char *buf, size_t *len, char *err,
    size_t errlen)
{
	ssize_t n;

	*len = 0;
	while (*len <= CONF_MAX_FILE_SIZE) {
		n = read(fd, buf + *len, CONF_MAX_FILE_SIZE + 1 - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "%s: cannot read: %s", path,
			    strerror(errno));
			return -1;
		}
		if (n == 0)
			return 0;
		*len += (size_t)n;
	}
	snprintf(err, errlen, "%s: file is larger than the maximum of %d "
	    "bytes (1 MiB)", path, CONF_MAX_FILE_SIZE);
	return -1;
}

int
conf_tree_parse_file(const char *path, struct conf_tree **out, char *err,
    size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len;
	int fd, rc = -1;

	*out = NULL;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	buf = malloc(CONF_MAX_FILE_SIZE + 1);
	if (buf == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	if (read_file(path, fd, buf, &len, err, errlen) != 0)
		goto out;
	rc = conf_tree_parse(path, buf, len, out, err, errlen);
out:
	free(buf);
	close(fd);
	return rc;
}
