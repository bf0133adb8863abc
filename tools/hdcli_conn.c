// SPDX-License-Identifier: MIT
/* hdcli's side of the protocol: connect, send one request line, read lines. */
#include "hdcli.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "json_writer.h"

#define REPLY_TIMEOUT_MS 15000	      /* peer close waits up to 2 s, show peers up to 2 s */
#define REFUSAL_READ_MS	 1000	      /* a refusal is written before the relay closes */
#define MAX_REPLY	 (256u << 20) /* a reply line longer than this is refused */

int hdcli_connect(struct hdcli *h)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	if (h->fd >= 0)
		return 0;
	if (strlen(h->socket_path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "hdcli: %s: socket path too long\n", h->socket_path);
		return -1;
	}
	memcpy(addr.sun_path, h->socket_path, strlen(h->socket_path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "hdcli: socket: %s\n", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int e = errno;
		const char *hint = "";
		if (e == ENOENT || e == ECONNREFUSED)
			hint = " (is hyper-derp running? see --socket and mgmt.socket)";
		else if (e == EACCES)
			hint = " (the socket is mode 0660: run as the relay's user or group)";
		fprintf(stderr, "hdcli: cannot connect to %s: %s%s\n", h->socket_path, strerror(e),
			hint);
		close(fd);
		return -1;
	}
	h->fd = fd;
	h->in_len = 0;
	return 0;
}

void hdcli_disconnect(struct hdcli *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	h->in_len = 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int hdcli_read_line(struct hdcli *h, int timeout_ms, char **line)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;

	for (;;) {
		char *nl = h->in ? memchr(h->in, '\n', h->in_len) : NULL;
		if (nl) {
			size_t len = (size_t)(nl - h->in);
			char *out = malloc(len + 1);
			if (!out)
				return -1;
			memcpy(out, h->in, len);
			out[len] = '\0';
			memmove(h->in, nl + 1, h->in_len - len - 1);
			h->in_len -= len + 1;
			*line = out;
			return 1;
		}
		if (h->in_len == h->in_cap) {
			if (h->in_cap >= MAX_REPLY) {
				errno = EMSGSIZE;
				return -1;
			}
			size_t cap = h->in_cap ? h->in_cap * 2 : 65536;
			char *in = realloc(h->in, cap);
			if (!in)
				return -1;
			h->in = in;
			h->in_cap = cap;
		}
		int wait = -1;
		if (deadline >= 0) {
			int64_t left = deadline - now_ms();
			if (left <= 0)
				return 0;
			wait = (int)left;
		}
		struct pollfd pfd = { .fd = h->fd, .events = POLLIN };
		int rc = poll(&pfd, 1, wait);
		if (rc < 0) {
			if (errno == EINTR)
				return 0; /* let the caller look at its signal flag */
			return -1;
		}
		if (rc == 0)
			return 0;
		ssize_t n = recv(h->fd, h->in + h->in_len, h->in_cap - h->in_len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			errno = n == 0 ? ECONNRESET : errno;
			return -1;
		}
		h->in_len += (size_t)n;
	}
}

void hdcli_reply_free(struct hdcli_reply *reply)
{
	json_doc_free(&reply->doc);
	memset(reply, 0, sizeof(*reply));
}

/* Takes a reply line apart. Returns 0 or -1 (printed). */
static int parse_reply(const char *line, struct hdcli_reply *reply)
{
	char err[128];

	memset(reply, 0, sizeof(*reply));
	if (json_parse(line, strlen(line), &reply->doc, err, sizeof(err)) < 0) {
		fprintf(stderr, "hdcli: the relay's reply is not JSON (%s)\n", err);
		return -1;
	}
	const struct json_value *root = reply->doc.root;
	const struct json_value *ok = json_get(root, "ok");
	if (!ok || ok->type != JSON_BOOL) {
		fprintf(stderr, "hdcli: the relay's reply has no \"ok\"\n");
		hdcli_reply_free(reply);
		return -1;
	}
	reply->ok = ok->boolean;
	reply->data = json_get(root, "data");
	const struct json_value *error = json_get(root, "error");
	reply->error_code = json_get_str(error, "code", "failed");
	reply->error_message = json_get_str(error, "message", "(no message)");
	return 0;
}

int hdcli_request(struct hdcli *h, int argc, char *const *argv, struct hdcli_reply *reply)
{
	struct json_writer w;
	char *line = NULL;

	if (hdcli_connect(h) < 0)
		return -1;
	jw_init(&w);
	jw_object_begin(&w, NULL);
	jw_array_begin(&w, "argv");
	for (int i = 0; i < argc; i++)
		jw_string(&w, NULL, argv[i]);
	jw_end(&w);
	jw_end(&w);
	if (w.failed) {
		jw_free(&w);
		fprintf(stderr, "hdcli: out of memory\n");
		return -1;
	}
	int rc = write_all(h->fd, w.buf, w.len);
	if (rc == 0)
		rc = write_all(h->fd, "\n", 1);
	jw_free(&w);
	if (rc < 0) {
		int send_errno = errno;
		/*
		 * A relay with no room for us says so ("busy") and closes before
		 * reading the request: its answer is still there to read.
		 */
		if ((send_errno == EPIPE || send_errno == ECONNRESET) &&
		    hdcli_read_line(h, REFUSAL_READ_MS, &line) > 0) {
			rc = parse_reply(line, reply);
			free(line);
			hdcli_disconnect(h);
			return rc;
		}
		fprintf(stderr, "hdcli: sending to %s: %s\n", h->socket_path, strerror(send_errno));
		hdcli_disconnect(h);
		return -1;
	}
	rc = hdcli_read_line(h, REPLY_TIMEOUT_MS, &line);
	if (rc <= 0) {
		if (rc == 0)
			fprintf(stderr, "hdcli: no reply from %s within %d s\n", h->socket_path,
				REPLY_TIMEOUT_MS / 1000);
		else
			fprintf(stderr, "hdcli: reading from %s: %s\n", h->socket_path,
				strerror(errno));
		hdcli_disconnect(h);
		return -1;
	}
	rc = parse_reply(line, reply);
	free(line);
	if (rc < 0)
		hdcli_disconnect(h);
	return rc;
}

enum hdcli_exit hdcli_reply_exit(const struct hdcli_reply *reply)
{
	if (reply->ok)
		return HDCLI_OK;
	if (strcmp(reply->error_code, "usage") == 0 || strcmp(reply->error_code, "protocol") == 0)
		return HDCLI_USAGE;
	return HDCLI_FAILED;
}
