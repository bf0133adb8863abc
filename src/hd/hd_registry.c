// SPDX-License-Identifier: MIT
#include "hd_registry.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "key.h"

int hd_registry_init(struct hd_registry *reg, const struct hd_registry_config *cfg, char *err,
		     size_t errlen)
{
	bool created = false;

	memset(reg, 0, sizeof(*reg));
	reg->require_token = cfg->require_token;
	snprintf(reg->revoked_file, sizeof(reg->revoked_file), "%s",
		 cfg->revoked_file ? cfg->revoked_file : "");
	if (secret_file_load_or_create(cfg->token_secret_file, reg->token_secret, &created, err,
				       errlen) < 0)
		return -1;
	if (cfg->revoked_file && cfg->revoked_file[0] &&
	    hd_revoked_load(cfg->revoked_file, &reg->revoked, err, errlen) < 0) {
		sodium_memzero(reg->token_secret, sizeof(reg->token_secret));
		return -1;
	}
	snprintf(reg->policy_file, sizeof(reg->policy_file), "%s",
		 cfg->policy_file ? cfg->policy_file : "");
	if (reg->policy_file[0] &&
	    hd_policy_load(reg->policy_file, &reg->policy, err, errlen) < 0) {
		hd_revoked_free(&reg->revoked);
		sodium_memzero(reg->token_secret, sizeof(reg->token_secret));
		return -1;
	}
	if (hd_peer_ids_init(&reg->ids, cfg->max_peers) < 0) {
		snprintf(err, errlen, "hd: no memory for %u peer ids", cfg->max_peers);
		hd_revoked_free(&reg->revoked);
		hd_policy_free(reg->policy);
		return -1;
	}
	pthread_mutex_init(&reg->lock, NULL);
	pthread_mutex_init(&reg->policy_lock, NULL);
	return 0;
}

void hd_registry_free(struct hd_registry *reg)
{
	hd_peer_ids_free(&reg->ids);
	hd_revoked_free(&reg->revoked);
	hd_policy_free(reg->policy);
	hd_policy_free(reg->retired);
	pthread_mutex_destroy(&reg->lock);
	pthread_mutex_destroy(&reg->policy_lock);
	sodium_memzero(reg->token_secret, sizeof(reg->token_secret));
}

static const char *reason_text(enum hd_reason r)
{
	switch (r) {
	case HD_REASON_BAD_PROOF:
		return "the proof of key possession did not verify";
	case HD_REASON_NO_TOKEN:
		return "an enrollment token is required (hdcli hd token issue)";
	case HD_REASON_WRONG_KEY:
		return "the token was issued for another key";
	case HD_REASON_EXPIRED:
		return "the token has expired";
	case HD_REASON_REVOKED:
		return "the token or key is revoked";
	case HD_REASON_FULL:
		return "the relay has no peer id left";
	default:
		return "refused";
	}
}

static enum hd_reason check(struct hd_registry *reg, const uint8_t relay_priv[HD_KEY_LEN], SSL *ssl,
			    const uint8_t challenge[HD_CHALLENGE_LEN], const uint8_t *payload,
			    uint32_t len, uint64_t now, uint8_t key[HD_KEY_LEN], uint16_t *peer_id)
{
	uint8_t binding[HD_BINDING_LEN];
	char token[HD_TOKEN_MAX + 1];
	size_t token_len = 0;
	struct hd_token t;
	enum hd_reason r;

	if (hd_channel_binding(ssl, binding) < 0)
		return HD_REASON_BAD_PROOF;
	r = hd_auth_open(payload, len, relay_priv, challenge, binding, key, token, &token_len);
	if (r != HD_REASON_OK)
		return r;
	/*
	 * Without require_token a token is still checked when one is shown:
	 * a revoked or expired token is a statement by the operator.
	 */
	if (token_len > 0 || reg->require_token) {
		r = hd_token_check(token, token_len, reg->token_secret, key, now, &t);
		if (r != HD_REASON_OK)
			return r;
	} else {
		memcpy(t.key, key, HD_KEY_LEN);
		memset(t.id, 0, sizeof(t.id));
	}
	pthread_mutex_lock(&reg->lock);
	if (hd_revoked_token(&reg->revoked, &t)) {
		pthread_mutex_unlock(&reg->lock);
		return HD_REASON_REVOKED;
	}
	*peer_id = hd_peer_id_of(&reg->ids, key, true);
	pthread_mutex_unlock(&reg->lock);
	return *peer_id == HD_ID_NONE ? HD_REASON_FULL : HD_REASON_OK;
}

