/* SPDX-License-Identifier: MIT */
/*
 * What the relay knows about HD clients, shared by the slow path (which
 * admits them: proof, token, revocation, peer id) and the workers (which
 * turn the ids in data frames back into keys, and answer Lookup).
 *
 * Admission runs on the slow path thread only. Ids are given out under a
 * lock that only the slow path and the rare Lookup frame take; turning an
 * id into a key, which every Send does, takes no lock (hd_peer_ids.h).
 */
#ifndef HD_HD_REGISTRY_H
#define HD_HD_REGISTRY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "hd_auth.h"
#include "hd_peer_ids.h"
#include "hd_policy.h"
#include "hd_revoked.h"

struct hd_registry_config {
	bool require_token;
	const char *token_secret_file;
	const char *revoked_file; /* empty = none */
	const char *policy_file;  /* empty = no policy: every peer may reach every peer */
	uint32_t max_peers;
};

struct hd_registry {
	bool require_token;
	uint8_t token_secret[HD_TOKEN_SECRET_LEN];
	char revoked_file[4096];
	struct hd_revoked revoked; /* under lock: the management plane swaps it */
	struct hd_peer_ids ids;
	pthread_mutex_t lock; /* the ids' key -> id side, and revoked */
	char policy_file[4096];
	/*
	 * Read by the workers on every Send and Lookup without a lock; a reload
	 * swaps it. The policy it replaces is kept as retired and freed at the
	 * next reload, no sooner than HD_POLICY_GRACE_NS after the swap.
	 */
	struct hd_policy *policy;
	struct hd_policy *retired;
	uint64_t retired_ns;		 /* CLOCK_MONOTONIC of the swap that retired it */
	pthread_mutex_t policy_lock;	 /* one reload at a time */
	uint64_t policy_reloads;	 /* successful reloads (relaxed) */
	uint64_t policy_reload_failures; /* refused files: the old policy stayed (relaxed) */
	/* Slow path only; read by the management plane (relaxed). */
	uint64_t admitted;
	uint64_t denied[HD_REASON_DRAINING + 1]; /* by enum hd_reason */
};

/* Loads (or makes) the token secret and reads the revocation list. Returns 0 or -1 with err. */
int hd_registry_init(struct hd_registry *reg, const struct hd_registry_config *cfg, char *err,
		     size_t errlen);
void hd_registry_free(struct hd_registry *reg);

/*
 * Decides on an Auth payload for a connection whose ServerHello carried
 * challenge (ssl: its TLS session, NULL for plain HTTP; now: Unix seconds).
 * On HD_REASON_OK fills the client's key and peer id. Every outcome is
 * counted; a refusal's reason text for the Denied frame goes into why.
 */
enum hd_reason hd_registry_admit(struct hd_registry *reg, const uint8_t relay_priv[HD_KEY_LEN],
				 SSL *ssl, const uint8_t challenge[HD_CHALLENGE_LEN],
				 const uint8_t *payload, uint32_t len, uint64_t now,
				 uint8_t key[HD_KEY_LEN], uint16_t *peer_id, const char **why);

/*
 * Revokes a token id (8 bytes) or, with id NULL, every token of key: the
 * line is appended to the revocation file (made 0600 if missing), then the
 * whole file is read again and swapped in. A file that no longer loads
 * leaves the list in use as it was. Returns 0 or -1 with err.
 */
int hd_registry_revoke(struct hd_registry *reg, const uint8_t *id, const uint8_t *key, char *err,
		       size_t errlen);

/*
 * Reads the policy file again and swaps it in; a file that does not load
 * leaves the policy in use as it was. Returns 0 or -1 with err ("FILE:LINE: why").
 */
int hd_registry_policy_reload(struct hd_registry *reg, char *err, size_t errlen);

/* May the peer with key src send to dst (and learn its id)? Any thread, no lock. */
bool hd_registry_may_send(const struct hd_registry *reg, const uint8_t src[HD_KEY_LEN],
			  const uint8_t dst[HD_KEY_LEN]);

/* Issues a token for key, valid for ttl_s seconds from now (0 = never expires). */
void hd_registry_issue(const struct hd_registry *reg, const uint8_t key[HD_KEY_LEN], uint64_t ttl_s,
		       struct hd_token *t, char text[HD_TOKEN_TEXT_LEN + 1]);

/* The id of a key that has one (Lookup), or HD_ID_NONE. Any thread. */
uint16_t hd_registry_lookup(struct hd_registry *reg, const uint8_t key[HD_KEY_LEN]);
/* The key of an id, or NULL. Any thread, no lock. */
const uint8_t *hd_registry_key(const struct hd_registry *reg, uint16_t id);

#endif
