/* SPDX-License-Identifier: MIT */
/*
 * derper's command line (tailscale.com/cmd/derper), so that a derper unit
 * switches to this relay by changing the binary's path. Each derper flag
 * is a row of one table (derper_flags.c) naming the INI key it sets, and
 * docs/derper-flags.md lists them all.
 *
 * A row whose key this build does not have (another part of the relay adds
 * it) is refused by name, "-mesh-with: not supported by this build (see
 * docs/derper-flags.md)", unless the flag is given with derper's default,
 * which asks for nothing. The row starts working by itself once the key
 * exists: config_has_key decides at run time.
 *
 * derper's flags are Go's: -name value, -name=value, --name=value, and a
 * bool as -name or -name=false. Our own options start with "--" and keep
 * their meaning; config_from_args tells the two apart.
 */
#ifndef HD_DERPER_FLAGS_H
#define HD_DERPER_FLAGS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define DERPER_FLAGS_MAX 32

/* The derper flags of one command line, as given (the value's text). */
struct derper_args {
	bool any;			     /* at least one derper flag: derper's defaults apply */
	bool version;			     /* -version */
	bool help;			     /* -h, -help */
	const char *value[DERPER_FLAGS_MAX]; /* by table row; NULL = not given */
};

/*
 * Whether word ("-name", "--name=v" ...) is one of derper's flags, and
 * whether it takes the next word of the command line as its value.
 */
bool derper_flag_word(const char *word, bool *wants_value);

/*
 * Reads derper flag words (each one's value, if separate, follows it).
 * Unknown flags and values a flag cannot take are errors ("-stun-port:
 * invalid value \"x\""). Returns 0 or -1.
 */
int derper_args_parse(char **words, int n, struct derper_args *out, char *err, size_t errlen);

enum derper_phase {
	/* Before the --config file: what derper does when a flag is not given. */
	DERPER_DEFAULTS,
	/* After it: the flags given, which the file does not override. */
	DERPER_GIVEN,
};

/* Sets the keys the flags map onto. Returns 0, or -1 with the flag in the reason. */
int derper_args_apply(const struct derper_args *a, enum derper_phase phase, struct hd_config *cfg,
		      char *err, size_t errlen);

/*
 * After everything else (the file, our options): port 443 and no
 * certificate from anywhere is derper's Let's Encrypt default. Applied as
 * tls.mode = acme where the certificate part is built, else refused by
 * name rather than served as plain HTTP.
 */
int derper_args_finish(const struct derper_args *a, struct hd_config *cfg, char *err,
		       size_t errlen);

/* The table's flags by row (without the dash), for the docs check; NULL past the end. */
const char *derper_flag_name(size_t row);

#endif
