/*
 * vfiomigctl.c: the command-line client of vfiomigd's control socket.
 * main(): the global options, the command table (one entry per command:
 * its usage, options and function), finding the command and running it,
 * the usage and help assembled from the table, option parsing for every
 * command.  The commands are cmd-*.c's (one file per group), what they
 * share cli.c's, the socket client.c's, the printing output.c's;
 * vfiomigctl(8) is the manual.
 *
 * Exit codes: 0 ok, 1 the daemon refused or failed a request, 2 usage,
 * 3 the daemon cannot be reached, 4 a migration failed.
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "conf.h"
#include "output.h"
#include "util.h"

/* ---- usage ---- */

static const struct cli_cmd *const cmd_table[];

static void
ctl_usage_cmd(FILE *f, const char *prog, const struct cli_cmd *ce)
{
	fprintf(f, "usage: %s [-s socket] [-o text|json] %s%s%s\n", prog,
	    ce->name, ce->args[0] != '\0' ? " " : "", ce->args);
}

static void
ctl_usage(FILE *f, const char *prog)
{
	const struct cli_cmd *const *ce;

	fprintf(f, "usage: %s [-s socket] [-o text|json] command [args]\n"
	    "commands:\n", prog);
	for (ce = cmd_table; *ce != NULL; ce++)
		fprintf(f, "  %-18s %s\n", (*ce)->name, (*ce)->help);
	fprintf(f, "`%s COMMAND --help' tells more.\n", prog);
}

/* The usage of every command of @group ("set"). */
static void
ctl_usage_group(FILE *f, const char *prog, const char *group)
{
	const struct cli_cmd *const *ce;
	size_t n = strlen(group);

	for (ce = cmd_table; *ce != NULL; ce++)
		if (strncmp((*ce)->name, group, n) == 0 &&
		    (*ce)->name[n] == ' ')
			ctl_usage_cmd(f, prog, *ce);
}

