/* SPDX-License-Identifier: MIT */
/*
 * The management thread: serves hdcli on the Unix socket (mgmt.socket) and
 * Prometheus on the metrics port (metrics.listen), both from one poll loop,
 * so management work never runs on a dataplane thread and one slow client
 * never holds up another.
 */
#ifndef HD_MGMT_SERVER_H
#define HD_MGMT_SERVER_H

#include <stddef.h>

#include "mgmt_command.h"

struct mgmt_server;

/* Sets up what ctx holds besides the fields main fills in (lock, clocks). */
void mgmt_context_init(struct mgmt_context *ctx);
void mgmt_context_destroy(struct mgmt_context *ctx);

/*
 * Opens the management socket and the metrics listener (each unless its key
 * is empty) and starts the thread. Writes the bound metrics address into
 * ctx->metrics_addr. Returns the server, or NULL with the reason in err.
 */
struct mgmt_server *mgmt_server_start(struct mgmt_context *ctx, char *err, size_t errlen);

/* Stops the thread, closes every connection and removes the socket file. */
void mgmt_server_stop(struct mgmt_server *s);

#endif
