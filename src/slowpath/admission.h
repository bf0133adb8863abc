/* SPDX-License-Identifier: MIT */
/*
 * Client admission, as derper decides it ([admission] keys):
 *
 * - verify_clients: the local tailscaled is asked whether it knows the node
 *   key (LocalAPI GET /localapi/v0/whois?addr=nodekey:<hex> over its Unix
 *   socket): 200 admits, 404 refuses, anything else (tailscaled down, an
 *   error) refuses.
 * - verify_client_url: {"NodePublic":"nodekey:<hex>","Source":"<ip>"} is
 *   POSTed there; a 200 answer of {"Allow":true} admits, any other answer
 *   refuses, and a controller that cannot be reached or does not answer
 *   in time admits when fail_open is set (derper's
 *   -verify-client-url-fail-open), else refuses.
 *
 * With both set, both must admit, tailscaled asked first, as in derper.
 *
 * The slow path is one thread that must never wait on a check, so checks
 * run on ADMISSION_THREADS threads of their own: the slow path submits a
 * check and goes on with other connections; a finished check is taken
 * back when the eventfd (admission_event_fd) becomes readable. A slow
 * controller ties up one thread per check; ADMISSION_QUEUE_MAX checks may
 * wait for a thread, more are refused at once (busy). Answers (admit or
 * refuse, not failures) are kept for cache_ms per node key and address.
 */
#ifndef HD_ADMISSION_H
#define HD_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <limits.h>

/*
 * Checks at once. Each is mostly a wait on the controller: with 4, a
 * controller taking 50 ms an answer admitted at most 80 clients a second
 * (perf/admission.sh), too few for a relay's reconnect storm. 32 threads of
 * 256 KiB stacks cost little and allow 640 a second at 50 ms.
 */
#define ADMISSION_THREADS    32
#define ADMISSION_STACK_SIZE (256 * 1024)
#define ADMISSION_QUEUE_MAX 4096

enum admission_verdict {
	ADMISSION_ALLOWED = 0, /* told yes */
	ADMISSION_REFUSED,     /* told no: unknown to tailscaled, or Allow false */
	ADMISSION_FAILED,      /* could not ask, or a bad answer, and not fail_open: refused */
	ADMISSION_FAIL_OPEN,   /* the controller could not be reached: admitted (fail_open) */
	ADMISSION_BUSY,	       /* ADMISSION_QUEUE_MAX checks waiting already: refused */
	ADMISSION_VERDICT_COUNT,
};

extern const char *const admission_verdict_names[ADMISSION_VERDICT_COUNT];

static inline bool admission_admits(enum admission_verdict v)
{
	return v == ADMISSION_ALLOWED || v == ADMISSION_FAIL_OPEN;
}

struct admission_result {
	void *token; /* what admission_submit was given */
	enum admission_verdict verdict;
};

struct admission;

/* The [admission] keys, as the slow path gets them (slowpath_settings.h). */
struct admission_settings {
	bool verify_clients; /* ask the local tailscaled */
	char tailscaled_socket[PATH_MAX];
	char verify_client_url[1024]; /* empty = none */
	bool fail_open;		      /* admit when the URL cannot be reached */
	uint32_t cache_ms;	      /* how long an answer is reused */
	uint32_t timeout_ms;
};

/* Whether set asks for any check. */
bool admission_configured(const struct admission_settings *set);
/* Starts the check threads. NULL with the reason in err. */
struct admission *admission_create(const struct admission_settings *set, char *err, size_t errlen);
/* Stops the threads (checks under way end at once) and frees everything. */
void admission_destroy(struct admission *a);

/* Readable (an eventfd) while finished checks wait to be taken. */
int admission_event_fd(const struct admission *a);
/*
 * Starts the check of a client: its node key and address (IPv6 or
 * IPv4-mapped). Returns true when it is answered at once (from the
 * cache, or busy), with the verdict in *now; false when it was queued and
 * its result will come from admission_take with token.
 */
bool admission_submit(struct admission *a, const uint8_t key[32], const uint8_t ip[16], void *token,
		      enum admission_verdict *now);
/* The next finished check; false when there is none (the eventfd is drained then). */
bool admission_take(struct admission *a, struct admission_result *out);
/* Answers served from the cache so far. */
uint64_t admission_cache_hits(const struct admission *a);

#endif
