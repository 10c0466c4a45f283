/* Tests of the configuration syntax parser: the tree and every error. */
#include "config/conf_tree.h"
#include "tests/unit/check.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char err[512];

static struct conf_tree *
parse(const char *text)
{
	struct conf_tree *tree = NULL;

	err[0] = '\0';
	if (conf_tree_parse("t.conf", text, strlen(text), &tree, err,
	    sizeof(err)) != 0)
		return NULL;
	return tree;
}

/* Parses text that must fail and returns the error message. */
static const char *
parse_error(const char *text, size_t len)
{
	struct conf_tree *tree = NULL;

	strcpy(err, "(no error)");
	if (conf_tree_parse("t.conf", text, len, &tree, err,
	    sizeof(err)) == 0) {
		conf_tree_free(tree);
		return "(parsed without error)";
	}
	if (tree != NULL)
		return "(tree set on error)";
	return err;
}

#define CHECK_ERROR(text, expected) \
	CHECK_STR(parse_error(text, sizeof(text) - 1), expected)

static void
test_tree_statements_and_blocks(void)
{
	struct conf_tree *tree = parse(
	    "# comment\n"
	    "\n"
	    "hsm {\n"
	    "\tmodule /usr/lib/x.so   # trailing comment\n"
	    "}\n"
	    "issuer pebble {\n"
	    "  contact mailto:a@example.org \"mailto:b@example.org\"\n"
	    "}\n"
	    "flag\n");
	const struct conf_node *hsm, *issuer, *contact;

	CHECK(tree != NULL);
	if (tree == NULL)
		return;
	CHECK_STR(tree->file, "t.conf");
	CHECK_STR(tree->root.key, "");
	CHECK_INT(tree->root.child_count, 3);

	hsm = &tree->root.children[0];
	CHECK_STR(hsm->key, "hsm");
	CHECK_INT(hsm->line, 3);
	CHECK_INT(hsm->column, 1);
	CHECK_INT(hsm->has_block, 1);
	CHECK_INT(hsm->value_count, 0);
	CHECK_INT(hsm->child_count, 1);
	CHECK_STR(hsm->children[0].key, "module");
	CHECK_INT(hsm->children[0].line, 4);
	CHECK_INT(hsm->children[0].column, 2);
	CHECK_INT(hsm->children[0].value_count, 1);
	CHECK_STR(hsm->children[0].values[0].text, "/usr/lib/x.so");
	CHECK_INT(hsm->children[0].values[0].quoted, 0);
	CHECK_INT(hsm->children[0].values[0].column, 9);

	issuer = &tree->root.children[1];
	CHECK_STR(issuer->key, "issuer");
	CHECK_INT(issuer->value_count, 1);
	CHECK_STR(issuer->values[0].text, "pebble");
	CHECK_INT(issuer->has_block, 1);
	contact = &issuer->children[0];
	CHECK_INT(contact->value_count, 2);
	CHECK_STR(contact->values[0].text, "mailto:a@example.org");
	CHECK_STR(contact->values[1].text, "mailto:b@example.org");
	CHECK_INT(contact->values[1].quoted, 1);
	CHECK_INT(contact->values[1].line, 7);
	CHECK_INT(contact->values[1].column, 32);

	CHECK_STR(tree->root.children[2].key, "flag");
	CHECK_INT(tree->root.children[2].value_count, 0);
	CHECK_INT(tree->root.children[2].has_block, 0);
	conf_tree_free(tree);
}

static void
test_tree_string_escapes(void)
{
	struct conf_tree *tree = parse("k \"a\\\"b\\\\c\\nd\\te\" \"\" "
	    "\"# not a comment\"\n");

	CHECK(tree != NULL);
	if (tree == NULL)
		return;
	CHECK_INT(tree->root.children[0].value_count, 3);
	CHECK_STR(tree->root.children[0].values[0].text, "a\"b\\c\nd\te");
	CHECK_STR(tree->root.children[0].values[1].text, "");
	CHECK_INT(tree->root.children[0].values[1].quoted, 1);
	CHECK_STR(tree->root.children[0].values[2].text, "# not a comment");
	conf_tree_free(tree);
}

