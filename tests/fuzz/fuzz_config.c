/*
 * fuzz_config.c: libFuzzer harness of the configuration parser
 * (config.c): the input is the text of a configuration file.  Pure: it
 * parses, looks every set up and frees; nothing is opened.
 * tests/fuzz/README.md: how to run it.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "conf.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz_config", LOG_LVL_ERR);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c;
	struct err e;
	char *h, *p;
	int i;

	if (config_parse((const char *)data, size, "fuzz.json", &c, &e) != 0)
		return 0;
	for (i = 0; i < c->nsets; i++)
		if (config_find_set(c, c->sets[i].name) != &c->sets[i])
			__builtin_trap();
	if (c->migration.listen != NULL &&
	    config_parse_hostport(c->migration.listen, &h, &p, &e) == 0) {
		free(h);
		free(p);
	}
	config_free(c);
	return 0;
}
