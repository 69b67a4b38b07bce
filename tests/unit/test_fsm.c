/*
 * test_fsm.c: fsm.c against the kernel.  The kernel's transition table
 * (vfio_from_fsm_table) and its required-capabilities table
 * (state_flags_table in vfio_mig_get_next_state(), drivers/vfio/vfio_main.c)
 * are transcribed here as data, with their own numbers; every expectation
 * comes from them or from the kernel's own list of combination paths, never
 * from the code under test.  Also: names, parsing, arc data-fd semantics.
 *
 * No device, no I/O.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fsm.h"

/* The uAPI numbers, spelled out here so that a wrong header shows. */
enum { ERR = 0, STOP = 1, RUN = 2, SC = 3, RES = 4, RP2P = 5, PC = 6, PCP2P = 7 };
#define F_SC	1u	/* VFIO_MIGRATION_STOP_COPY */
#define F_P2P	2u	/* VFIO_MIGRATION_P2P */
#define F_PC	4u	/* VFIO_MIGRATION_PRE_COPY */
#define NS	8

/* vfio_from_fsm_table, row = current state, column = target. */
static const int k_table[NS][NS] = {
	/*            ERR  STOP  RUN   SC    RES   RP2P  PC     PCP2P */
	[STOP] =  {  ERR, STOP, RP2P, SC,   RES,  RP2P, RP2P,  RP2P  },
	[RUN] =   {  ERR, RP2P, RUN,  RP2P, RP2P, RP2P, PC,    RP2P  },
	[SC] =    {  ERR, STOP, STOP, SC,   STOP, STOP, ERR,   ERR   },
	[RES] =   {  ERR, STOP, STOP, STOP, RES,  STOP, STOP,  STOP  },
	[RP2P] =  {  ERR, STOP, RUN,  STOP, STOP, RP2P, RUN,   PCP2P },
	[PC] =    {  ERR, RUN,  RUN,  PCP2P, RUN, RUN,  PC,    PCP2P },
	[PCP2P] = {  ERR, RP2P, RP2P, SC,   RP2P, RP2P, PC,    PCP2P },
	[ERR] =   {  ERR, ERR,  ERR,  ERR,  ERR,  ERR,  ERR,   ERR   },
};

/* state_flags_table; ERROR needs every bit (~0U), i.e. is never supported. */
static const uint32_t k_needs[NS] = {
	[ERR] = ~0u,
	[STOP] = F_SC,
	[RUN] = F_SC,
	[SC] = F_SC,
	[RES] = F_SC,
	[RP2P] = F_SC | F_P2P,
	[PC] = F_SC | F_PC,
	[PCP2P] = F_SC | F_P2P | F_PC,
};

static const char *k_names[NS] = {
	"ERROR", "STOP", "RUNNING", "STOP_COPY", "RESUMING", "RUNNING_P2P",
	"PRE_COPY", "PRE_COPY_P2P",
};

static int
k_has(uint32_t flags, int s)
{
	return (k_needs[s] & flags) == k_needs[s];
}

/* The kernel's answer, computed from the transcribed tables. */
static int
k_next(uint32_t flags, int cur, int target)
{
	int next;

	if (!k_has(flags, cur) || !k_has(flags, target))
		return -EINVAL;
	next = k_table[cur][target];
	while (next != ERR && !k_has(flags, next))
		next = k_table[next][target];
	return next == ERR ? -EINVAL : next;
}

static void
test_numbers(void **state)
{
	assert_int_equal(VFIO_DEVICE_STATE_ERROR, ERR);
	assert_int_equal(VFIO_DEVICE_STATE_STOP, STOP);
	assert_int_equal(VFIO_DEVICE_STATE_RUNNING, RUN);
	assert_int_equal(VFIO_DEVICE_STATE_STOP_COPY, SC);
	assert_int_equal(VFIO_DEVICE_STATE_RESUMING, RES);
	assert_int_equal(VFIO_DEVICE_STATE_RUNNING_P2P, RP2P);
	assert_int_equal(VFIO_DEVICE_STATE_PRE_COPY, PC);
	assert_int_equal(VFIO_DEVICE_STATE_PRE_COPY_P2P, PCP2P);
	assert_int_equal(VFIO_MIGRATION_STOP_COPY, F_SC);
	assert_int_equal(VFIO_MIGRATION_P2P, F_P2P);
	assert_int_equal(VFIO_MIGRATION_PRE_COPY, F_PC);
	assert_int_equal(FSM_NSTATES, NS);
}