static void
test_tree_columns_count_characters(void)
{
	/* "é" is two bytes and "€" three, and each is one column. */
	struct conf_tree *tree = parse("k \"é€\" x\n\tk2\ty\n");

	CHECK(tree != NULL);
	if (tree == NULL)
		return;
	CHECK_INT(tree->root.children[0].values[1].column, 8);
	CHECK_INT(tree->root.children[1].column, 2);
	CHECK_INT(tree->root.children[1].values[0].column, 5);
	conf_tree_free(tree);
}

static void
test_tree_crlf_and_no_final_newline(void)
{
	struct conf_tree *tree = parse("a 1\r\nb {\r\n c 2\r\n}\r\nd 3");

	CHECK(tree != NULL);
	if (tree == NULL)
		return;
	CHECK_INT(tree->root.child_count, 3);
	CHECK_STR(tree->root.children[1].children[0].values[0].text, "2");
	CHECK_STR(tree->root.children[2].values[0].text, "3");
	CHECK_INT(tree->root.children[2].line, 5);
	conf_tree_free(tree);
}

static void
test_tree_empty_inputs(void)
{
	struct conf_tree *tree = parse("");

	CHECK(tree != NULL);
	if (tree != NULL)
		CHECK_INT(tree->root.child_count, 0);
	conf_tree_free(tree);
	tree = parse("# only a comment\n\n   \n");
	CHECK(tree != NULL);
	if (tree != NULL)
		CHECK_INT(tree->root.child_count, 0);
	conf_tree_free(tree);
	tree = parse("a {\n}\n");
	CHECK(tree != NULL);
	if (tree != NULL) {
		CHECK_INT(tree->root.children[0].has_block, 1);
		CHECK_INT(tree->root.children[0].child_count, 0);
	}
	conf_tree_free(tree);
}

static void
test_tree_string_errors(void)
{
	CHECK_ERROR("k \"abc\n", "t.conf:1:3: unterminated string; close "
	    "it with '\"' on the same line");
	CHECK_ERROR("k\n  x \"abc", "t.conf:2:5: unterminated string; close "
	    "it with '\"' on the same line");
	CHECK_ERROR("k \"ab\\\nc\"\n", "t.conf:1:3: unterminated string; "
	    "close it with '\"' on the same line");
	CHECK_ERROR("k \"ab\\qc\"\n", "t.conf:1:6: invalid escape '\\q'; "
	    "use \\\", \\\\, \\n or \\t");
	CHECK_ERROR("k \"\\é\"\n", "t.conf:1:4: invalid escape; use \\\", "
	    "\\\\, \\n or \\t");
}

static void
test_tree_character_errors(void)
{
	CHECK_ERROR("k a\0b\n", "t.conf:1:4: NUL byte; a configuration "
	    "file must be text");
	CHECK_ERROR("k\n\x01\n", "t.conf:2:1: control character U+0001; "
	    "remove it");
	CHECK_ERROR("k \"a\x7f\"\n", "t.conf:1:5: control character U+007F; "
	    "remove it");
	CHECK_ERROR("k a\rb\n", "t.conf:1:4: control character U+000D; "
	    "remove it");
	CHECK_ERROR("# \xc2\x85\n", "t.conf:1:3: control character U+0085; "
	    "remove it");
	CHECK_ERROR("k \xff\n", "t.conf:1:3: invalid UTF-8 byte 0xff; save "
	    "the file as UTF-8");
	CHECK_ERROR("# é \xc3\n", "t.conf:1:5: invalid UTF-8 byte 0xc3; "
	    "save the file as UTF-8");
	/* An overlong '/' and a UTF-16 surrogate. */
	CHECK_ERROR("k \xc0\xaf\n", "t.conf:1:3: invalid UTF-8 byte 0xc0; "
	    "save the file as UTF-8");
	CHECK_ERROR("k \xed\xa0\x80\n", "t.conf:1:3: invalid UTF-8 byte "
	    "0xed; save the file as UTF-8");
	CHECK_ERROR("\xef\xbb\xbfk v\n", "t.conf:1:1: UTF-8 byte order "
	    "mark; save the file without it");
	CHECK_ERROR("k a$b\n", "t.conf:1:4: invalid character '$' outside "
	    "quotes; put the value in double quotes");
	CHECK_ERROR("k é\n", "t.conf:1:3: invalid character 'é' outside "
	    "quotes; put the value in double quotes");
	CHECK_ERROR("k a\"b\"\n", "t.conf:1:4: missing space between two "
	    "values; separate them with a space or write them as one "
	    "quoted string");
	CHECK_ERROR("k \"a\"b\n", "t.conf:1:6: missing space between two "
	    "values; separate them with a space or write them as one "
	    "quoted string");
}

