// SPDX-License-Identifier: MIT
/*
 * hd show, hd token issue KEY [TTL], hd token revoke ID|KEY: the HD
 * enrollment tokens (docs/hd-protocol.md, 3.2) and what admission did;
 * hd policy reload: the operator's rules for who may send to whom (4.1).
 */
#include "mgmt_command.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hd_registry.h"
#include "log.h"
#include "peer_view.h"
#include "relay.h"

#define TTL_MAX_S (10ull * 365 * 86400)

static struct hd_registry *registry(struct mgmt_call *call)
{
	struct hd_registry *reg = call->ctx->relay->hd;
	if (!reg)
		mgmt_error(call, MGMT_E_FAILED, "HD is off (hd.enabled = false)");
	return reg;
}

/* "0" or "never", or a count with an optional unit: s, m, h, d. */
static int parse_ttl(const char *text, uint64_t *out)
{
	char *end;
	uint64_t unit = 1;

	if (strcmp(text, "never") == 0) {
		*out = 0;
		return 0;
	}
	if (!isdigit((unsigned char)text[0]))
		return -1;
	errno = 0;
	unsigned long long n = strtoull(text, &end, 10);
	if (errno)
		return -1;
	if (*end) {
		if (end[1])
			return -1;
		switch (*end) {
		case 's':
			break;
		case 'm':
			unit = 60;
			break;
		case 'h':
			unit = 3600;
			break;
		case 'd':
			unit = 86400;
			break;
		default:
			return -1;
		}
	}
	if (n > TTL_MAX_S / unit)
		return -1;
	*out = n * unit;
	return 0;
}

static void id_hex(const uint8_t id[HD_TOKEN_ID_LEN], char out[2 * HD_TOKEN_ID_LEN + 1])
{
	for (int i = 0; i < HD_TOKEN_ID_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
}

/* The policy in use; the lock keeps a reload from freeing it while it is read. */
static void write_policy(struct hd_registry *reg, struct json_writer *w)
{
	jw_object_begin(w, "policy");
	jw_string(w, "file", reg->policy_file);
	pthread_mutex_lock(&reg->policy_lock);
	jw_bool(w, "active", reg->policy != NULL);
	if (reg->policy) {
		jw_u64(w, "rules", reg->policy->n_rules);
		jw_u64(w, "groups", reg->policy->n_groups);
		jw_u64(w, "keys", reg->policy->n_keys);
	}
	pthread_mutex_unlock(&reg->policy_lock);
	jw_u64(w, "reloads", __atomic_load_n(&reg->policy_reloads, __ATOMIC_RELAXED));
	jw_u64(w, "reload_failures",
	       __atomic_load_n(&reg->policy_reload_failures, __ATOMIC_RELAXED));
	jw_end(w);
}

int cmd_hd_show(struct mgmt_call *call)
{
	struct hd_registry *reg = registry(call);
	struct json_writer *w = call->out;

	if (!reg)
		return -1;
	jw_object_begin(w, NULL);
	jw_bool(w, "require_token", reg->require_token);
	jw_u64(w, "peer_ids", __atomic_load_n(&reg->ids.count, __ATOMIC_ACQUIRE));
	jw_u64(w, "peer_ids_max", reg->ids.cap);
	jw_u64(w, "admitted", __atomic_load_n(&reg->admitted, __ATOMIC_RELAXED));
	jw_object_begin(w, "denied");
	for (int r = HD_REASON_BAD_PROOF; r <= HD_REASON_DRAINING; r++)
		jw_u64(w, hd_reason_name((uint8_t)r),
		       __atomic_load_n(&reg->denied[r], __ATOMIC_RELAXED));
	jw_end(w);
	jw_string(w, "revoked_file", reg->revoked_file);
	write_policy(reg, w);
	jw_end(w);
	return 0;
}

int cmd_hd_token_issue(struct mgmt_call *call)
{
	struct hd_registry *reg = registry(call);
	uint8_t key[KEY_LEN];
	uint64_t ttl = 0;
	char err[256], text[HD_TOKEN_TEXT_LEN + 1], nodekey[8 + KEY_HEX_LEN + 1];
	char id[2 * HD_TOKEN_ID_LEN + 1];
	struct hd_token t;

	if (!reg)
		return -1;
	if (peer_key_parse(call->argv[0], key, err, sizeof(err)) < 0)
		return mgmt_error(call, MGMT_E_USAGE, "%s", err);
	if (call->argc > 1 && parse_ttl(call->argv[1], &ttl) < 0)
		return mgmt_error(
		    call, MGMT_E_USAGE,
		    "TTL \"%s\": want seconds, or a number with s, m, h or d (at most "
		    "10 years), or never",
		    call->argv[1]);
	hd_registry_issue(reg, key, ttl, &t, text);
	key_to_nodekey(key, nodekey);
	id_hex(t.id, id);
	log_info("hd: token %s issued for %s (%s), asked through the management socket", id,
		 nodekey, ttl ? "expires" : "never expires");
	jw_object_begin(call->out, NULL);
	jw_string(call->out, "token", text);
	jw_string(call->out, "id", id);
	jw_string(call->out, "key", nodekey);
	jw_u64(call->out, "expires", t.expiry);
	jw_end(call->out);
	return 0;
}

int cmd_hd_token_revoke(struct mgmt_call *call)
{
	struct hd_registry *reg = registry(call);
	const char *arg = call->argv[0];
	uint8_t id[HD_TOKEN_ID_LEN], key[KEY_LEN];
	bool is_id = strlen(arg) == 2 * HD_TOKEN_ID_LEN;
	char err[512];

	if (!reg)
		return -1;
	for (int i = 0; is_id && i < HD_TOKEN_ID_LEN; i++) {
		unsigned v;
		if (sscanf(arg + 2 * i, "%2x", &v) != 1 || !isxdigit((unsigned char)arg[2 * i]) ||
		    !isxdigit((unsigned char)arg[2 * i + 1]))
			is_id = false;
		id[i] = (uint8_t)v;
	}
	if (!is_id && peer_key_parse(arg, key, err, sizeof(err)) < 0)
		return mgmt_error(call, MGMT_E_USAGE,
				  "\"%s\" is neither a token id (16 hex digits) nor a key: %s", arg,
				  err);
	if (hd_registry_revoke(reg, is_id ? id : NULL, is_id ? NULL : key, err, sizeof(err)) < 0)
		return mgmt_error(call, MGMT_E_FAILED, "%s", err);
	log_info("hd: revoked %s %s, asked through the management socket", is_id ? "token" : "key",
		 arg);
	jw_object_begin(call->out, NULL);
	jw_string(call->out, is_id ? "token" : "key", arg);
	jw_u64(call->out, "revoked_tokens", reg->revoked.n_ids);
	jw_u64(call->out, "revoked_keys", reg->revoked.n_keys);
	jw_end(call->out);
	return 0;
}

int cmd_hd_policy_reload(struct mgmt_call *call)
{
	struct hd_registry *reg = registry(call);
	char err[512];

	if (!reg)
		return -1;
	if (hd_registry_policy_reload(reg, err, sizeof(err)) < 0) {
		log_error("hd: policy reload refused, the old policy stays: %s", err);
		return mgmt_error(call, MGMT_E_FAILED, "%s; the policy in use is unchanged", err);
	}
	log_info("hd: policy %s reloaded, asked through the management socket", reg->policy_file);
	jw_object_begin(call->out, NULL);
	write_policy(reg, call->out);
	jw_end(call->out);
	return 0;
}
