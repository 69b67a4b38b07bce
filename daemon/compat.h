/* compat.h: small portable helpers shared by every file (no I/O, no state). */
#ifndef VFIOMIG_COMPAT_H
#define VFIOMIG_COMPAT_H

#include <stddef.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define PRINTFLIKE(f, a) __attribute__((format(printf, f, a)))

#endif