static void
test_tree_brace_errors(void)
{
	CHECK_ERROR("a {\n b 1\n", "t.conf:1:3: unbalanced '{': block 'a' "
	    "is not closed; add '}' on a line of its own");
	CHECK_ERROR("a {\n b {\n }\n", "t.conf:1:3: unbalanced '{': block "
	    "'a' is not closed; add '}' on a line of its own");
	CHECK_ERROR("a {", "t.conf:1:3: unbalanced '{': block 'a' is not "
	    "closed; add '}' on a line of its own");
	CHECK_ERROR("a 1\n}\n", "t.conf:2:1: unbalanced '}': no block is "
	    "open");
	CHECK_ERROR("{\n}\n", "t.conf:1:1: '{' without a key; write the "
	    "block's name before it, as in 'name {'");
	CHECK_ERROR("a {\n} b\n", "t.conf:2:3: text after '}'; start the "
	    "next statement on a new line");
	CHECK_ERROR("a {\n}}\n", "t.conf:2:2: text after '}'; start the "
	    "next statement on a new line");
	CHECK_ERROR("a { b 1\n}\n", "t.conf:1:5: text after '{'; start the "
	    "block's first statement on the next line");
	CHECK_ERROR("a {\n b 1 }\n", "t.conf:2:6: '}' must be on a line of "
	    "its own");
}

static void
test_tree_statement_errors(void)
{
	CHECK_ERROR("module\n  /usr/lib/x.so\n", "t.conf:2:3: value "
	    "'/usr/lib/x.so' without a key; a statement starts with a key "
	    "(a letter, then letters, digits, '-' or '_')");
	CHECK_ERROR("\"module\" x\n", "t.conf:1:1: value 'module' without a "
	    "key; a statement starts with a key (a letter, then letters, "
	    "digits, '-' or '_')");
	CHECK_ERROR("80 x\n", "t.conf:1:1: value '80' without a key; a "
	    "statement starts with a key (a letter, then letters, digits, "
	    "'-' or '_')");
}

static void
test_tree_depth_limit(void)
{
	char text[512];
	size_t i, o = 0;

	/* Eight nested blocks parse and a ninth is rejected. */
	for (i = 0; i < 8; i++)
		o += (size_t)sprintf(text + o, "b%zu {\n", i);
	for (i = 0; i < 8; i++)
		o += (size_t)sprintf(text + o, "}\n");
	CHECK_STR(parse_error(text, o), "(parsed without error)");

	o = 0;
	for (i = 0; i < 9; i++)
		o += (size_t)sprintf(text + o, "b%zu {\n", i);
	for (i = 0; i < 9; i++)
		o += (size_t)sprintf(text + o, "}\n");
	CHECK_STR(parse_error(text, o), "t.conf:9:4: blocks nest deeper "
	    "than 8 levels");
}

static void
test_tree_statement_limit(void)
{
	char *text = malloc(CONF_MAX_STATEMENTS * 3 + 16);
	size_t i, o = 0;

	if (text == NULL)
		return;
	for (i = 0; i < CONF_MAX_STATEMENTS; i++) {
		memcpy(text + o, "k\n", 2);
		o += 2;
	}
	CHECK_STR(parse_error(text, o), "(parsed without error)");
	memcpy(text + o, "k\n", 2);
	CHECK_STR(parse_error(text, o + 2), "t.conf:10001:1: more than "
	    "10000 statements; split the file");
	free(text);
}