/* All 8x8 pairs, for every combination of the three flags. */
static void
test_next_matches_kernel(void **state)
{
	uint32_t flags;
	int cur, target, want, got, checked = 0;

	for (flags = 0; flags <= 7; flags++) {
		for (cur = 0; cur < NS; cur++) {
			for (target = 0; target < NS; target++) {
				want = k_next(flags, cur, target);
				got = fsm_next(flags, cur, target);
				if (got != want)
					print_error("flags %u %s -> %s: got %d, "
					    "kernel %d\n", flags, k_names[cur],
					    k_names[target], got, want);
				assert_int_equal(got, want);
				checked++;
			}
		}
	}
	assert_int_equal(checked, 8 * NS * NS);
}

static void
test_supported(void **state)
{
	uint32_t flags;
	int s;

	for (flags = 0; flags <= 7; flags++) {
		for (s = 0; s < NS; s++)
			assert_int_equal(fsm_supported(flags, s),
			    k_has(flags, s) ? true : false);
		assert_false(fsm_supported(flags, -1));
		assert_false(fsm_supported(flags, NS));
	}
	/* Unknown extra bits change nothing. */
	for (s = 0; s < NS; s++)
		assert_int_equal(fsm_supported(0xf0 | F_SC, s),
		    fsm_supported(F_SC, s));
}

static void
test_out_of_range(void **state)
{
	uint32_t flags;
	int s;

	for (flags = 0; flags <= 7; flags++) {
		for (s = 0; s < NS; s++) {
			assert_int_equal(fsm_next(flags, s, -1), -EINVAL);
			assert_int_equal(fsm_next(flags, s, NS), -EINVAL);
			assert_int_equal(fsm_next(flags, s, 9), -EINVAL);
			assert_int_equal(fsm_next(flags, -1, s), -EINVAL);
			assert_int_equal(fsm_next(flags, NS, s), -EINVAL);
			assert_int_equal(fsm_next(flags, s, ERR), -EINVAL);
			assert_int_equal(fsm_next(flags, ERR, s), -EINVAL);
		}
	}
}

/* A saving state (PRE_COPY, PRE_COPY_P2P, STOP_COPY). */
static int
saving(int s)
{
	return s == PC || s == PCP2P || s == SC;
}

/*
 * Following fsm_next from cur reaches target within 8 arcs, through
 * supported states only, and through a saving state in the interior only
 * from a saving state to a saving state (the uAPI's path rule: a stream is
 * never started mid-way).
 */
static void
test_walks(void **state)
{
	uint32_t flags;
	int cur, target, s, next, arcs, walks = 0;

	for (flags = 0; flags <= 7; flags++) {
		for (cur = 0; cur < NS; cur++) {
			for (target = 0; target < NS; target++) {
				if (k_next(flags, cur, target) < 0)
					continue;
				s = cur;
				for (arcs = 0; s != target && arcs < NS; arcs++) {
					next = fsm_next(flags, s, target);
					assert_true(next > 0);
					assert_true(k_has(flags, next));
					/*
					 * A saving state inside a path only
					 * within the saving group (one stream).
					 */
					if (next != target && saving(next))
						assert_true(saving(cur) &&
						    saving(target));
					assert_int_not_equal(next, s);
					s = next;
				}
				assert_int_equal(s, target);
				assert_true(arcs <= NS);
				walks++;
			}
		}
	}
	/*
	 * Supported pairs: flags 1: 4x4; 3: 5x5; 5: 5x5 less STOP_COPY ->
	 * PRE_COPY; 7: 7x7 less STOP_COPY -> PRE_COPY, PRE_COPY_P2P.
	 */
	assert_int_equal(walks, 16 + 25 + 24 + 47);
}

