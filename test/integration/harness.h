/* SPDX-License-Identifier: MIT */
/*
 * Integration test harness: runs the real hyper-derp daemon and talks to it
 * over real loopback sockets.
 *
 * A test program lists its tests with IT_MAIN(IT_TEST(a), IT_TEST(b) ...).
 * Each test starts the daemons it needs (it_daemon_start), connects clients
 * (it_connect, it_tcp_connect) and states what must hold with IT_REQUIRE,
 * which on failure jumps out of the test. The harness owns every daemon,
 * client and socket a test made: after a passing test it closes the
 * clients and stops each daemon with SIGTERM, requiring exit status 0;
 * after a failing one it kills the daemons and prints their logs. A
 * per-test watchdog (and PR_SET_PDEATHSIG in the daemon) makes sure no
 * daemon outlives its test, even when the test hangs or is killed.
 *
 * The daemon is started by systemd-style socket activation: the harness
 * binds 127.0.0.1:0 itself, so it knows the port before the daemon runs and
 * no two tests can race for a port.
 */
#ifndef HD_ITEST_HARNESS_H
#define HD_ITEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "derp_client.h"

/*
 * IT_UNDER_ASAN in AddressSanitizer builds: freed memory sits in its
 * quarantine there, so RSS says nothing about what the daemon gives back.
 */
#if defined(__SANITIZE_ADDRESS__)
#define IT_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define IT_UNDER_ASAN 1
#endif
#endif

/* Time the daemon gets to become ready, and to exit after SIGTERM. */
#define IT_START_TIMEOUT_MS 10000
#define IT_STOP_TIMEOUT_MS  10000
/* Default wait for a frame that must arrive. */
#define IT_FRAME_TIMEOUT_MS 5000

struct it_daemon_opts {
	unsigned workers;      /* dataplane threads; 0 means 2 */
	bool mesh_key;	       /* write a 0600 mesh key file and pass --mesh-key-file */
	const char *ini;       /* INI text passed with --config, or NULL */
	const char *pin_cores; /* --pin-cores value; NULL means "none" */
	bool tls;	       /* the ini sets [tls] cert and key: the readiness probe speaks TLS */
	/*
	 * Nonzero: the daemon binds 127.0.0.1:bind_port itself (--listen,
	 * --port), as under `systemctl restart`, instead of being handed a
	 * socket.
	 */
	uint16_t bind_port;
	/* More arguments after the harness's own (NULL-terminated), or NULL. */
	const char *const *extra_args;
};

struct it_daemon {
	pid_t pid; /* 0 once it has been reaped */
	int wait_status;
	uint16_t port;
	char dir[256]; /* private temp dir: key files, config, log */
	char log_path[300];
	uint8_t server_pub[KEY_LEN];
	uint8_t server_priv[KEY_LEN];
	bool has_mesh_key;
	uint8_t mesh_key[KEY_LEN];
};

/* ---- test definition and assertions ---- */

struct it_test {
	const char *name;
	void (*fn)(void);
};

#define IT_TEST(fn)     \
	{               \
#fn, fn \
	}

int it_main(int argc, char **argv, const struct it_test *tests, size_t ntests);

#define IT_MAIN(...)                                                                 \
	int main(int argc, char **argv)                                              \
	{                                                                            \
		static const struct it_test tests[] = { __VA_ARGS__ };               \
		return it_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0])); \
	}

__attribute__((noreturn, format(printf, 4, 5))) void
it_fail(const char *file, int line, const char *expr, const char *fmt, ...);

/* Fails the running test (and leaves it) unless cond holds. */
#define IT_REQUIRE(cond, ...)                                            \
	do {                                                             \
		if (!(cond))                                             \
			it_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
	} while (0)

/* Progress note, shown with the test's output. */
__attribute__((format(printf, 1, 2))) void it_note(const char *fmt, ...);

/* ---- time and randomness ---- */

int64_t it_now_ms(void);
void it_sleep_ms(int ms);
/* Deterministic bytes: a function of (seed, i) only, so a receiver can recompute them. */
void it_fill_pattern(uint8_t *buf, size_t len, uint64_t seed);

/* ---- daemon ---- */

/*
 * In a forked child about to exec a daemon: dies with the test process
 * (PR_SET_PDEATHSIG), reads /dev/null, appends stdout and stderr to
 * log_path. _exit(126) if it cannot.
 */
void it_child_setup_io(const char *log_path);

/* Starts a daemon (opts may be NULL) and waits until it completes a DERP handshake. */
struct it_daemon *it_daemon_start(const struct it_daemon_opts *opts);
/* Sends a signal to a running daemon. */
void it_daemon_signal(struct it_daemon *d, int sig);
/*
 * Waits up to timeout_ms for the daemon to exit. Returns true and sets
 * d->wait_status if it did.
 */
bool it_daemon_wait_exit(struct it_daemon *d, int timeout_ms);
/*
 * Runs $HYPER_DERP_BIN with args (NULL-terminated), which must make it exit
 * within 10 s (bad configuration and the like), keeping its output in out.
 * Returns whether it exited (*status: how); one that did not is killed.
 * Callers clean up before they require anything.
 */
bool it_run_daemon_to_exit(char *const args[], char *out, size_t cap, int *status);
/* Requires the daemon to be running (not crashed). */
void it_daemon_require_alive(struct it_daemon *d);
/*
 * The dataplane worker that took the connection of public key pub, read from
 * the daemon's debug log; -1 if the log does not say (yet).
 */
