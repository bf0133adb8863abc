/* SPDX-License-Identifier: MIT */
/*
 * A token bucket as golang.org/x/time/rate has it (derper's limiters):
 * tokens come at `rate` a second up to `burst`, and a take either finds
 * enough or is refused (or is told how long to wait). Integer arithmetic in
 * thousandths of a token, so that a rate of one connection a second and
 * one of a gigabyte a second both keep their fractions. One owner thread:
 * no locking.
 */
#ifndef HD_TOKEN_BUCKET_H
#define HD_TOKEN_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

struct token_bucket {
	uint64_t rate;	      /* tokens a second; 0 = no limit */
	uint64_t burst_milli; /* what the bucket holds when full */
	uint64_t tokens_milli;
	int64_t debt_milli; /* taken ahead of time (token_bucket_take_debt), paid back first */
	uint64_t last_ns;
};

/* A full bucket at now_ns. rate 0: every take succeeds. */
void token_bucket_init(struct token_bucket *b, uint64_t rate, uint64_t burst, uint64_t now_ns);
/* Takes n tokens if the bucket has them now. */
bool token_bucket_take(struct token_bucket *b, uint64_t n, uint64_t now_ns);
/*
 * Takes n tokens whether or not they are there, and returns how many
 * nanoseconds from now_ns the bucket is back out of debt (0: it never was
 * in it). What a reader does that has already read the bytes and must
 * wait before it reads more.
 */
uint64_t token_bucket_take_debt(struct token_bucket *b, uint64_t n, uint64_t now_ns);

#endif