/* STOP_COPY -> PRE_COPY* is refused for every flag set that has them. */
static void
test_refused(void **state)
{
	assert_int_equal(fsm_next(F_SC | F_PC, SC, PC), -EINVAL);
	assert_int_equal(fsm_next(F_SC | F_P2P | F_PC, SC, PC), -EINVAL);
	assert_int_equal(fsm_next(F_SC | F_P2P | F_PC, SC, PCP2P), -EINVAL);
	assert_int_equal(fsm_next(F_SC | F_P2P | F_PC, SC, SC), SC);
}

/*
 * The kernel's comment lists the combination transitions for a device with
 * every feature; fsm_next must walk exactly these paths.
 */
static const int k_paths[][6] = {
	{ PC, PCP2P, SC, -1 },
	{ PC, RUN, RP2P, -1 },
	{ PC, RUN, RP2P, STOP, -1 },
	{ PC, RUN, RP2P, STOP, RES, -1 },
	{ PCP2P, RP2P, RUN, -1 },
	{ PCP2P, RP2P, STOP, -1 },
	{ PCP2P, RP2P, STOP, RES, -1 },
	{ RES, STOP, RP2P, -1 },
	{ RES, STOP, RP2P, PCP2P, -1 },
	{ RES, STOP, RP2P, RUN, -1 },
	{ RES, STOP, RP2P, RUN, PC, -1 },
	{ RES, STOP, SC, -1 },
	{ RUN, RP2P, PCP2P, -1 },
	{ RUN, RP2P, STOP, -1 },
	{ RUN, RP2P, STOP, RES, -1 },
	{ RUN, RP2P, STOP, SC, -1 },
	{ RP2P, RUN, PC, -1 },
	{ RP2P, STOP, RES, -1 },
	{ RP2P, STOP, SC, -1 },
	{ STOP, RP2P, PCP2P, -1 },
	{ STOP, RP2P, RUN, -1 },
	{ STOP, RP2P, RUN, PC, -1 },
	{ STOP, SC, -1 },
	{ SC, STOP, RES, -1 },
	{ SC, STOP, RP2P, -1 },
	{ SC, STOP, RP2P, RUN, -1 },
};

static void
test_kernel_paths(void **state)
{
	const uint32_t all = F_SC | F_P2P | F_PC;
	size_t i;
	int n, last, j;

	for (i = 0; i < sizeof k_paths / sizeof k_paths[0]; i++) {
		for (n = 0; k_paths[i][n] >= 0; n++)
			;
		last = k_paths[i][n - 1];
		for (j = 0; j + 1 < n; j++)
			assert_int_equal(fsm_next(all, k_paths[i][j], last),
			    k_paths[i][j + 1]);
	}
}

/* A device with STOP_COPY alone: direct arcs, the P2P states skipped. */
static void
test_stop_copy_only(void **state)
{
	assert_int_equal(fsm_next(F_SC, RUN, STOP), STOP);
	assert_int_equal(fsm_next(F_SC, STOP, RUN), RUN);
	assert_int_equal(fsm_next(F_SC, RUN, SC), STOP);
	assert_int_equal(fsm_next(F_SC, RES, RUN), STOP);
	assert_int_equal(fsm_next(F_SC, RUN, RP2P), -EINVAL);
	assert_int_equal(fsm_next(F_SC, RUN, PC), -EINVAL);
	/* PRE_COPY without P2P: PRE_COPY -> STOP_COPY is one arc. */
	assert_int_equal(fsm_next(F_SC | F_PC, PC, SC), SC);
	assert_int_equal(fsm_next(F_SC | F_PC, PC, STOP), RUN);
	/* What mtty's kernel walked for RUNNING -> RESUMING (testbed.md). */
	assert_int_equal(fsm_next(7, RUN, RES), RP2P);
	assert_int_equal(fsm_next(7, RP2P, RES), STOP);
	assert_int_equal(fsm_next(7, STOP, RES), RES);
}

static void
test_same_state(void **state)
{
	uint32_t flags;
	int s;

	for (flags = 0; flags <= 7; flags++)
		for (s = 1; s < NS; s++)
			if (k_has(flags, s))
				assert_int_equal(fsm_next(flags, s, s), s);
}