int it_daemon_worker_of(struct it_daemon *d, const uint8_t pub[KEY_LEN]);
/* Same for the nth connection (from 0) of that key, for keys connected more than once. */
int it_daemon_worker_of_nth(struct it_daemon *d, const uint8_t pub[KEY_LEN], int nth);
/* Whether the daemon's log contains text. */
bool it_daemon_log_contains(struct it_daemon *d, const char *text);

/* ---- DERP clients ---- */

/* Connects and completes the handshake (opts may be NULL); requires success. */
struct derp_client *it_connect(struct it_daemon *d, const struct derp_client_opts *opts);
/* Same with a given private key (for duplicate-key tests). */
struct derp_client *it_connect_with_key(struct it_daemon *d, const uint8_t priv[KEY_LEN]);
/* Closes a client now (its peers see it leave). */
void it_client_close(struct derp_client *c);

/*
 * Next frame other than KeepAlive, waiting up to timeout_ms. Returns 1 with a
 * frame, 0 on timeout, -1 on EOF or error (as derp_client_read_frame).
 */
int it_read_frame(struct derp_client *c, int timeout_ms, uint8_t *type, const uint8_t **payload,
		  uint32_t *len);
/* Requires the next frame (KeepAlives aside) to be of type; returns its payload. */
const uint8_t *it_expect_frame(struct derp_client *c, uint8_t type, int timeout_ms, uint32_t *len);
/* Requires the next frame to be a RecvPacket from src carrying exactly pkt. */
void it_expect_packet(struct derp_client *c, const uint8_t src[KEY_LEN], const uint8_t *pkt,
		      size_t len, int timeout_ms);
/*
 * Sends a SendPacket of the largest payload (64 KiB) from `from` to `to` in
 * writes of `piece` bytes, sleeping pause_ms after every pause_every of them,
 * and requires `to` to receive it intact: the relay reassembles a frame that
 * arrives in many small reads. The payload is it_fill_pattern(seed).
 */
void it_dribble_max_frame(struct derp_client *from, struct derp_client *to, size_t piece,
			  int pause_every, int pause_ms, uint64_t seed);
/* Requires no frame (KeepAlives aside) and no close for ms milliseconds. */
void it_expect_quiet(struct derp_client *c, int ms);
/* Requires the server to close the connection within timeout_ms; frames before it are skipped. */
void it_expect_closed(struct derp_client *c, int timeout_ms);
/*
 * Sends a Ping and requires the Pong with the same bytes as the next frame,
 * so it also proves that nothing else was queued for c before it.
 */
void it_expect_ping_pong(struct derp_client *c);
/* Requires a to reach b and b to reach a with one packet each way. */
void it_require_relaying(struct derp_client *a, struct derp_client *b);

void it_send_packet(struct derp_client *c, const uint8_t dst[KEY_LEN], const uint8_t *pkt,
		    size_t len);
/* Writes raw bytes on a client's socket; requires success. */
void it_send_raw(struct derp_client *c, const void *buf, size_t len);

/* ---- raw TCP ---- */

/*
 * A loopback TCP port that is free now, below the kernel's range of
 * ephemeral ports: one from that range could be taken as the source port
 * of some other connection while a relay is down between two starts.
 */
uint16_t it_free_port(void);

/* A plain TCP connection to the daemon (blocking, TCP_NODELAY), owned by the harness. */
int it_tcp_connect(struct it_daemon *d);
void it_fd_close(int fd);
/* Writes bytes; requires success. */
void it_fd_send(int fd, const void *buf, size_t len);
/* Writes bytes and ignores errors: the server may close while we write. */
void it_fd_send_ignoring_errors(int fd, const void *buf, size_t len);
/*
 * Reads until the server closes the connection, at most cap bytes kept
 * (the rest discarded). Requires the close within timeout_ms. Returns the
 * number of bytes kept.
 */
size_t it_fd_read_until_closed(int fd, void *buf, size_t cap, int timeout_ms);
/* Reads exactly len bytes within timeout_ms; requires success. */
void it_fd_read_exact(int fd, void *buf, size_t len, int timeout_ms);
/*
 * Reads an HTTP response head (through the blank line) into buf as a C
 * string, without reading past it; requires it within timeout_ms. Returns its length.
 */
size_t it_fd_read_http_head(int fd, char *buf, size_t cap, int timeout_ms);
/* "GET /derp" with the DERP upgrade headers and no fast start, as a client sends it. */
extern const char it_upgrade_request[];
/* Reads a ServerKey frame from fd and requires it to carry the daemon's key. */
void it_fd_expect_server_key(struct it_daemon *d, int fd);
/*
 * A raw connection upgraded to DERP: it got the 101 and the ServerKey frame
 * and has sent nothing more (no ClientInfo). Owned by the harness.
 */
int it_raw_upgrade(struct it_daemon *d);
/*
 * Takes over a raw socket as a DERP client (no handshake: for tests that
 * speak the handshake themselves). The harness keeps owning it.
 */
struct derp_client *it_wrap_fd(int fd);

/* ---- TLS ---- */

/* A self-signed certificate and its key, in a temporary directory of their own. */
struct it_tls_files {
	char dir[256];
	char cert[300];
	char key[300];
};

/*
 * Writes a fresh certificate and key (for localhost and 127.0.0.1) under
 * $TMPDIR in a new directory named prefix-XXXXXX; requires success.
 */
void it_tls_files_make(struct it_tls_files *f, const char *prefix);
/* Removes them; harmless on files never made or already removed. */
void it_tls_files_remove(struct it_tls_files *f);

/* ---- frame payload helpers ---- */

uint32_t it_get_be32(const uint8_t *p);
void it_put_be32(uint8_t *p, uint32_t v);
/* A human-readable frame type for messages. */
const char *it_type_name(uint8_t type);

#endif
