// SPDX-License-Identifier: MIT
/*
 * Client-side TLS for derp_client (see derp_tls.h).
 *
 * OpenSSL's error queue is per thread and SSL_get_error() reads it, so each
 * call below starts from a clear queue; otherwise a stale error from another
 * connection of the same thread would be taken for this one's.
 */
#include "derp_tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METACERT_CN_PREFIX     "derpkey"
#define METACERT_CN_PREFIX_LEN (sizeof(METACERT_CN_PREFIX) - 1)
/* Distinct (version, CA file) settings one process uses; a handful at most. */
#define CTX_CACHE_MAX 8

struct ctx_cache_entry {
	bool tls12_only;
	bool verify;
	char *ca_file; /* NULL: the system's roots when verify, else no verification */
	SSL_CTX *ctx;
};

static pthread_mutex_t ctx_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ctx_cache_entry ctx_cache[CTX_CACHE_MAX];
static size_t ctx_cache_len;

static void last_error_text(const char *what, char *err, size_t errlen)
{
	unsigned long e = ERR_get_error();
	char why[256];

	if (e)
		ERR_error_string_n(e, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "unknown TLS error");
	ERR_clear_error();
	snprintf(err, errlen, "%s: %s", what, why);
}

static SSL_CTX *ctx_create(bool tls12_only, const char *ca_file, bool verify, char *err,
			   size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx) {
		last_error_text("TLS client context", err, errlen);
		return NULL;
	}
	/* derper and Tailscale clients speak TLS 1.2 and 1.3; nothing older. */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx, tls12_only ? TLS1_2_VERSION : TLS1_3_VERSION);
	/*
	 * A relay may close TCP without close_notify, as derper does; that is
	 * an end of stream, not a truncation attack worth an error here.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	/*
	 * hdbench's write queue compacts (moves) its bytes between retries and
	 * may have grown: allow both, and report each record as it goes out.
	 */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Every connection is a full handshake, like a new client's. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (ca_file) {
		if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
			char what[300];

			snprintf(what, sizeof(what), "CA file %s", ca_file);
			last_error_text(what, err, errlen);
			SSL_CTX_free(ctx);
			return NULL;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else if (verify) {
		if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
			last_error_text("the system's trusted certificates", err, errlen);
			SSL_CTX_free(ctx);
			return NULL;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	return ctx;
}

SSL_CTX *derp_tls_client_ctx(bool tls12_only, const char *ca_file, char *err, size_t errlen)
{
	return derp_tls_client_ctx_verify(tls12_only, ca_file, ca_file != NULL, err, errlen);
}

SSL_CTX *derp_tls_client_ctx_verify(bool tls12_only, const char *ca_file, bool verify, char *err,
				    size_t errlen)
{
	SSL_CTX *ctx = NULL;

	verify = verify || ca_file;

	pthread_mutex_lock(&ctx_cache_lock);
	for (size_t i = 0; i < ctx_cache_len; i++) {
		struct ctx_cache_entry *e = &ctx_cache[i];

		if (e->tls12_only == tls12_only && e->verify == verify &&
		    (e->ca_file && ca_file ? strcmp(e->ca_file, ca_file) == 0
					   : e->ca_file == ca_file)) {
			ctx = e->ctx;
			goto out;
		}
	}
	ctx = ctx_create(tls12_only, ca_file, verify, err, errlen);
	if (!ctx)
		goto out;
	if (ctx_cache_len < CTX_CACHE_MAX) {
		struct ctx_cache_entry *e = &ctx_cache[ctx_cache_len];

		e->ca_file = ca_file ? strdup(ca_file) : NULL;
		if (!ca_file || e->ca_file) {
			e->tls12_only = tls12_only;
			e->verify = verify;
			e->ctx = ctx;
			ctx_cache_len++;
		}
	}
	/* A context that did not fit the cache is kept alive by its sessions' references. */
	if (ctx_cache_len == 0 || ctx_cache[ctx_cache_len - 1].ctx != ctx) {
		pthread_mutex_unlock(&ctx_cache_lock);
		snprintf(err, errlen, "too many distinct TLS client settings in one process");
		SSL_CTX_free(ctx);
		return NULL;
	}
out:
	pthread_mutex_unlock(&ctx_cache_lock);
	return ctx;
}

SSL *derp_tls_client_session(SSL_CTX *ctx, int fd, const char *server_name, const char *ip,
			     char *err, size_t errlen)
{
	SSL *ssl;

	ERR_clear_error();
	ssl = SSL_new(ctx);
	if (!ssl) {
		last_error_text("TLS session", err, errlen);
		return NULL;
	}
	if (SSL_set_fd(ssl, fd) != 1) {
		last_error_text("TLS session", err, errlen);
		goto fail;
	}
	if (server_name && SSL_set_tlsext_host_name(ssl, server_name) != 1) {
		last_error_text("TLS server name", err, errlen);
		goto fail;
	}
	if (SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER) {
		X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
		int ok = 1;

		/* Verification without a name to check would accept any valid certificate. */
		if (server_name)
			ok = SSL_set1_host(ssl, server_name);
		else if (ip)
			ok = X509_VERIFY_PARAM_set1_ip_asc(param, ip);
		if (ok != 1) {
			last_error_text("TLS verification name", err, errlen);
			goto fail;
		}
	}
	SSL_set_connect_state(ssl);
	return ssl;
fail:
	SSL_free(ssl);
	return NULL;
}

