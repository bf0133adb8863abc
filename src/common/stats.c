// SPDX-License-Identifier: MIT
#include "stats.h"

/* Names as derper's derp_packets_dropped{reason} labels, plus our own no_buffer. */
const char *const drop_reason_names[DROP_REASON_COUNT] = {
	[DROP_UNKNOWN_DEST] = "unknown_dest",
	[DROP_UNKNOWN_DEST_ON_FWD] = "unknown_dest_on_fwd",
	[DROP_GONE_DISCONNECTED] = "gone_disconnected",
	[DROP_QUEUE_HEAD] = "queue_head",
	[DROP_QUEUE_TAIL] = "queue_tail",
	[DROP_WRITE_ERROR] = "write_error",
	[DROP_DUP_CLIENT] = "dup_client",
	[DROP_NO_BUFFER] = "no_buffer",
	[DROP_QUEUE_SOJOURN] = "queue_sojourn",
	[DROP_QUEUE_BYTES] = "queue_bytes",
	[DROP_MESH_QUEUE] = "mesh_queue",
	[DROP_HD_POLICY] = "hd_policy",
};

const char *const close_reason_names[CLOSE_REASON_COUNT] = {
	[CLOSE_EOF] = "eof",
	[CLOSE_READ_ERROR] = "read_error",
	[CLOSE_WRITE_ERROR] = "write_error",
	[CLOSE_WRITE_TIMEOUT] = "write_timeout",
	[CLOSE_BAD_FRAME] = "bad_frame",
	[CLOSE_CLOSE_PEER] = "close_peer",
	[CLOSE_SHUTDOWN] = "shutdown",
	[CLOSE_NO_MEMORY] = "no_memory",
	[CLOSE_KEY_CONN_LIMIT] = "key_conn_limit",
	[CLOSE_FRAME_TIMEOUT] = "frame_timeout",
	[CLOSE_WS_BAD_FRAME] = "websocket_bad_frame",
};
