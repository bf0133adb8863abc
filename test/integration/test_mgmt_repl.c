// SPDX-License-Identifier: MIT
/*
 * The hdcli shell under a pseudo-terminal: Tab completion of verbs and peer
 * keys, '?' help, history, errors, and leaving.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_mgmt_daemon.h"

struct shell {
	pid_t pid;
	int master;
	char out[1 << 18]; /* everything the shell wrote */
	size_t len;
	size_t seen; /* expect() matched up to here */
};

static struct shell sh;

static void shell_start(struct mgmt_daemon *d)
{
	struct winsize ws = { .ws_row = 40, .ws_col = 200 };

	memset(&sh, 0, sizeof(sh));
	fflush(NULL);
	sh.pid = forkpty(&sh.master, NULL, NULL, &ws);
	IT_REQUIRE(sh.pid >= 0, "forkpty: %s", strerror(errno));
	if (sh.pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setenv("HOME", d->it.dir, 1); /* the history file goes there */
		/*
		 * libedit draws with the terminal's capabilities; some terminal
		 * types (vt100) pad with NUL bytes, which the text matching here
		 * cannot see past. One known type keeps the output comparable.
		 */
		setenv("TERM", "xterm", 1);
		execl(getenv("HDCLI_BIN"), "hdcli", "--socket", d->sock, (char *)NULL);
		_exit(127);
	}
}

/* Reads what the shell wrote for up to ms. */
static void pump(int ms)
{
	int64_t end = it_now_ms() + ms;
	while (it_now_ms() < end) {
		struct pollfd pfd = { .fd = sh.master, .events = POLLIN };
		if (poll(&pfd, 1, 20) <= 0)
			continue;
		ssize_t n = read(sh.master, sh.out + sh.len, sizeof(sh.out) - 1 - sh.len);
		if (n <= 0)
			return;
		sh.len += (size_t)n;
		sh.out[sh.len] = '\0';
	}
}

/* Makes escape sequences and carriage returns visible in a failure message. */
static void escape_controls(char *s)
{
	for (; *s; s++) {
		if (*s == '\x1b')
			*s = '^';
		else if (*s == '\r')
			*s = '|';
	}
}

/* Requires text to appear in the shell's output (after the last match) within 5 s. */
static void expect(const char *text)
{
	int64_t end = it_now_ms() + 5000;
	for (;;) {
		char *at = strstr(sh.out + sh.seen, text);
		if (at) {
			sh.seen = (size_t)(at - sh.out) + strlen(text);
			return;
		}
		if (it_now_ms() >= end) {
			escape_controls(sh.out);
			if (getenv("HD_REPL_DEBUG"))
				printf("%s\n", sh.out);
			IT_REQUIRE(false, "the shell did not print \"%s\"; it printed:\n%s", text,
				   sh.out + sh.seen);
		}
		pump(50);
	}
}

static void type(const char *keys)
{
	IT_REQUIRE(write(sh.master, keys, strlen(keys)) == (ssize_t)strlen(keys), "write: %s",
		   strerror(errno));
}

static int shell_wait_exit(void)
{
	int status;
	int64_t end = it_now_ms() + 5000;
	while (waitpid(sh.pid, &status, WNOHANG) != sh.pid) {
		IT_REQUIRE(it_now_ms() < end, "the shell did not exit");
		pump(20);
	}
	close(sh.master);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void test_completion_and_help(void)
{
	struct mgmt_daemon *d = md_start(NULL);
	struct derp_client *a = it_connect(&d->it, NULL);
	char ka[80];
	md_nodekey(a->pub, ka);

	shell_start(d);
	expect("Tab completes, ? explains");
	expect("hdcli> ");

	/* Verbs complete word by word. */
	type("sh\t");
	expect("hdcli> show ");
	type("st\t");
	expect("hdcli> show status ");
	type("\r");
	expect("hyper-derp 0.1.0, up ");
	expect("1 open");

	/* Several candidates: Tab lists them. */
	type("show \t");
	expect("status");
	expect("counters");
	expect("config");
	type("\x15"); /* Ctrl-U */

	/* '?' at an empty prompt lists the commands; after words, what may follow. */
	type("?");
	expect("show peers");
	expect("quit");
	type("config ?");
	expect("config commit");
	expect("config discard");
	expect("hdcli> config ");
	type("\x15");
	type("set log-level ?");
	expect("values:");
	expect("debug");
	type("\x15");

	/* Peer keys complete after "peer close", from the relay's peer list. */
	type("peer close \t");
	expect(ka);
	type("\r");
	expect("closed nodekey:");
	it_expect_closed(a, 5000);

	/* An unknown verb is an error, and the shell goes on. */
	type("frobnicate\r");
	expect("unknown command \"frobnicate\"");
	expect("hdcli> ");
	/* History: Up brings back the last line. */
	type("\x1b[A");
	expect("hdcli> frobnicate");
	type("\x15");
	type("quit\r");
	IT_REQUIRE(shell_wait_exit() == 0, "quit: exit status");

	char hist[400];
	snprintf(hist, sizeof(hist), "%s/.hdcli_history", d->it.dir);
	IT_REQUIRE(access(hist, R_OK) == 0, "no history file");
	md_stop(d);
}

static void test_ctrl_c_and_ctrl_d(void)
{
	struct mgmt_daemon *d = md_start(NULL);
	shell_start(d);
	expect("hdcli> ");
	type("show sta");
	type("\x03"); /* Ctrl-C drops the line */
	expect("^C");
	type("\r");
	expect("hdcli> ");
	type("\x04"); /* Ctrl-D on an empty line leaves */
	IT_REQUIRE(shell_wait_exit() == 0, "Ctrl-D: exit status");
	md_stop(d);
}

static void test_no_relay(void)
{
	struct mgmt_daemon *d = md_start(NULL);
	char saved[300];
	snprintf(saved, sizeof(saved), "%s", d->sock);
	snprintf(d->sock, sizeof(d->sock), "%s/none.sock", d->it.dir);
	shell_start(d);
	expect("cannot connect");
	IT_REQUIRE(shell_wait_exit() == 2, "shell without a relay: exit status");
	snprintf(d->sock, sizeof(d->sock), "%s", saved);
	md_stop(d);
}

int main(int argc, char **argv)
{
	static const struct it_test tests[] = { IT_TEST(test_completion_and_help),
						IT_TEST(test_ctrl_c_and_ctrl_d),
						IT_TEST(test_no_relay) };
	return md_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
