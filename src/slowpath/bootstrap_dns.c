// SPDX-License-Identifier: MIT
#include "bootstrap_dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "bootstrap_names.h"
#include "log.h"
#include "textbuf.h"

#define ADDRS_PER_NAME 16 /* a name's addresses kept; a real one has a few */
#define STOP_WAIT_MS   1000

struct resolved {
	unsigned naddrs; /* 0: the lookup failed */
	char addrs[ADDRS_PER_NAME][INET6_ADDRSTRLEN];
};

/* A list of names and the last round's addresses for each, by the same index. */
struct name_set {
	struct bootstrap_names names; /* fixed after start */
	struct resolved current[BOOTSTRAP_NAMES_MAX];
};

struct bootstrap_dns {
	uint32_t refresh_s;
	pthread_t thread;
	bool running;
	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t wake;
	bool stop;
	bool done;		   /* the thread returned */
	bool refreshed;		   /* at least one round finished: the answer is no longer empty */
	struct name_set published; /* bootstrap_dns.names: the answer to everyone */
	struct name_set unpublished; /* bootstrap_dns.unpublished: only to ?q= for one of them */
	uint64_t lookup_failures;
};

/* Fisher-Yates with getrandom: the order changes each round so clients do not all favour the first
 * address. */
static void shuffle(struct resolved *r)
{
	for (unsigned i = r->naddrs; i > 1; i--) {
		uint32_t rnd = 0;
		if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
			return;
		unsigned j = rnd % i;
		char tmp[INET6_ADDRSTRLEN];
		memcpy(tmp, r->addrs[i - 1], sizeof(tmp));
		memcpy(r->addrs[i - 1], r->addrs[j], sizeof(tmp));
		memcpy(r->addrs[j], tmp, sizeof(tmp));
	}
}

static bool already_listed(const struct resolved *r, const char *text)
{
	for (unsigned i = 0; i < r->naddrs; i++) {
		if (strcmp(r->addrs[i], text) == 0)
			return true;
	}
	return false;
}

