/*
 * cli.h: what vfiomigctl's files share.  The exit codes, the command
 * table's entry (struct cli_cmd), the state of one run (struct ctl), and
 * the helpers every command uses: usage errors and option parsing
 * (vfiomigctl.c), numbers, requests and answers, the signals (cli.c).
 * Each command group's entries come from its cmd-*.c; the socket is
 * client.h's, the printing output.h's.
 */
#ifndef VFIOMIG_CLI_H
#define VFIOMIG_CLI_H

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "client.h"
#include "output.h"

#define EXIT_OK		0
#define EXIT_FAIL	1
#define EXIT_USAGE	2
#define EXIT_NODAEMON	3
#define EXIT_MIGFAIL	4

#define CTL_TIMEOUT_MS		60000	/* for one answer */
#define CTL_WAIT_TICK_MS	500	/* --wait: how often signals are seen */
/* Sets a List request asks for (= the daemon's CONFIG_MAX_SETS). */
#define CTL_LIST_PAGE		256

typedef Vfiomig__V1__Request Request;
typedef Vfiomig__V1__Response Response;
typedef Vfiomig__V1__MigrationInfo MigrationInfo;

struct ctl {
	const char		*prog;
	const char		*socket;
	enum output_mode	 mode;
	const struct cli_cmd	*cmd;
	const char		*group;		/* "set" in "set frob" */
	const char		*optname;	/* the option being parsed */
	struct client		 c;
	uint64_t		 next_id;
	struct client_msg	 reply;		/* the last answer */
};

/*
 * One command.  A command with options of its own (@opts) parses them
 * with cmd_getopt(), which hands each to @opt with the command's argument
 * struct: -1 on, else an exit code.
 */
struct cli_cmd {
	const char	*name;		/* "set list": two words for a group */
	const char	*args;		/* usage after the name */
	const char	*help;
	const char	*opthelp;	/* the options, one per line */
	const struct option *opts;	/* without --help, added for all */
	int		 minargs;
	int		 maxargs;
	int		(*exec)(struct ctl *, int, char **);
	int		(*opt)(struct ctl *, void *, int, const char *);
};

/* vfiomigctl.c */
int	ctl_bad(struct ctl *, const char *, ...) PRINTFLIKE(2, 3);
int	cmd_getopt(struct ctl *, int *, char ***, void *);

/* cli.c */
extern volatile sig_atomic_t ctl_signalled;
void	ctl_catch_signals(void);
int	ctl_parse_u64(const char *, int, uint64_t *);
int	ctl_parse_u32(const char *, int, uint32_t *);
int	ctl_parse_size(struct ctl *, const char *, uint64_t *);
void	ctl_print_json(struct json_object *, bool);
int	ctl_call(struct ctl *, Vfiomig__V1__Request__BodyCase, const void *,
	    const int *, size_t);
int	ctl_call_set(struct ctl *, Vfiomig__V1__Request__BodyCase,
	    const char *);
const Response *ctl_answer(struct ctl *);
int	ctl_expect(struct ctl *, Vfiomig__V1__Response__BodyCase);
int	ctl_done(struct ctl *, const char *, ...) PRINTFLIKE(2, 3);
int	ctl_call_done(struct ctl *, Vfiomig__V1__Request__BodyCase,
	    const char *, const char *);
bool	ctl_print_pb(struct ctl *, const ProtobufCMessage *);
int	ctl_list_paged(struct ctl *, const char *, uint32_t);
int	ctl_list(struct ctl *, const char *);
int	ctl_info(struct ctl *, const char *);
int	ctl_subscribe(struct ctl *, struct client *, const char *, bool);

/* cmd-info.c */
extern const struct cli_cmd cmd_status_entry, cmd_info_entry,
    cmd_watch_entry, cmd_wait_entry, cmd_version_entry;

/* cmd-set.c */
extern const struct cli_cmd cmd_set_list_entry, cmd_set_create_entry,
    cmd_set_remove_entry, cmd_device_list_entry, cmd_device_add_entry,
    cmd_device_remove_entry;

/* cmd-migrate.c */
extern const struct cli_cmd cmd_incoming_entry, cmd_migrate_entry,
    cmd_check_entry, cmd_tune_entry, cmd_switchover_entry, cmd_cancel_entry;

/* cmd-fence.c */
extern const struct cli_cmd cmd_release_entry, cmd_resolve_entry;

#endif