/* A usage error: what is wrong, the command's usage; exit 2. */
int PRINTFLIKE(2, 3)
ctl_bad(struct ctl *ctl, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", ctl->prog);
	if (ctl->cmd != NULL)
		fprintf(stderr, "%s: ", ctl->cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (ctl->cmd != NULL)
		ctl_usage_cmd(stderr, ctl->prog, ctl->cmd);
	else if (ctl->group != NULL)
		ctl_usage_group(stderr, ctl->prog, ctl->group);
	else
		fprintf(stderr, "usage: %s [-s socket] [-o text|json] command "
		    "[args]\n`%s help' lists the commands.\n", ctl->prog,
		    ctl->prog);
	return EXIT_USAGE;
}

static void
ctl_help_cmd(struct ctl *ctl, const struct cli_cmd *ce)
{
	ctl_usage_cmd(stdout, ctl->prog, ce);
	printf("%s.\n", ce->help);
	if (ce->opthelp != NULL)
		printf("%s", ce->opthelp);
	printf("See vfiomigctl(8).\n");
}

static int
cmd_help(struct ctl *ctl, int argc, char **argv);

/* ---- the command table ---- */

static const struct cli_cmd cmd_help_entry = {
	"help", "[COMMAND]", "this list, or a command's usage",
	NULL, NULL, 0, 2, cmd_help, NULL
};

/*
 * Every command, in the order `help' lists them; their entries are their
 * group's cmd-*.c's.
 */
static const struct cli_cmd *const cmd_table[] = {
	&cmd_status_entry,
	&cmd_set_list_entry, &cmd_set_create_entry, &cmd_set_remove_entry,
	&cmd_device_list_entry, &cmd_device_add_entry, &cmd_device_remove_entry,
	&cmd_incoming_entry,
	&cmd_migrate_entry, &cmd_check_entry, &cmd_tune_entry,
	&cmd_switchover_entry,
	&cmd_cancel_entry,
	&cmd_release_entry, &cmd_resolve_entry, &cmd_info_entry,
	&cmd_watch_entry, &cmd_wait_entry,
	&cmd_version_entry, &cmd_help_entry,
	NULL
};

/*
 * The entry for argv[0] (and argv[1] for a group); *@used is how many
 * words it took.  NULL if none; *@group then says whether argv[0] was a
 * group's name.
 */
static const struct cli_cmd *
cmd_find(int argc, char **argv, int *used, bool *group)
{
	const struct cli_cmd *const *ce;
	size_t n;

	*group = false;
	for (ce = cmd_table; *ce != NULL; ce++) {
		n = strcspn((*ce)->name, " ");
		if (strncmp((*ce)->name, argv[0], n) != 0 || argv[0][n] != '\0')
			continue;
		if ((*ce)->name[n] == '\0') {
			*used = 1;
			return *ce;
		}
		*group = true;
		if (argc > 1 && strcmp((*ce)->name + n + 1, argv[1]) == 0) {
			*used = 2;
			return *ce;
		}
	}
	return NULL;
}

static int
cmd_help(struct ctl *ctl, int argc, char **argv)
{
	const struct cli_cmd *ce;
	bool group;
	int used;

	if (argc == 0) {
		ctl_usage(stdout, ctl->prog);
		return EXIT_OK;
	}
	if ((ce = cmd_find(argc, argv, &used, &group)) == NULL) {
		if (!group)
			return ctl_bad(ctl, "no command \"%s\"", argv[0]);
		ctl_usage_group(stdout, ctl->prog, argv[0]);
		return EXIT_OK;
	}
	ctl_help_cmd(ctl, ce);
	return EXIT_OK;
}

/* ---- option parsing ---- */

/* The getopt_long() table of @ce: its options and --help. */
static struct option *
cmd_options(const struct cli_cmd *ce)
{
	static const struct option help = { "help", no_argument, NULL, 'h' };
	struct option *o;
	size_t n = 0;

	while (ce->opts != NULL && ce->opts[n].name != NULL)
		n++;
	o = xcalloc(n + 2, sizeof *o);
	if (n > 0)
		memcpy(o, ce->opts, n * sizeof *o);
	o[n] = help;
	return o;
}

/*
 * Parses the command's options (GNU style: options and arguments in any
 * order) and checks the count of arguments.  -1 on, with @argc and @argv the
 * arguments; else an exit code (--help: 0, a usage error: 2).
 */
int
cmd_getopt(struct ctl *ctl, int *argc, char ***argv, void *arg)
{
	const struct cli_cmd *ce = ctl->cmd;
	struct option *opts;
	int ch, idx, rc = -1;

	opts = cmd_options(ce);
	optind = 0;
	opterr = 0;
	while (rc < 0 && (idx = -1, ch = getopt_long(*argc, *argv, ":",
	    opts, &idx)) != -1) {
		ctl->optname = idx >= 0 ? opts[idx].name : "?";
		if (ch == 'h') {
			ctl_help_cmd(ctl, ce);
			rc = EXIT_OK;
		} else if (ch == '?')
			rc = ctl_bad(ctl, "unknown option \"%s\"",
			    (*argv)[optind - 1]);
		else if (ch == ':')
			rc = ctl_bad(ctl, "option \"%s\" needs a value",
			    (*argv)[optind - 1]);
		else
			rc = ce->opt(ctl, arg, ch, optarg);
	}
	free(opts);
	if (rc >= 0)
		return rc;
	*argc -= optind;
	*argv += optind;
	if (*argc < ce->minargs)
		return ctl_bad(ctl, "missing argument");
	if (*argc > ce->maxargs)
		return ctl_bad(ctl, "too many arguments (\"%s\")",
		    (*argv)[ce->maxargs]);
	return -1;
}

/*
 * Runs the command; argv[0] is its (last) name.  A command with options
 * of its own parses them itself (cmd_getopt() with its argument struct);
 * for the others, --help and the count of arguments are checked here.
 */
static int
cmd_run(struct ctl *ctl, int argc, char **argv)
{
	const struct cli_cmd *ce = ctl->cmd;
	void *noarg = NULL;
	int rc;

	if (ce->opts != NULL)
		return ce->exec(ctl, argc, argv);
	if ((rc = cmd_getopt(ctl, &argc, &argv, &noarg)) >= 0)
		return rc;
	return ce->exec(ctl, argc, argv);
}

static int
ctl_main_opts(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:s:o:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			ctl->socket = optarg;
			break;
		case 'o':
			if (output_parse_mode(optarg, &ctl->mode) < 0)
				return ctl_bad(ctl, "-o: \"text\" or \"json\", "
				    "not \"%s\"", optarg);
			break;
		case 'h':
			ctl_usage(stdout, ctl->prog);
			return EXIT_OK;
		case 'V':
			printf("vfiomigctl %s\n", PACKAGE_VERSION);
			return EXIT_OK;
		case ':':
			return ctl_bad(ctl, "option \"%s\" needs a value",
			    argv[optind - 1]);
		default:
			return ctl_bad(ctl, "unknown option \"%s\"",
			    argv[optind - 1]);
		}
	}
	return -1;
}

int
main(int argc, char **argv)
{
	struct ctl ctl;
	const char *env;
	bool group;
	int rc, used;

	memset(&ctl, 0, sizeof ctl);
	ctl.prog = "vfiomigctl";
	ctl.c.fd = -1;
	ctl.socket = CONFIG_DEFAULT_CONTROL_SOCKET;
	if ((env = getenv("VFIOMIG_SOCKET")) != NULL && env[0] != '\0')
		ctl.socket = env;
	signal(SIGPIPE, SIG_IGN);
	if ((rc = ctl_main_opts(&ctl, argc, argv)) >= 0)
		return rc;
	argc -= optind;
	argv += optind;
	if (argc == 0)
		return ctl_bad(&ctl, "no command");
	if ((ctl.cmd = cmd_find(argc, argv, &used, &group)) == NULL) {
		if (group)
			ctl.group = argv[0];
		if (group && argc > 1)
			return ctl_bad(&ctl, "%s: no subcommand \"%s\"", argv[0],
			    argv[1]);
		if (group)
			return ctl_bad(&ctl, "%s: a subcommand is needed",
			    argv[0]);
		return ctl_bad(&ctl, "no command \"%s\"", argv[0]);
	}
	rc = cmd_run(&ctl, argc - used + 1, argv + used - 1);
	client_msg_free(&ctl.reply);
	client_close(&ctl.c);
	return rc;
}
