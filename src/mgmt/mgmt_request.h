/* SPDX-License-Identifier: MIT */
/*
 * Management requests: one JSON object per line, {"argv":["show","peers"]}.
 * Parsing and matching against the command table are kept apart from the
 * socket so that both can be tested on their own.
 */
#ifndef HD_MGMT_REQUEST_H
#define HD_MGMT_REQUEST_H

#include <stddef.h>

#include "mgmt_command.h"

#define MGMT_MAX_LINE  65536 /* longest request line, newline excluded */
#define MGMT_MAX_WORDS 64
#define MGMT_MAX_WORD  4096

struct mgmt_request {
	int argc;
	char **argv; /* malloc'd, argv[argc] == NULL */
};

/*
 * Parses one request line (without its newline). The object must hold
 * "argv", an array of 1..MGMT_MAX_WORDS non-empty strings without NUL bytes
 * of at most MGMT_MAX_WORD bytes each; any other member is an error. Returns
 * 0, or -1 with a reason in err and req empty.
 */
int mgmt_request_parse(const char *line, size_t len, struct mgmt_request *req, char *err,
		       size_t errlen);
void mgmt_request_free(struct mgmt_request *req);

/*
 * Finds the command whose verb matches the most leading words of argv.
 * Returns it and sets *nwords to the words the verb took, or NULL when no
 * verb matches.
 */
const struct mgmt_command *mgmt_command_find(int argc, char *const *argv, int *nwords);

/*
 * Serves one request line: parses, finds, checks the argument count, calls
 * the handler and writes the reply object to reply (reset first; the
 * caller adds the newline). If even the error reply cannot be written,
 * reply->failed is set and the caller drops the connection. Sets *subscribe when the connection
 * should now receive events. Returns the status of the reply.
 */
enum mgmt_status mgmt_serve_line(struct mgmt_context *ctx, const char *line, size_t len,
				 struct json_writer *reply, bool *subscribe);

#endif