enum hd_reason hd_registry_admit(struct hd_registry *reg, const uint8_t relay_priv[HD_KEY_LEN],
				 SSL *ssl, const uint8_t challenge[HD_CHALLENGE_LEN],
				 const uint8_t *payload, uint32_t len, uint64_t now,
				 uint8_t key[HD_KEY_LEN], uint16_t *peer_id, const char **why)
{
	enum hd_reason r = check(reg, relay_priv, ssl, challenge, payload, len, now, key, peer_id);

	if (r == HD_REASON_OK) {
		__atomic_fetch_add(&reg->admitted, 1, __ATOMIC_RELAXED);
		*why = NULL;
		return r;
	}
	if (r <= HD_REASON_DRAINING)
		__atomic_fetch_add(&reg->denied[r], 1, __ATOMIC_RELAXED);
	*why = reason_text(r);
	return r;
}

uint16_t hd_registry_lookup(struct hd_registry *reg, const uint8_t key[HD_KEY_LEN])
{
	uint16_t id;

	pthread_mutex_lock(&reg->lock);
	id = hd_peer_id_of(&reg->ids, key, false);
	pthread_mutex_unlock(&reg->lock);
	return id;
}

const uint8_t *hd_registry_key(const struct hd_registry *reg, uint16_t id)
{
	return hd_peer_id_key(&reg->ids, id);
}

int hd_registry_revoke(struct hd_registry *reg, const uint8_t *id, const uint8_t *key, char *err,
		       size_t errlen)
{
	struct hd_revoked fresh, old;
	char line[128];
	FILE *f;

	if (!reg->revoked_file[0]) {
		snprintf(err, errlen, "hd.revoked_file is empty: nowhere to keep revocations");
		return -1;
	}
	if (id) {
		int n = snprintf(line, sizeof(line), "token ");
		for (int i = 0; i < HD_TOKEN_ID_LEN; i++)
			n += snprintf(line + n, sizeof(line) - (size_t)n, "%02x", id[i]);
	} else {
		char nodekey[8 + KEY_HEX_LEN + 1];
		key_to_nodekey(key, nodekey);
		snprintf(line, sizeof(line), "key %s", nodekey);
	}
	int fd = open(reg->revoked_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	f = fd >= 0 ? fdopen(fd, "a") : NULL;
	if (!f) {
		snprintf(err, errlen, "%s: %s", reg->revoked_file, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fprintf(f, "%s\n", line);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0) {
		snprintf(err, errlen, "%s: writing: %s", reg->revoked_file, strerror(errno));
		return -1;
	}
	if (hd_revoked_load(reg->revoked_file, &fresh, err, errlen) < 0)
		return -1;
	pthread_mutex_lock(&reg->lock);
	old = reg->revoked;
	reg->revoked = fresh;
	pthread_mutex_unlock(&reg->lock);
	hd_revoked_free(&old);
	return 0;
}

void hd_registry_issue(const struct hd_registry *reg, const uint8_t key[HD_KEY_LEN], uint64_t ttl_s,
		       struct hd_token *t, char text[HD_TOKEN_TEXT_LEN + 1])
{
	randombytes_buf(t->id, sizeof(t->id));
	memcpy(t->key, key, HD_KEY_LEN);
	t->expiry = ttl_s ? (uint64_t)time(NULL) + ttl_s : 0;
	hd_token_issue(reg->token_secret, t->id, key, t->expiry, text);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * A worker holds the policy pointer for one decision, well under a
 * microsecond, so a policy retired a second ago has no reader left. Waiting
 * out the rest of that second here costs only a reload that follows another
 * within a second; the workers never wait.
 */
#define HD_POLICY_GRACE_NS 1000000000ull

int hd_registry_policy_reload(struct hd_registry *reg, char *err, size_t errlen)
{
	struct hd_policy *fresh = NULL, *old;

	if (!reg->policy_file[0]) {
		snprintf(err, errlen, "hd.policy_file is empty: there is no policy to reload");
		return -1;
	}
	pthread_mutex_lock(&reg->policy_lock);
	if (hd_policy_load(reg->policy_file, &fresh, err, errlen) < 0) {
		__atomic_fetch_add(&reg->policy_reload_failures, 1, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&reg->policy_lock);
		return -1;
	}
	if (reg->retired) {
		uint64_t now = mono_ns();
		if (now - reg->retired_ns < HD_POLICY_GRACE_NS) {
			uint64_t left = HD_POLICY_GRACE_NS - (now - reg->retired_ns);
			struct timespec ts = { (time_t)(left / 1000000000ull),
					       (long)(left % 1000000000ull) };
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
		}
		hd_policy_free(reg->retired);
	}
	old = __atomic_exchange_n(&reg->policy, fresh, __ATOMIC_ACQ_REL);
	reg->retired = old;
	reg->retired_ns = mono_ns();
	__atomic_fetch_add(&reg->policy_reloads, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&reg->policy_lock);
	return 0;
}

bool hd_registry_may_send(const struct hd_registry *reg, const uint8_t src[HD_KEY_LEN],
			  const uint8_t dst[HD_KEY_LEN])
{
	return hd_policy_allows(__atomic_load_n(&reg->policy, __ATOMIC_ACQUIRE), src, dst);
}