static void
test_tree_size_limit(void)
{
	size_t len = CONF_MAX_FILE_SIZE + 1;
	char *text = malloc(len);

	if (text == NULL)
		return;
	memset(text, '#', len);
	CHECK_STR(parse_error(text, len - 1), "(parsed without error)");
	CHECK_STR(parse_error(text, len), "t.conf: file is 1048577 bytes, "
	    "more than the maximum of 1048576 (1 MiB)");
	free(text);
}

static void
test_tree_file_errors(void)
{
	char path[] = "/tmp/custos-conf-tree-XXXXXX";
	char fifo_dir[] = "/tmp/custos-conf-fifo-XXXXXX", fifo[64];
	struct conf_tree *tree = NULL;
	char expected[128];
	int fd;

	CHECK(conf_tree_parse_file("/nonexistent/custos.conf", &tree, err,
	    sizeof(err)) == -1);
	CHECK_STR(err, "/nonexistent/custos.conf: cannot open: No such "
	    "file or directory");
	CHECK(conf_tree_parse_file("/tmp", &tree, err, sizeof(err)) == -1);
	CHECK_STR(err, "/tmp: not a regular file");
	CHECK(tree == NULL);

	/* A FIFO without a writer is rejected at once, not waited for. */
	CHECK(mkdtemp(fifo_dir) != NULL);
	snprintf(fifo, sizeof(fifo), "%s/fifo", fifo_dir);
	CHECK(mkfifo(fifo, 0600) == 0);
	CHECK(conf_tree_parse_file(fifo, &tree, err, sizeof(err)) == -1);
	snprintf(expected, sizeof(expected), "%s: not a regular file", fifo);
	CHECK_STR(err, expected);
	unlink(fifo);
	rmdir(fifo_dir);

	fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(ftruncate(fd, CONF_MAX_FILE_SIZE + 1) == 0);
	close(fd);
	CHECK(conf_tree_parse_file(path, &tree, err, sizeof(err)) == -1);
	snprintf(expected, sizeof(expected), "%s: file is larger than the "
	    "maximum of 1048576 bytes (1 MiB)", path);
	CHECK_STR(err, expected);
	unlink(path);
}

static void
test_tree_parse_file(void)
{
	char path[] = "/tmp/custos-conf-tree-XXXXXX";
	static const char text[] = "a {\n b \"x\"\n}\n";
	struct conf_tree *tree = NULL;
	int fd;

	fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, text, sizeof(text) - 1) == sizeof(text) - 1);
	close(fd);
	CHECK(conf_tree_parse_file(path, &tree, err, sizeof(err)) == 0);
	if (tree != NULL) {
		CHECK_STR(tree->file, path);
		CHECK_STR(tree->root.children[0].children[0].values[0].text,
		    "x");
	}
	conf_tree_free(tree);
	unlink(path);
}

static void
test_format_value(void)
{
	char buf[16];

	CHECK_STR(conf_format_value(buf, sizeof(buf), "a\nb\tc"),
	    "a\\nb\\tc");
	CHECK_STR(conf_format_value(buf, sizeof(buf), "0123456789abcdef"),
	    "0123456789ab...");
	CHECK_STR(conf_format_value(buf, 4, "abc"), "");
}

static void
test_error_format(void)
{
	char small[12];

	CHECK_INT(conf_error(err, sizeof(err), "f", 3, 7, "bad %s", "x"), -1);
	CHECK_STR(err, "f:3:7: bad x");
	conf_error(small, sizeof(small), "file", 10, 20, "message");
	CHECK_STR(small, "file:10:20:");
}

int
main(void)
{
	RUN(test_tree_statements_and_blocks);
	RUN(test_tree_string_escapes);
	RUN(test_tree_columns_count_characters);
	RUN(test_tree_crlf_and_no_final_newline);
	RUN(test_tree_empty_inputs);
	RUN(test_tree_string_errors);
	RUN(test_tree_character_errors);
	RUN(test_tree_brace_errors);
	RUN(test_tree_statement_errors);
	RUN(test_tree_depth_limit);
	RUN(test_tree_statement_limit);
	RUN(test_tree_size_limit);
	RUN(test_tree_file_errors);
	RUN(test_tree_parse_file);
	RUN(test_format_value);
	RUN(test_error_format);
	return check_done();
}
