// SPDX-License-Identifier: MIT
#include "token_bucket.h"

#include <string.h>

void token_bucket_init(struct token_bucket *b, uint64_t rate, uint64_t burst, uint64_t now_ns)
{
	memset(b, 0, sizeof(*b));
	b->rate = rate;
	b->burst_milli = burst * 1000;
	b->tokens_milli = b->burst_milli;
	b->last_ns = now_ns;
}

/* Adds what came since last_ns; a fraction of a thousandth stays for next time. */
static void refill(struct token_bucket *b, uint64_t now_ns)
{
	if (now_ns <= b->last_ns)
		return;
	uint64_t elapsed = now_ns - b->last_ns;
	/* rate * elapsed / 1e6 thousandths, without overflow for any elapsed time. */
	uint64_t whole_s = elapsed / 1000000000ull;
	uint64_t rest_ns = elapsed % 1000000000ull;
	unsigned __int128 milli = (unsigned __int128)b->rate * 1000 * whole_s +
				  (unsigned __int128)b->rate * rest_ns / 1000000;
	uint64_t spent_ns = elapsed;
	/* Pay the debt first; what is left fills the bucket. */
	if (b->debt_milli > 0) {
		if (milli >= (unsigned __int128)b->debt_milli) {
			milli -= (unsigned __int128)b->debt_milli;
			b->debt_milli = 0;
		} else {
			b->debt_milli -= (int64_t)milli;
			milli = 0;
		}
	}
	unsigned __int128 tokens = (unsigned __int128)b->tokens_milli + milli;
	b->tokens_milli = tokens > b->burst_milli ? b->burst_milli : (uint64_t)tokens;
	b->last_ns += spent_ns;
}

bool token_bucket_take(struct token_bucket *b, uint64_t n, uint64_t now_ns)
{
	if (!b->rate)
		return true;
	refill(b, now_ns);
	if (b->debt_milli > 0 || b->tokens_milli < n * 1000)
		return false;
	b->tokens_milli -= n * 1000;
	return true;
}

uint64_t token_bucket_take_debt(struct token_bucket *b, uint64_t n, uint64_t now_ns)
{
	if (!b->rate)
		return 0;
	refill(b, now_ns);
	uint64_t want = n * 1000;
	if (b->debt_milli == 0 && b->tokens_milli >= want) {
		b->tokens_milli -= want;
		return 0;
	}
	want -= b->tokens_milli;
	b->tokens_milli = 0;
	b->debt_milli += (int64_t)want;
	/* debt_milli thousandths at rate a second: debt * 1e6 / rate nanoseconds. */
	return (uint64_t)((unsigned __int128)b->debt_milli * 1000000 / b->rate);
}
