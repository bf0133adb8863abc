// SPDX-License-Identifier: MIT
/*
 * set log-level, and the candidate configuration: config set / diff /
 * commit / discard, plus config reload (what SIGHUP does). A candidate
 * starts as a copy of the running configuration at the first `config set`;
 * a rejected value leaves it as it was.
 */
#include "mgmt_command.h"

#include <stdlib.h>
#include <string.h>

#include "config_entries.h"
#include "config_live.h"
#include "log.h"

int cmd_set_log_level(struct mgmt_call *call)
{
	struct mgmt_context *ctx = call->ctx;
	int level = log_level_parse(call->argv[0]);
	if (level < 0)
		return mgmt_error(call, MGMT_E_USAGE,
				  "\"%s\" is not a log level (error, warn, info or debug)",
				  call->argv[0]);

	pthread_mutex_lock(&ctx->config_lock);
	int old = ctx->running->log_level;
	__atomic_store_n(&ctx->running->log_level, level, __ATOMIC_RELAXED);
	log_set_level(level);
	pthread_mutex_unlock(&ctx->config_lock);
	log_info("log level %s (was %s), set through the management socket", log_level_name(level),
		 log_level_name(old));

	jw_object_begin(call->out, NULL);
	jw_string(call->out, "log_level", log_level_name(level));
	jw_string(call->out, "was", log_level_name(old));
	jw_end(call->out);
	return 0;
}

int cmd_config_set(struct mgmt_call *call)
{
	struct mgmt_context *ctx = call->ctx;
	const char *name = call->argv[0], *value = call->argv[1];
	char err[PATH_MAX + 128];

	/* Edit a copy, so a bad value leaves the candidate untouched. */
	struct hd_config *next = malloc(sizeof(*next));
	if (!next)
		return mgmt_error(call, MGMT_E_FAILED, "out of memory");
	if (ctx->candidate_open) {
		*next = ctx->candidate;
	} else {
		pthread_mutex_lock(&ctx->config_lock);
		*next = *ctx->running;
		pthread_mutex_unlock(&ctx->config_lock);
	}
	if (config_set(next, name, value, err, sizeof(err)) < 0) {
		free(next);
		return mgmt_error(call, MGMT_E_USAGE, "%s", err);
	}
	ctx->candidate = *next;
	ctx->candidate_open = true;
	free(next);

	struct config_entries e;
	if (config_entries_load(&e, &ctx->candidate) < 0)
		return mgmt_error(call, MGMT_E_FAILED, "out of memory");
	const char *stored = config_entries_get(&e, name);
	jw_object_begin(call->out, NULL);
	jw_string(call->out, "key", name);
	jw_string(call->out, "value", stored ? stored : value);
	jw_bool(call->out, "live", config_key_is_live(name));
	jw_end(call->out);
	config_entries_free(&e);
	return 0;
}

int cmd_config_diff(struct mgmt_call *call)
{
	struct mgmt_context *ctx = call->ctx;
	struct config_entries running, candidate;

	pthread_mutex_lock(&ctx->config_lock);
	int rc = config_entries_load(&running, ctx->running);
	pthread_mutex_unlock(&ctx->config_lock);
	if (rc < 0)
		return mgmt_error(call, MGMT_E_FAILED, "out of memory");
	if (config_entries_load(&candidate, ctx->candidate_open ? &ctx->candidate : ctx->running) <
	    0) {
		config_entries_free(&running);
		return mgmt_error(call, MGMT_E_FAILED, "out of memory");
	}

	jw_object_begin(call->out, NULL);
	jw_bool(call->out, "candidate_open", ctx->candidate_open);
	jw_array_begin(call->out, "changes");
	for (size_t i = 0; i < candidate.count; i++) {
		const struct config_entry *c = &candidate.items[i];
		const char *r = config_entries_get(&running, c->name);
		if (r && strcmp(r, c->value) == 0)
			continue;
		jw_object_begin(call->out, NULL);
		jw_string(call->out, "key", c->name);
		jw_string(call->out, "running", r ? r : "");
		jw_string(call->out, "candidate", c->value);
		jw_bool(call->out, "live", config_key_is_live(c->name));
		jw_end(call->out);
	}
	jw_end(call->out);
	jw_end(call->out);
	config_entries_free(&running);
	config_entries_free(&candidate);
	return 0;
}

int cmd_config_commit(struct mgmt_call *call)
{
	struct mgmt_context *ctx = call->ctx;

	if (!ctx->candidate_open)
		return mgmt_error(call, MGMT_E_FAILED,
				  "nothing to commit: no \"config set\" since the last commit");
	log_info("config: committing the candidate configuration");
	mgmt_config_apply(ctx, &ctx->candidate, call->out);
	ctx->candidate_open = false;
	return 0;
}

int cmd_config_discard(struct mgmt_call *call)
{
	bool was_open = call->ctx->candidate_open;
	call->ctx->candidate_open = false;
	jw_object_begin(call->out, NULL);
	jw_bool(call->out, "discarded", was_open);
	jw_end(call->out);
	return 0;
}

int cmd_config_reload(struct mgmt_call *call)
{
	char err[PATH_MAX + 256];

	log_info("config: reloading (management socket)");
	if (mgmt_config_reload(call->ctx, call->out, err, sizeof(err)) < 0) {
		log_error("config: reload failed, nothing changed: %s", err);
		return mgmt_error(call, MGMT_E_FAILED, "reload failed, nothing changed: %s", err);
	}
	return 0;
}