/*
 * Maps a failed SSL call: returns 0 with *want for "call again when the
 * socket is ready", -1 otherwise (errno set: 0 for end of stream).
 */
static int map_ssl_error(SSL *ssl, int ret, short *want)
{
	int saved_errno = errno;

	switch (SSL_get_error(ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		*want = POLLIN;
		errno = EAGAIN;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		*want = POLLOUT;
		errno = EAGAIN;
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		errno = 0;
		return -1;
	case SSL_ERROR_SYSCALL:
		/* A socket error; errno 0 means the peer closed without a word. */
		errno = saved_errno;
		return -1;
	default:
		errno = EPROTO;
		return -1;
	}
}

int derp_tls_handshake_step(SSL *ssl, short *want, char *err, size_t errlen)
{
	int ret;

	ERR_clear_error();
	ret = SSL_do_handshake(ssl);
	if (ret == 1)
		return 1;
	if (map_ssl_error(ssl, ret, want) == 0)
		return 0;
	if (errno == 0 || errno == ECONNRESET || errno == EPIPE) {
		/* The usual sign of a plain-HTTP server: it answers our ClientHello and closes. */
		snprintf(err, errlen,
			 "TLS handshake: the server closed the connection (is it serving TLS?)");
		ERR_clear_error();
	} else if (errno == EPROTO) {
		long verify = SSL_get_verify_result(ssl);

		if (verify != X509_V_OK)
			snprintf(err, errlen, "TLS handshake: certificate not accepted: %s",
				 X509_verify_cert_error_string(verify));
		else
			last_error_text("TLS handshake", err, errlen);
		ERR_clear_error();
	} else {
		snprintf(err, errlen, "TLS handshake: %s", strerror(errno));
	}
	return -1;
}

ssize_t derp_tls_recv(SSL *ssl, void *buf, size_t cap, short *want)
{
	size_t got = 0;

	ERR_clear_error();
	if (SSL_read_ex(ssl, buf, cap, &got) == 1)
		return (ssize_t)got;
	if (map_ssl_error(ssl, 0, want) == 0)
		return -1;
	if (errno == 0)
		return 0;
	return -1;
}

ssize_t derp_tls_send(SSL *ssl, const void *buf, size_t len, short *want)
{
	size_t done = 0;

	ERR_clear_error();
	if (SSL_write_ex(ssl, buf, len, &done) == 1)
		return (ssize_t)done;
	map_ssl_error(ssl, 0, want);
	if (errno == 0)
		errno = EPIPE;
	return -1;
}

/* The subject CN of a certificate, or NULL. */
static const ASN1_STRING *subject_cn(X509 *x)
{
	X509_NAME *name = X509_get_subject_name(x);
	int at = name ? X509_NAME_get_index_by_NID(name, NID_commonName, -1) : -1;

	if (at < 0)
		return NULL;
	return X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, at));
}

int derp_tls_metacert_key(SSL *ssl, uint8_t key[KEY_LEN])
{
	STACK_OF(X509) * chain;
	const ASN1_STRING *cn;
	const char *text;
	int n, len;

	/* As the Go client: the metacert counts only on TLS 1.3. */
	if (SSL_version(ssl) < TLS1_3_VERSION)
		return 0;
	chain = SSL_get_peer_cert_chain(ssl);
	n = chain ? sk_X509_num(chain) : 0;
	if (n < 1)
		return 0;
	cn = subject_cn(sk_X509_value(chain, n - 1));
	if (!cn)
		return 0;
	text = (const char *)ASN1_STRING_get0_data(cn);
	len = ASN1_STRING_length(cn);
	if (len != (int)(METACERT_CN_PREFIX_LEN + KEY_HEX_LEN) ||
	    memcmp(text, METACERT_CN_PREFIX, METACERT_CN_PREFIX_LEN) != 0)
		return 0;
	return key_from_hex(text + METACERT_CN_PREFIX_LEN, KEY_HEX_LEN, NULL, key) == 0;
}

const char *derp_tls_describe(SSL *ssl, char *buf, size_t len)
{
	snprintf(buf, len, "%s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	return buf;
}

void derp_tls_trim(SSL *ssl)
{
	SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
	SSL_free_buffers(ssl);
}

void derp_tls_close(SSL *ssl)
{
	if (!ssl)
		return;
	ERR_clear_error();
	/* One try: a close_notify that does not fit the socket buffer is not worth a wait. */
	if (SSL_is_init_finished(ssl))
		SSL_shutdown(ssl);
	ERR_clear_error();
	SSL_free(ssl);
}
