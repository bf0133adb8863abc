// SPDX-License-Identifier: MIT
/*
 * hdcat (docs/hdcat.md) between two real hdcat processes through the real
 * relay: stdin to stdout both ways, MiBs content-checked, plain and TLS;
 * TCP forwarded both ways; UDP datagrams kept whole; a peer that is not
 * there and a refused token each told with their exit code.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "key.h"

#define EXIT_WAIT_MS 60000
#define MAX_KIDS     4

static pid_t kids[MAX_KIDS];
static struct it_tls_files tls_files;

static void kids_kill(void)
{
	for (int i = 0; i < MAX_KIDS; i++) {
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
			kids[i] = 0;
		}
	}
}

static const char *hdcat_bin(void)
{
	const char *b = getenv("HDCAT_BIN");
	IT_REQUIRE(b, "HDCAT_BIN is not set");
	return b;
}

/* Runs hdcat with args; stdin, stdout and stderr from/to the named files (NULL: /dev/null). */
static pid_t spawn(const char *const *args, const char *in, const char *out, const char *errf)
{
	const char *argv[32];
	size_t n = 0;
	argv[n++] = hdcat_bin();
	for (; args[n - 1] && n < 31; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	pid_t pid = fork();
	IT_REQUIRE(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int i = open(in ? in : "/dev/null", O_RDONLY);
		int o = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(errf ? errf : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (i < 0 || o < 0 || e < 0)
			_exit(126);
		dup2(i, 0);
		dup2(o, 1);
		dup2(e, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < MAX_KIDS; i++) {
		if (kids[i] == 0) {
			kids[i] = pid;
			return pid;
		}
	}
	kill(pid, SIGKILL);
	IT_REQUIRE(false, "too many hdcat processes");
	return -1;
}

/* Waits for pid to exit; returns its wait status. */
static int wait_exit(pid_t pid, int timeout_ms)
{
	int64_t end = it_now_ms() + timeout_ms;
	int st;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			break;
		IT_REQUIRE(it_now_ms() < end, "hdcat %d did not exit within %d ms", pid,
			   timeout_ms);
		it_sleep_ms(20);
	}
	for (int i = 0; i < MAX_KIDS; i++)
		if (kids[i] == pid)
			kids[i] = 0;
	return st;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct stat sb;
	fstat(fileno(f), &sb);
	char *buf = malloc((size_t)sb.st_size + 1);
	IT_REQUIRE(buf, "out of memory");
	size_t n = fread(buf, 1, (size_t)sb.st_size, f);
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static bool file_contains(const char *path, const char *text)
{
	char *all = slurp(path, NULL);
	bool yes = all && strstr(all, text);
	free(all);
	return yes;
}

static void require_exit(pid_t pid, int code, const char *errf)
{
	int st = wait_exit(pid, EXIT_WAIT_MS);
	char *text = slurp(errf, NULL);
	IT_REQUIRE(WIFEXITED(st) && WEXITSTATUS(st) == code,
		   "hdcat exited with status 0x%x, want exit %d; it said: %s", st, code,
		   text ? text : "");
	free(text);
}

/* Waits for the listener's "listening as peer id N" and returns N. */
static unsigned wait_listening(const char *errf)
{
	int64_t end = it_now_ms() + 20000;
	for (;;) {
		char *text = slurp(errf, NULL);
		const char *p = text ? strstr(text, "listening as peer id ") : NULL;
		unsigned id = 0;
		if (p)
			sscanf(p, "listening as peer id %u", &id);
		free(text);
		if (id)
			return id;
		IT_REQUIRE(it_now_ms() < end, "hdcat --listen did not say it listens");
		it_sleep_ms(20);
	}
}

static void write_file(const char *path, size_t len, uint64_t seed)
{
	uint8_t *buf = malloc(len);
	IT_REQUIRE(buf, "out of memory");
	it_fill_pattern(buf, len, seed);
	FILE *f = fopen(path, "wb");
	IT_REQUIRE(f && fwrite(buf, 1, len, f) == len && fclose(f) == 0, "write %s", path);
	free(buf);
}

static void require_file(const char *path, size_t len, uint64_t seed)
{
	size_t got;
	char *data = slurp(path, &got);
	uint8_t *want = malloc(len);
	IT_REQUIRE(data && want, "read %s", path);
	it_fill_pattern(want, len, seed);
	IT_REQUIRE(got == len, "%s: %zu bytes, want %zu", path, got, len);
	IT_REQUIRE(memcmp(data, want, len) == 0, "%s: the bytes differ", path);
	free(data);
	free(want);
}

static struct it_daemon *start_with(bool require_token, bool tls, const char *more_ini)
{
	static char ini[1024];
	int n = snprintf(ini, sizeof(ini), "%s[hd]\nrequire_token = %s\n", more_ini,
			 require_token ? "true" : "false");
	if (tls) {
		it_tls_files_make(&tls_files, "itest-hdcat");
		snprintf(ini + n, sizeof(ini) - (size_t)n, "[tls]\ncert = %s\nkey = %s\n",
			 tls_files.cert, tls_files.key);
	}
	struct it_daemon_opts o = { .workers = 2, .ini = ini, .tls = tls };
	kids_kill();
	return it_daemon_start(&o);
}

static struct it_daemon *start(bool require_token, bool tls)
{
	return start_with(require_token, tls, "");
}

struct names {
	char relay[64], lkey[300], ckey[300], lerr[300], cerr[300];
	char lin[300], lout[300], cin[300], cout[300];
};

static void names_make(struct it_daemon *d, struct names *n)
{
	snprintf(n->relay, sizeof(n->relay), "127.0.0.1:%u", d->port);
	snprintf(n->lkey, sizeof(n->lkey), "%s/hdcat-l.json", d->dir);
	snprintf(n->ckey, sizeof(n->ckey), "%s/hdcat-c.json", d->dir);
	snprintf(n->lerr, sizeof(n->lerr), "%s/hdcat-l.err", d->dir);
	snprintf(n->cerr, sizeof(n->cerr), "%s/hdcat-c.err", d->dir);
	snprintf(n->lin, sizeof(n->lin), "%s/l.in", d->dir);
	snprintf(n->lout, sizeof(n->lout), "%s/l.out", d->dir);
	snprintf(n->cin, sizeof(n->cin), "%s/c.in", d->dir);
	snprintf(n->cout, sizeof(n->cout), "%s/c.out", d->dir);
}

/* 6 MiB one way and 1 MiB the other, between stdin and stdout of two hdcats. */
static void stdio_both_ways(bool tls)
{
	struct it_daemon *d = start(false, tls);
	struct names n;
	char id[16];
	const size_t c_len = 6u << 20, l_len = 1u << 20;

	names_make(d, &n);
	write_file(n.cin, c_len, 1);
	write_file(n.lin, l_len, 2);
	const char *largs[] = { "--relay",  n.relay,
				"--key",    n.lkey,
				"--listen", tls ? "--tls" : "-v",
				"--ca",	    tls ? tls_files.cert : "/dev/null",
				NULL };
	pid_t l = spawn(largs, n.lin, n.lout, n.lerr);
	snprintf(id, sizeof(id), "%u", wait_listening(n.lerr));
	const char *cargs[] = { "--relay",
				n.relay,
				"--key",
				n.ckey,
				"--to-id",
				id,
				tls ? "--tls" : "-v",
				"--ca",
				tls ? tls_files.cert : "/dev/null",
				NULL };
	pid_t c = spawn(cargs, n.cin, n.cout, n.cerr);
	require_exit(c, 0, n.cerr);
	require_exit(l, 0, n.lerr);
	require_file(n.lout, c_len, 1);
	require_file(n.cout, l_len, 2);
	if (tls)
		it_tls_files_remove(&tls_files);
}

static void test_stdio_plain(void)
{
	stdio_both_ways(false);
}

static void test_stdio_tls(void)
{
	stdio_both_ways(true);
}

static int listen_tcp(uint16_t *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	IT_REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		       listen(fd, 4) == 0 && getsockname(fd, (struct sockaddr *)&sa, &sl) == 0,
		   "listen: %s", strerror(errno));
	*port = ntohs(sa.sin_port);
	return fd;
}

/* Connects to 127.0.0.1:port, retrying while hdcat has not bound it yet. */
static int connect_retry(uint16_t port, int type)
{
	int64_t end = it_now_ms() + 20000;
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	for (;;) {
		int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
		IT_REQUIRE(fd >= 0, "socket");
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		close(fd);
		IT_REQUIRE(it_now_ms() < end, "port %u never accepted", port);
		it_sleep_ms(20);
	}
}

/* One end of a TCP test stream: sends want_out, reads until EOF into got. */
struct tcp_end {
	int fd;
	uint8_t *out;
	size_t out_len, out_off;
	uint8_t *in;
	size_t in_len;
	bool in_eof;
};

static void tcp_end_step(struct tcp_end *e, short revents, size_t in_cap)
{
	if ((revents & POLLOUT) && e->out_off < e->out_len) {
		ssize_t k = send(e->fd, e->out + e->out_off, e->out_len - e->out_off, MSG_DONTWAIT);
		IT_REQUIRE(k > 0 || errno == EAGAIN, "send: %s", strerror(errno));
		if (k > 0)
			e->out_off += (size_t)k;
		if (e->out_off == e->out_len)
			shutdown(e->fd, SHUT_WR);
	}
	if ((revents & (POLLIN | POLLHUP)) && !e->in_eof) {
		/* in has a byte more than is due, so one too many shows as too long. */
		ssize_t k = recv(e->fd, e->in + e->in_len, in_cap + 1 - e->in_len, MSG_DONTWAIT);
		IT_REQUIRE(k >= 0 || errno == EAGAIN, "recv: %s", strerror(errno));
		if (k == 0)
			e->in_eof = true;
		if (k > 0)
			e->in_len += (size_t)k;
		IT_REQUIRE(e->in_len <= in_cap, "more bytes than were sent");
	}
}

/*
 * A stream client (connected to the connecting hdcat's listener) and a
 * service (lfd, which the listening hdcat connects to): 3 MiB up and 1 MiB
 * down at once, both half-closed at their ends, every byte checked; then
 * both hdcats must exit 0.
 */
static void stream_exchange(int client_fd, int lfd, pid_t c, pid_t l, const struct names *n)
{
	const size_t up = 3u << 20, down = 1u << 20;
	struct tcp_end cl = { .fd = client_fd, .out_len = up }, sv = { .out_len = down };
	struct pollfd pa = { .fd = lfd, .events = POLLIN };

	IT_REQUIRE(poll(&pa, 1, 20000) == 1, "the forwarded connection never reached the service");
	sv.fd = accept(lfd, NULL, NULL);
	IT_REQUIRE(sv.fd >= 0, "accept: %s", strerror(errno));
	close(lfd);
	cl.out = malloc(up);
	cl.in = malloc(down + 1);
	sv.out = malloc(down);
	sv.in = malloc(up + 1);
	IT_REQUIRE(cl.out && cl.in && sv.out && sv.in, "out of memory");
	it_fill_pattern(cl.out, up, 3);
	it_fill_pattern(sv.out, down, 4);
	int64_t end = it_now_ms() + EXIT_WAIT_MS;
	while (!cl.in_eof || !sv.in_eof) {
		struct pollfd p[2] = {
			{ .fd = cl.fd, .events = (short)(cl.in_eof ? 0 : POLLIN) },
			{ .fd = sv.fd, .events = (short)(sv.in_eof ? 0 : POLLIN) },
		};
		if (cl.out_off < cl.out_len)
			p[0].events |= POLLOUT;
		if (sv.out_off < sv.out_len)
			p[1].events |= POLLOUT;
		IT_REQUIRE(it_now_ms() < end, "stalled: up %zu/%zu, down %zu/%zu", sv.in_len, up,
			   cl.in_len, down);
		IT_REQUIRE(poll(p, 2, 1000) >= 0, "poll");
		tcp_end_step(&cl, p[0].revents, down);
		tcp_end_step(&sv, p[1].revents, up);
	}
	IT_REQUIRE(sv.in_len == up && memcmp(sv.in, cl.out, up) == 0, "upstream differs (%zu)",
		   sv.in_len);
	IT_REQUIRE(cl.in_len == down && memcmp(cl.in, sv.out, down) == 0,
		   "downstream differs (%zu)", cl.in_len);
	require_exit(c, 0, n->cerr);
	require_exit(l, 0, n->lerr);
	close(cl.fd);
	close(sv.fd);
	free(cl.out);
	free(cl.in);
	free(sv.out);
	free(sv.in);
}

/* TCP forwarded both ways: --tcp-listen on one side, --tcp-connect on the other. */
static void test_tcp_forward(void)
{
	struct it_daemon *d = start(false, false);
	struct names n;
	char id[16], svc[32], fwd[16];
	uint16_t svc_port, fwd_port = it_free_port();
	int lfd = listen_tcp(&svc_port);

	names_make(d, &n);
	snprintf(svc, sizeof(svc), "127.0.0.1:%u", svc_port);
	snprintf(fwd, sizeof(fwd), "%u", fwd_port);
	const char *largs[] = { "--relay",  n.relay,	     "--key", n.lkey,
				"--listen", "--tcp-connect", svc,     NULL };
	pid_t l = spawn(largs, NULL, NULL, n.lerr);
	snprintf(id, sizeof(id), "%u", wait_listening(n.lerr));
	const char *cargs[] = { "--relay", n.relay,	   "--key", n.ckey, "--to-id",
				id,	   "--tcp-listen", fwd,	    NULL };
	pid_t c = spawn(cargs, NULL, NULL, n.cerr);
	stream_exchange(connect_retry(fwd_port, SOCK_STREAM), lfd, c, l, &n);
}

static int unix_socket_at(const char *path, bool listening)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	IT_REQUIRE(fd >= 0 && strlen(path) < sizeof(sa.sun_path), "unix socket %s", path);
	strcpy(sa.sun_path, path);
	int r = listening ? bind(fd, (struct sockaddr *)&sa, sizeof(sa))
			  : connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (r == 0 && listening)
		r = listen(fd, 1);
	if (r < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The same over Unix stream sockets: --unix-listen on one side, --unix on the other. */
static void test_unix_forward(void)
{
	struct it_daemon *d = start(false, false);
	struct names n;
	char id[16], svc[300], fwd[300];

	names_make(d, &n);
	snprintf(svc, sizeof(svc), "%s/svc.sock", d->dir);
	snprintf(fwd, sizeof(fwd), "%s/fwd.sock", d->dir);
	int lfd = unix_socket_at(svc, true);
	IT_REQUIRE(lfd >= 0, "listen on %s: %s", svc, strerror(errno));
	const char *largs[] = {
		"--relay", n.relay, "--key", n.lkey, "--listen", "--unix", svc, NULL
	};
	pid_t l = spawn(largs, NULL, NULL, n.lerr);
	snprintf(id, sizeof(id), "%u", wait_listening(n.lerr));
	const char *cargs[] = { "--relay", n.relay,	    "--key", n.ckey, "--to-id",
				id,	   "--unix-listen", fwd,     NULL };
	pid_t c = spawn(cargs, NULL, NULL, n.cerr);
	int cfd;
	int64_t end = it_now_ms() + 20000;
	while ((cfd = unix_socket_at(fwd, false)) < 0) {
		IT_REQUIRE(it_now_ms() < end, "hdcat never listened on %s", fwd);
		it_sleep_ms(20);
	}
	stream_exchange(cfd, lfd, c, l, &n);
}

/* Datagrams of several sizes both ways, each arriving whole and alone. */
static void test_udp(void)
{
	static const size_t sizes[] = { 1, 100, 1400, 8000, 60000 };
	static uint8_t want[60000], got[65536];
	struct it_daemon *d = start(false, false);
	struct names n;
	char id[16], svc[32], fwd[16];
	uint16_t svc_port = it_free_port(), fwd_port = it_free_port();

	names_make(d, &n);
	int sfd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(svc_port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	IT_REQUIRE(sfd >= 0 && bind(sfd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind: %s",
		   strerror(errno));
	snprintf(svc, sizeof(svc), "127.0.0.1:%u", svc_port);
	snprintf(fwd, sizeof(fwd), "%u", fwd_port);
	const char *largs[] = { "--relay",  n.relay,	     "--key", n.lkey,
				"--listen", "--udp-connect", svc,     NULL };
	pid_t l = spawn(largs, NULL, NULL, n.lerr);
	snprintf(id, sizeof(id), "%u", wait_listening(n.lerr));
	const char *cargs[] = { "--relay", n.relay,	   "--key", n.ckey, "--to-id",
				id,	   "--udp-listen", fwd,	    "-v",   NULL };
	pid_t c = spawn(cargs, NULL, NULL, n.cerr);
	/* Not connect_retry: a UDP connect succeeds before anyone listens. */
	int64_t bound_by = it_now_ms() + 20000;
	while (!file_contains(n.cerr, "connected to peer id")) {
		IT_REQUIRE(it_now_ms() < bound_by, "hdcat did not connect to its peer");
		it_sleep_ms(20);
	}
	int cfd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	sa.sin_port = htons(fwd_port);
	IT_REQUIRE(cfd >= 0 && connect(cfd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect");

	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	for (int round = 0; round < 20; round++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			struct pollfd p = { .fd = sfd, .events = POLLIN };
			it_fill_pattern(want, sizes[i], 100 + i);
			IT_REQUIRE(send(cfd, want, sizes[i], 0) == (ssize_t)sizes[i], "send: %s",
				   strerror(errno));
			IT_REQUIRE(poll(&p, 1, 10000) == 1, "datagram %zu did not arrive", i);
			fl = sizeof(from);
			ssize_t k =
			    recvfrom(sfd, got, sizeof(got), 0, (struct sockaddr *)&from, &fl);
			IT_REQUIRE(k == (ssize_t)sizes[i] && memcmp(got, want, sizes[i]) == 0,
				   "up: %zd bytes, want %zu", k, sizes[i]);
			it_fill_pattern(want, sizes[i], 200 + i);
			IT_REQUIRE(sendto(sfd, want, sizes[i], 0, (struct sockaddr *)&from, fl) ==
				       (ssize_t)sizes[i],
				   "sendto");
			p.fd = cfd;
			IT_REQUIRE(poll(&p, 1, 10000) == 1, "reply %zu did not arrive", i);
			k = recv(cfd, got, sizeof(got), 0);
			IT_REQUIRE(k == (ssize_t)sizes[i] && memcmp(got, want, sizes[i]) == 0,
				   "down: %zd bytes, want %zu", k, sizes[i]);
		}
	}
	close(cfd);
	close(sfd);
	kids_kill();
	(void)l;
	(void)c;
}

/*
 * A receiver that stops reading for a while behind the smallest queue the
 * relay allows (128 KiB, half our window): the relay drops chunks, and the
 * stream must still arrive whole, the sender resending what was lost.
 */
static void test_loss_resent(void)
{
	struct it_daemon *d = start_with(false, false, "[limits]\nqueue_bytes = 131072\n");
	struct names n;
	char id[16], fifo[300];
	const size_t len = 4u << 20;
	uint8_t *got = malloc(len + 1), *want = malloc(len);
	size_t have = 0;

	IT_REQUIRE(got && want, "out of memory");
	names_make(d, &n);
	write_file(n.cin, len, 9);
	snprintf(fifo, sizeof(fifo), "%s/l.fifo", d->dir);
	IT_REQUIRE(mkfifo(fifo, 0600) == 0, "mkfifo: %s", strerror(errno));
	const char *largs[] = { "--relay", n.relay, "--key", n.lkey, "--listen", "-v", NULL };
	pid_t l = spawn(largs, NULL, fifo, n.lerr);
	/* Nonblocking, so this open does not wait for the writer, and the writer's does not wait.
	 */
	int rfd = open(fifo, O_RDONLY | O_NONBLOCK);
	IT_REQUIRE(rfd >= 0, "open fifo: %s", strerror(errno));
	snprintf(id, sizeof(id), "%u", wait_listening(n.lerr));
	/* --wait 1: a stall longer than --wait is not a reason to give up. */
	const char *cargs[] = { "--relay", n.relay,  "--key", n.ckey, "--to-id",
				id,	   "--wait", "1",     "-v",   NULL };
	pid_t c = spawn(cargs, n.cin, NULL, n.cerr);
	it_sleep_ms(2500); /* the pipe fills, the listener stops reading, the relay drops */
	int64_t end = it_now_ms() + EXIT_WAIT_MS;
	for (;;) {
		struct pollfd p = { .fd = rfd, .events = POLLIN };
		IT_REQUIRE(it_now_ms() < end, "stalled at %zu of %zu bytes", have, len);
		poll(&p, 1, 1000);
		ssize_t k = read(rfd, got + have, len + 1 - have);
		if (k == 0)
			break;
		IT_REQUIRE(k > 0 || errno == EAGAIN, "read fifo: %s", strerror(errno));
		if (k > 0)
			have += (size_t)k;
		IT_REQUIRE(have <= len, "more bytes than were sent");
	}
	close(rfd);
	if (have != len) {
		char *le = slurp(n.lerr, NULL), *ce = slurp(n.cerr, NULL);
		it_note("listener said: %s", le ? le : "");
		it_note("connector said: %s", ce ? ce : "");
		free(le);
		free(ce);
	}
	it_fill_pattern(want, len, 9);
	IT_REQUIRE(have == len && memcmp(got, want, len) == 0, "%zu bytes, want %zu, or differ",
		   have, len);
	free(got);
	free(want);
	require_exit(c, 0, n.cerr);
	require_exit(l, 0, n.lerr);
	/* The loss this test is about happened: else it proves nothing. */
	IT_REQUIRE(file_contains(n.cerr, "resending from chunk"), "nothing was lost on the way");
}

/* A key nobody uses, and an id nobody has: exit 3 with the reason. */
static void test_peer_not_here(void)
{
	struct it_daemon *d = start(false, false);
	struct names n;
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
	char nodekey[8 + KEY_HEX_LEN + 1];

	names_make(d, &n);
	key_generate(priv, pub);
	key_to_nodekey(pub, nodekey);
	const char *a1[] = { "--relay", n.relay, "--key", n.ckey, "--to", nodekey, NULL };
	require_exit(spawn(a1, NULL, NULL, n.cerr), 3, n.cerr);
	char *text = slurp(n.cerr, NULL);
	IT_REQUIRE(text && strstr(text, "is not here"), "said: %s", text ? text : "");
	free(text);
	const char *a2[] = { "--relay", n.relay,  "--key", n.ckey, "--to-id",
			     "999",	"--wait", "2",	   NULL };
	require_exit(spawn(a2, NULL, NULL, n.cerr), 3, n.cerr);
	text = slurp(n.cerr, NULL);
	IT_REQUIRE(text && (strstr(text, "did not answer") || strstr(text, "is not here")),
		   "said: %s", text ? text : "");
	free(text);
}

/* The listener killed mid-stream: the sender hears it from the relay and exits 3. */
static void test_peer_leaves(void)
{
	struct it_daemon *d = start(false, false);
	struct names n;
	char id[16];

	names_make(d, &n);
	const char *largs[] = { "--relay", n.relay, "--key", n.lkey, "--listen", NULL };
	pid_t l = spawn(largs, NULL, NULL, n.lerr);
	snprintf(id, sizeof(id), "%u", wait_listening(n.lerr));
	const char *cargs[] = { "--relay", n.relay, "--key", n.ckey, "--to-id", id, "-v", NULL };
	pid_t c = spawn(cargs, "/dev/zero", NULL, n.cerr);
	int64_t end = it_now_ms() + 20000;
	while (!file_contains(n.cerr, "connected to peer id")) {
		IT_REQUIRE(it_now_ms() < end, "hdcat did not connect to its peer");
		it_sleep_ms(20);
	}
	it_sleep_ms(200); /* mid-stream: /dev/zero never ends */
	kill(l, SIGKILL);
	wait_exit(l, 10000);
	require_exit(c, 3, n.cerr);
	IT_REQUIRE(file_contains(n.cerr, "left before the end of the stream"),
		   "the sender did not say the peer left");
}

/* A relay that wants tokens: none, or a bad one, is refused with the relay's reason. */
static void test_token_refused(void)
{
	struct it_daemon *d = start(true, false);
	struct names n;

	names_make(d, &n);
	const char *a1[] = { "--relay", n.relay, "--key", n.ckey, "--listen", NULL };
	require_exit(spawn(a1, NULL, NULL, n.cerr), 2, n.cerr);
	char *text = slurp(n.cerr, NULL);
	IT_REQUIRE(text && strstr(text, "relay refused: no-token"), "said: %s", text ? text : "");
	free(text);
	const char *a2[] = { "--relay",
			     n.relay,
			     "--key",
			     n.ckey,
			     "--listen",
			     "--token",
			     "hdt1_AQABAgMEBQYHICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8AAAAAcT-"
			     "zAOQg90w29XMNLkha5Ucwwpq3B_408BVFWTeIRsPYBsYn",
			     NULL };
	require_exit(spawn(a2, NULL, NULL, n.cerr), 2, n.cerr);
	text = slurp(n.cerr, NULL);
	IT_REQUIRE(text && strstr(text, "relay refused"), "said: %s", text ? text : "");
	free(text);
}

IT_MAIN(IT_TEST(test_stdio_plain), IT_TEST(test_stdio_tls), IT_TEST(test_tcp_forward),
	IT_TEST(test_unix_forward), IT_TEST(test_udp), IT_TEST(test_loss_resent),
	IT_TEST(test_peer_not_here), IT_TEST(test_peer_leaves), IT_TEST(test_token_refused))
