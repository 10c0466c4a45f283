/*
 * Parses one text with conf_tree_parse() (config/conf_tree.c), the syntax
 * under both the configuration and the policy file. In an accepted tree
 * every position must be a real line and column, blocks must nest no
 * deeper than CONF_MAX_DEPTH, and every value must format into a short
 * message buffer with conf_format_value().
 */
#include "tests/fuzz/fuzz.h"

#include "config/conf_tree.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup("fuzz_shared_conf_tree");
	return 0;
}

/* Checks node and its children and returns their number of statements. */
static size_t
check_node(const struct conf_node *node, int depth)
{
	char shown[24];
	size_t i, count = 1;

	FUZZ_ASSERT(depth <= CONF_MAX_DEPTH + 1);
	FUZZ_ASSERT(node->key != NULL);
	FUZZ_ASSERT(node->line >= 1 && node->column >= 1);
	for (i = 0; i < node->value_count; i++) {
		FUZZ_ASSERT(node->values[i].text != NULL);
		FUZZ_ASSERT(node->values[i].line >= node->line);
		conf_format_value(shown, sizeof(shown), node->values[i].text);
		FUZZ_ASSERT(strlen(shown) < sizeof(shown));
	}
	FUZZ_ASSERT(node->has_block || node->child_count == 0);
	for (i = 0; i < node->child_count; i++)
		count += check_node(&node->children[i], depth + 1);
	return count;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_tree *tree = NULL;
	char err[512];
	size_t i, count = 0;

	if (conf_tree_parse("fuzz.conf", (const char *)data, size, &tree, err,
	    sizeof(err)) != 0) {
		FUZZ_ASSERT(tree == NULL);
		FUZZ_ASSERT(fuzz_is_terminated(err, sizeof(err)));
		FUZZ_ASSERT(strncmp(err, "fuzz.conf:", 10) == 0);
		return 0;
	}
	FUZZ_ASSERT(tree != NULL);
	FUZZ_ASSERT(size <= CONF_MAX_FILE_SIZE);
	for (i = 0; i < tree->root.child_count; i++)
		count += check_node(&tree->root.children[i], 1);
	FUZZ_ASSERT(count <= CONF_MAX_STATEMENTS);
	conf_tree_free(tree);
	return 0;
}