static void
test_names(void **state)
{
	char lower[32];
	int s;
	size_t i;

	for (s = 0; s < NS; s++) {
		assert_string_equal(fsm_name(s), k_names[s]);
		assert_int_equal(fsm_parse(fsm_name(s)), s);
		for (i = 0; k_names[s][i] != '\0'; i++)
			lower[i] = tolower((unsigned char)k_names[s][i]);
		lower[i] = '\0';
		assert_int_equal(fsm_parse(lower), s);
	}
	assert_string_equal(fsm_name(-1), "INVALID");
	assert_string_equal(fsm_name(NS), "INVALID");
	assert_int_equal(fsm_parse("VFIO_DEVICE_STATE_STOP_COPY"), SC);
	assert_int_equal(fsm_parse("bogus"), -EINVAL);
	assert_int_equal(fsm_parse(""), -EINVAL);
	assert_int_equal(fsm_parse("RUNNING_"), -EINVAL);
	assert_int_equal(fsm_parse("INVALID"), -EINVAL);
	assert_int_equal(fsm_parse(NULL), -EINVAL);
}

static void
test_state_properties(void **state)
{
	int s;

	for (s = 0; s < NS; s++) {
		assert_int_equal(fsm_initiates_p2p(s), s == RUN || s == PC);
		assert_int_equal(fsm_is_p2p(s), s == RP2P || s == PCP2P);
		assert_int_equal(fsm_serves_mmio(s),
		    s == RUN || s == PC || s == RP2P || s == PCP2P);
	}
}

/* The arcs fsm.h names, and no others. */
static void
test_arc_data(void **state)
{
	static const int opens[][2] = {
		{ RUN, PC }, { RP2P, PCP2P }, { STOP, SC }, { STOP, RES },
	};
	static const int keeps[][2] = {
		{ PC, PCP2P }, { PCP2P, PC }, { PCP2P, SC }, { PC, SC },
	};
	int cur, next, o, k;
	size_t i;

	for (cur = 0; cur < NS; cur++) {
		for (next = 0; next < NS; next++) {
			o = k = 0;
			for (i = 0; i < 4; i++) {
				o |= opens[i][0] == cur && opens[i][1] == next;
				k |= keeps[i][0] == cur && keeps[i][1] == next;
			}
			assert_int_equal(fsm_arc_opens_data(cur, next), o);
			/* An arc that opens a new fd does not keep the old. */
			assert_false(fsm_arc_opens_data(cur, next) &&
			    fsm_arc_keeps_data(cur, next));
			if (k)
				assert_true(fsm_arc_keeps_data(cur, next));
			/* Leaving the saving group / RESUMING ends the fd. */
			if (!saving(next) && next != RES)
				assert_false(fsm_arc_keeps_data(cur, next));
			/* Nothing keeps a stream it does not have. */
			if (!saving(cur) && cur != RES)
				assert_false(fsm_arc_keeps_data(cur, next));
			/* STOP_COPY cannot go back to pre-copy. */
			if (cur == SC && next != SC)
				assert_false(fsm_arc_keeps_data(cur, next));
		}
	}
}

static void
test_flags_str(void **state)
{
	char buf[64], tiny[6];

	assert_string_equal(fsm_flags_str(7, buf, sizeof buf),
	    "STOP_COPY|P2P|PRE_COPY");
	assert_string_equal(fsm_flags_str(F_SC, buf, sizeof buf), "STOP_COPY");
	assert_string_equal(fsm_flags_str(F_SC | F_PC, buf, sizeof buf),
	    "STOP_COPY|PRE_COPY");
	assert_string_equal(fsm_flags_str(0, buf, sizeof buf), "none");
	assert_string_equal(fsm_flags_str(F_SC | 0x100, buf, sizeof buf),
	    "STOP_COPY|0x100");
	memset(tiny, 'x', sizeof tiny);
	fsm_flags_str(7, tiny, sizeof tiny);
	assert_int_equal(strlen(tiny), sizeof tiny - 1);
	assert_memory_equal(tiny, "STOP_", 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_next_matches_kernel),
		cmocka_unit_test(test_supported),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_walks),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_kernel_paths),
		cmocka_unit_test(test_stop_copy_only),
		cmocka_unit_test(test_same_state),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_state_properties),
		cmocka_unit_test(test_arc_data),
		cmocka_unit_test(test_flags_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