/* One name, both families, as Go's LookupIP(ctx, "ip", name). */
static void resolve_one(const char *name, struct resolved *out)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;

	out->naddrs = 0;
	int rc = getaddrinfo(name, NULL, &hints, &res);
	if (rc != 0) {
		log_warn("bootstrap DNS lookup \"%s\": %s", name, gai_strerror(rc));
		return;
	}
	for (struct addrinfo *ai = res; ai && out->naddrs < ADDRS_PER_NAME; ai = ai->ai_next) {
		char text[INET6_ADDRSTRLEN];
		const void *addr;
		if (ai->ai_family == AF_INET)
			addr = &((const struct sockaddr_in *)ai->ai_addr)->sin_addr;
		else if (ai->ai_family == AF_INET6)
			addr = &((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
		else
			continue;
		if (!inet_ntop(ai->ai_family, addr, text, sizeof(text)) ||
		    already_listed(out, text))
			continue;
		snprintf(out->addrs[out->naddrs++], INET6_ADDRSTRLEN, "%s", text);
	}
	freeaddrinfo(res);
	shuffle(out);
}

static void *resolver_main(void *arg)
{
	struct bootstrap_dns *b = arg;
	struct name_set *sets[] = { &b->published, &b->unpublished };
	/* Resolved into a copy, then swapped in whole: an answer never mixes two rounds. */
	struct resolved *next = calloc(2 * BOOTSTRAP_NAMES_MAX, sizeof(*next));

	pthread_mutex_lock(&b->lock);
	while (next && !b->stop) {
		pthread_mutex_unlock(&b->lock);
		uint64_t failures = 0;
		for (unsigned s = 0; s < 2; s++) {
			for (unsigned i = 0; i < sets[s]->names.count; i++) {
				struct resolved *r = &next[s * BOOTSTRAP_NAMES_MAX + i];
				resolve_one(sets[s]->names.names[i], r);
				failures += r->naddrs == 0;
			}
		}
		pthread_mutex_lock(&b->lock);
		for (unsigned s = 0; s < 2; s++)
			memcpy(sets[s]->current, next + s * BOOTSTRAP_NAMES_MAX,
			       sets[s]->names.count * sizeof(*next));
		b->refreshed = true;
		b->lookup_failures += failures;

		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += b->refresh_s;
		while (!b->stop && pthread_cond_timedwait(&b->wake, &b->lock, &until) != ETIMEDOUT)
			;
	}
	if (!next)
		log_error("bootstrap DNS: out of memory, /bootstrap-dns stays empty");
	b->done = true;
	pthread_cond_broadcast(&b->wake);
	pthread_mutex_unlock(&b->lock);
	free(next);
	return NULL;
}

struct bootstrap_dns *bootstrap_dns_start(const char *names, const char *unpublished,
					  uint32_t refresh_s)
{
	char reason[128];
	struct bootstrap_dns *b = calloc(1, sizeof(*b));
	if (!b) {
		log_error("bootstrap DNS: out of memory");
		return NULL;
	}
	/* The configuration was checked on load: failing here is a programming error. */
	if (bootstrap_names_parse(names, &b->published.names, reason, sizeof(reason)) < 0 ||
	    bootstrap_names_parse(unpublished, &b->unpublished.names, reason, sizeof(reason)) < 0) {
		log_error("bootstrap_dns: %s", reason);
		free(b);
		return NULL;
	}
	b->refresh_s = refresh_s;
	pthread_mutex_init(&b->lock, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&b->wake, &attr);
	pthread_condattr_destroy(&attr);
	unsigned count = b->published.names.count + b->unpublished.names.count;
	if (count == 0)
		return b;
	int rc = pthread_create(&b->thread, NULL, resolver_main, b);
	if (rc != 0) {
		log_error("bootstrap DNS: cannot start its thread: %s", strerror(rc));
		pthread_cond_destroy(&b->wake);
		pthread_mutex_destroy(&b->lock);
		free(b);
		return NULL;
	}
	b->running = true;
	log_info("bootstrap DNS: resolving %u name%s every %u s", count, count == 1 ? "" : "s",
		 refresh_s);
	return b;
}

void bootstrap_dns_stop(struct bootstrap_dns *b)
{
	if (!b)
		return;
	if (b->running) {
		pthread_mutex_lock(&b->lock);
		b->stop = true;
		pthread_cond_broadcast(&b->wake);
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += STOP_WAIT_MS / 1000;
		while (!b->done && pthread_cond_timedwait(&b->wake, &b->lock, &until) != ETIMEDOUT)
			;
		bool done = b->done;
		pthread_mutex_unlock(&b->lock);
		if (!done) {
			/*
			 * Stuck in getaddrinfo (an unreachable name server takes
			 * seconds): not worth delaying the exit for. The thread
			 * keeps the memory; the process is about to end.
			 */
			log_warn("bootstrap DNS: a lookup is still running; not waiting for it");
			pthread_detach(b->thread);
			return;
		}
		pthread_join(b->thread, NULL);
	}
	pthread_cond_destroy(&b->wake);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/*
 * Under b->lock: Go's MarshalIndent output of a map[string][]net.IP holding
 * the names of set that resolved, or only `only` when it is not NULL; keys
 * sorted, as Go sorts them.
 */
static void write_map(const struct name_set *set, const char *only, struct textbuf *o)
{
	unsigned idx[BOOTSTRAP_NAMES_MAX];
	unsigned n = 0;

	/* Insertion sort of the resolved names' indices: 32 at most. */
	for (unsigned i = 0; i < set->names.count; i++) {
		if (set->current[i].naddrs == 0 || (only && strcmp(set->names.names[i], only) != 0))
			continue;
		unsigned k = n++;
		while (k > 0 && strcmp(set->names.names[idx[k - 1]], set->names.names[i]) > 0) {
			idx[k] = idx[k - 1];
			k--;
		}
		idx[k] = i;
	}
	if (n == 0) {
		/* Go marshals the nil map of a round where nothing resolved as null. */
		textbuf_printf(o, "null");
		return;
	}
	/* Names and addresses need no escaping: bootstrap_names allows neither '"' nor '\\'. */
	textbuf_printf(o, "{\n");
	for (unsigned k = 0; k < n; k++) {
		const struct resolved *r = &set->current[idx[k]];
		textbuf_printf(o, "\t\"%s\": [\n", set->names.names[idx[k]]);
		for (unsigned a = 0; a < r->naddrs; a++)
			textbuf_printf(o, "\t\t\"%s\"%s\n", r->addrs[a],
				       a + 1 < r->naddrs ? "," : "");
		textbuf_printf(o, "\t]%s\n", k + 1 < n ? "," : "");
	}
	textbuf_printf(o, "}");
}

/* Whether name is in set and resolved in the last round. */
static bool resolved_in(const struct name_set *set, const char *name)
{
	for (unsigned i = 0; i < set->names.count; i++) {
		if (strcmp(set->names.names[i], name) == 0)
			return set->current[i].naddrs > 0;
	}
	return false;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void bootstrap_dns_query_param(const char *query, const char *name, char *out, size_t cap)
{
	size_t name_len = strlen(name);
	const char *s = query;

	out[0] = '\0';
	while (*s) {
		const char *end = strchr(s, '&');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		if (len > name_len && strncmp(s, name, name_len) == 0 && s[name_len] == '=') {
			/* The first occurrence wins, as Go's Values.Get. */
			size_t o = 0;
			for (size_t i = name_len + 1; i < len && o + 1 < cap; i++) {
				char c = s[i];
				if (c == '+') {
					c = ' ';
				} else if (c == '%' && i + 2 < len && hex_value(s[i + 1]) >= 0 &&
					   hex_value(s[i + 2]) >= 0) {
					c = (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
					i += 2;
				}
				out[o++] = c;
			}
			out[o] = '\0';
			return;
		}
		if (!end)
			return;
		s = end + 1;
	}
}

int bootstrap_dns_answer(struct bootstrap_dns *b, const char *query, char **body, size_t *len,
			 enum bootstrap_dns_query *found)
{
	char q[BOOTSTRAP_NAME_LEN + 2];
	struct textbuf o = { 0 };

	*body = NULL;
	*len = 0;
	*found = BOOTSTRAP_DNS_NO_QUERY;
	bootstrap_dns_query_param(query, "q", q, sizeof(q));

	pthread_mutex_lock(&b->lock);
	if (q[0] && b->refreshed && resolved_in(&b->unpublished, q)) {
		/* Only the name asked for, never the list: these are not to be published. */
		*found = BOOTSTRAP_DNS_UNPUBLISHED_HIT;
		write_map(&b->unpublished, q, &o);
	} else {
		/*
		 * A name whose lookup failed is left out of derper's map, so derper
		 * counts a query for it as an unpublished miss too.
		 */
		if (q[0])
			*found = b->refreshed && resolved_in(&b->published, q)
				     ? BOOTSTRAP_DNS_PUBLISHED_HIT
				     : BOOTSTRAP_DNS_UNPUBLISHED_MISS;
		/* derper answers nothing until its first round ends, nor without names. */
		if (b->refreshed && b->published.names.count > 0)
			write_map(&b->published, NULL, &o);
	}
	pthread_mutex_unlock(&b->lock);

	if (o.failed) {
		free(o.p);
		return -1;
	}
	*body = o.p;
	*len = o.len;
	return 0;
}

uint64_t bootstrap_dns_lookup_failures(const struct bootstrap_dns *b)
{
	struct bootstrap_dns *m = (struct bootstrap_dns *)b;
	pthread_mutex_lock(&m->lock);
	uint64_t n = m->lookup_failures;
	pthread_mutex_unlock(&m->lock);
	return n;
}
