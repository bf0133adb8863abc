// SPDX-License-Identifier: MIT
#include "mgmt_request.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_parse.h"
#include "mgmt_verb.h"

__attribute__((format(printf, 3, 4))) static int req_error(char *err, size_t errlen,
							   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

void mgmt_request_free(struct mgmt_request *req)
{
	for (int i = 0; req->argv && i < req->argc; i++)
		free(req->argv[i]);
	free(req->argv);
	req->argv = NULL;
	req->argc = 0;
}

static int check_argv(const struct json_value *argv, char *err, size_t errlen)
{
	if (!argv)
		return req_error(err, errlen, "request has no \"argv\"");
	if (argv->type != JSON_ARRAY)
		return req_error(err, errlen, "\"argv\" must be an array of strings");
	if (argv->count == 0)
		return req_error(err, errlen, "\"argv\" is empty: no command given");
	if (argv->count > MGMT_MAX_WORDS)
		return req_error(err, errlen, "\"argv\" has %zu words; at most %d", argv->count,
				 MGMT_MAX_WORDS);
	size_t i = 0;
	for (const struct json_value *w = argv->child; w; w = w->next, i++) {
		if (w->type != JSON_STRING)
			return req_error(err, errlen, "argv[%zu] is not a string", i);
		if (w->str_len == 0)
			return req_error(err, errlen, "argv[%zu] is empty", i);
		if (w->str_len > MGMT_MAX_WORD)
			return req_error(err, errlen, "argv[%zu] is longer than %d bytes", i,
					 MGMT_MAX_WORD);
		if (strlen(w->str) != w->str_len)
			return req_error(err, errlen, "argv[%zu] contains a NUL character", i);
	}
	return 0;
}

int mgmt_request_parse(const char *line, size_t len, struct mgmt_request *req, char *err,
		       size_t errlen)
{
	struct json_doc doc;
	char jerr[128];

	req->argc = 0;
	req->argv = NULL;
	if (len > MGMT_MAX_LINE)
		return req_error(err, errlen, "request longer than %d bytes", MGMT_MAX_LINE);
	if (json_parse(line, len, &doc, jerr, sizeof(jerr)) < 0)
		return req_error(err, errlen, "request is not valid JSON: %s", jerr);

	int rc = -1;
	const struct json_value *root = doc.root;
	if (root->type != JSON_OBJECT) {
		req_error(err, errlen, "request must be a JSON object");
		goto out;
	}
	int seen = 0;
	for (const struct json_value *m = root->child; m; m = m->next) {
		if (strcmp(m->name, "argv") != 0) {
			req_error(err, errlen, "unknown request member \"%s\"", m->name);
			goto out;
		}
		if (++seen > 1) {
			req_error(err, errlen, "\"argv\" given more than once");
			goto out;
		}
	}
	const struct json_value *argv = json_get(root, "argv");
	if (check_argv(argv, err, errlen) < 0)
		goto out;

	req->argv = calloc(argv->count + 1, sizeof(*req->argv));
	if (!req->argv) {
		req_error(err, errlen, "out of memory");
		goto out;
	}
	for (const struct json_value *w = argv->child; w; w = w->next) {
		req->argv[req->argc] = strdup(w->str);
		if (!req->argv[req->argc]) {
			mgmt_request_free(req);
			req_error(err, errlen, "out of memory");
			goto out;
		}
		req->argc++;
	}
	rc = 0;
out:
	json_doc_free(&doc);
	return rc;
}

/* How many of argv's leading words spell verb ("show peers"), or 0. */
static int verb_match(const char *verb, int argc, char *const *argv)
{
	int n = 0;
	const char *p = verb;
	while (*p) {
		const char *space = strchr(p, ' ');
		size_t len = space ? (size_t)(space - p) : strlen(p);
		if (n >= argc || strlen(argv[n]) != len || strncmp(argv[n], p, len) != 0)
			return 0;
		n++;
		p += len + (space ? 1 : 0);
	}
	return n;
}

const struct mgmt_command *mgmt_command_find(int argc, char *const *argv, int *nwords)
{
	const struct mgmt_command *best = NULL;
	int best_n = 0;

	for (int i = 0; i < mgmt_command_count; i++) {
		int n = verb_match(mgmt_commands[i].verb, argc, argv);
		if (n > best_n) {
			best = &mgmt_commands[i];
			best_n = n;
		}
	}
	*nwords = best_n;
	return best;
}

static void join_words(int argc, char *const *argv, char *out, size_t cap)
{
	size_t len = 0;
	out[0] = '\0';
	for (int i = 0; i < argc && len < cap; i++) {
		int n = snprintf(out + len, cap - len, "%s%s", i ? " " : "", argv[i]);
		if (n < 0)
			break;
		len += (size_t)n;
	}
}

/*
 * Whether the words begin some longer verb ("show" begins "show peers").
 * No words begin none here, although mgmt_verb_rest says they begin every
 * verb: a request always has words, and "" is not an incomplete command.
 */
static bool is_verb_prefix(int argc, char *const *argv)
{
	if (argc == 0)
		return false;
	for (int i = 0; i < mgmt_command_count; i++) {
		const char *rest = mgmt_verb_rest(mgmt_commands[i].verb, argc, argv);
		if (rest && *rest)
			return true;
	}
	return false;
}

static void write_error(struct json_writer *reply, enum mgmt_status status, const char *message)
{
	jw_reset(reply);
	jw_object_begin(reply, NULL);
	jw_bool(reply, "ok", false);
	jw_object_begin(reply, "error");
	jw_string(reply, "code", mgmt_status_name(status));
	jw_string(reply, "message", message);
	jw_end(reply);
	jw_end(reply);
}

static enum mgmt_status finish(struct json_writer *reply, enum mgmt_status status)
{
	if (reply->failed) {
		write_error(reply, MGMT_E_FAILED, "out of memory writing the reply");
		return MGMT_E_FAILED;
	}
	return status;
}

static enum mgmt_status dispatch(struct mgmt_context *ctx, const struct mgmt_request *req,
				 struct json_writer *reply, bool *subscribe)
{
	char msg[600];
	int nwords;
	const struct mgmt_command *cmd = mgmt_command_find(req->argc, req->argv, &nwords);

	if (!cmd) {
		char words[256];
		join_words(req->argc, req->argv, words, sizeof(words));
		if (is_verb_prefix(req->argc, req->argv))
			snprintf(msg, sizeof(msg), "\"%s\" is incomplete; try \"help %s\"", words,
				 words);
		else
			snprintf(msg, sizeof(msg), "unknown command \"%s\"; try \"help\"", words);
		write_error(reply, MGMT_E_USAGE, msg);
		return finish(reply, MGMT_E_USAGE);
	}
	int nargs = req->argc - nwords;
	if (nargs < cmd->min_args || (cmd->max_args >= 0 && nargs > cmd->max_args)) {
		snprintf(msg, sizeof(msg), "usage: %s%s%s", cmd->verb, cmd->args[0] ? " " : "",
			 cmd->args);
		write_error(reply, MGMT_E_USAGE, msg);
		return finish(reply, MGMT_E_USAGE);
	}

	struct json_writer data;
	jw_init(&data);
	struct mgmt_call call = {
		.ctx = ctx,
		.cmd = cmd,
		.argc = nargs,
		.argv = req->argv + nwords,
		.out = &data,
	};
	int rc = cmd->handler(&call);
	if (rc < 0) {
		enum mgmt_status status = call.status != MGMT_OK ? call.status : MGMT_E_FAILED;
		write_error(reply, status, call.error[0] ? call.error : "command failed");
		jw_free(&data);
		return finish(reply, status);
	}
	jw_reset(reply);
	jw_object_begin(reply, NULL);
	jw_bool(reply, "ok", true);
	if (data.len > 0 && !data.failed)
		jw_raw(reply, "data", data.buf);
	else if (data.failed)
		reply->failed = true;
	else
		jw_null(reply, "data");
	jw_end(reply);
	jw_free(&data);
	*subscribe = call.subscribe_events;
	return finish(reply, MGMT_OK);
}

enum mgmt_status mgmt_serve_line(struct mgmt_context *ctx, const char *line, size_t len,
				 struct json_writer *reply, bool *subscribe)
{
	struct mgmt_request req;
	char err[256];

	*subscribe = false;
	if (mgmt_request_parse(line, len, &req, err, sizeof(err)) < 0) {
		write_error(reply, MGMT_E_PROTOCOL, err);
		return finish(reply, MGMT_E_PROTOCOL);
	}
	enum mgmt_status status = dispatch(ctx, &req, reply, subscribe);
	mgmt_request_free(&req);
	return status;
}
