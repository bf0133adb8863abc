// SPDX-License-Identifier: MIT
#include "tls.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "derp_frame.h"
#include "ktls.h"
#include "log.h"

#define METACERT_VALIDITY_SECONDS (30L * 24 * 3600)

const char *tls_last_error(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();
	if (!e) {
		snprintf(buf, len, "unknown TLS error");
		return buf;
	}
	ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

X509 *tls_metacert_create(const uint8_t server_pub[KEY_LEN])
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	X509 *x = X509_new();
	if (!pkey || !x)
		goto fail;
	/* The serial carries the DERP protocol version; clients check it fits 8 bits. */
	if (!X509_set_version(x, 2) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), DERP_PROTOCOL_VERSION))
		goto fail;
	char cn[8 + KEY_HEX_LEN];
	memcpy(cn, "derpkey", 7);
	key_to_hex(server_pub, cn + 7);
	X509_NAME *name = X509_get_subject_name(x);
	/*
	 * 71 characters is past X.509's 64-character CN bound, which the
	 * MBSTRING_* path enforces; a typed string is stored as given (Go does too).
	 */
	if (!X509_NAME_add_entry_by_NID(name, NID_commonName, V_ASN1_PRINTABLESTRING,
					(const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_issuer_name(x, name))
		goto fail;
	if (!X509_gmtime_adj(X509_getm_notBefore(x), -METACERT_VALIDITY_SECONDS) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), METACERT_VALIDITY_SECONDS))
		goto fail;
	/* Exactly one extension, as derper's: BasicConstraints, not a CA. */
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, "CA:FALSE");
	if (!ext)
		goto fail;
	int ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (!ok || !X509_set_pubkey(x, pkey) || !X509_sign(x, pkey, NULL))
		goto fail;
	EVP_PKEY_free(pkey);
	return x;
fail:
	X509_free(x);
	EVP_PKEY_free(pkey);
	return NULL;
}

/* The part every server context shares once its certificate and key are in. */
static SSL_CTX *finish_server_ctx(SSL_CTX *ctx, const uint8_t server_pub[KEY_LEN], char *err,
				  size_t errlen)
{
	char why[256];
	X509 *meta = tls_metacert_create(server_pub);
	/* add0 hands our reference to the context: the metacert ends the chain. */
	if (!meta || SSL_CTX_add0_chain_cert(ctx, meta) != 1) {
		X509_free(meta);
		snprintf(err, errlen, "TLS: cannot add the DERP metacert: %s",
			 tls_last_error(why, sizeof(why)));
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* DERP needs HTTP/1.1 (an upgrade); no session resumption state to keep. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	return ctx;
}

static SSL_CTX *new_server_ctx(char *err, size_t errlen)
{
	char why[256];
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		snprintf(err, errlen, "TLS: %s", tls_last_error(why, sizeof(why)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* Idle connections keep no read/write buffers. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

SSL_CTX *tls_server_ctx_create(const char *cert_file, const char *key_file,
			       const uint8_t server_pub[KEY_LEN], char *err, size_t errlen)
{
	char why[256];
	SSL_CTX *ctx = new_server_ctx(err, errlen);
	if (!ctx)
		return NULL;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		snprintf(err, errlen, "tls.cert %s: %s", cert_file,
			 tls_last_error(why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		snprintf(err, errlen, "tls.key %s: %s", key_file, tls_last_error(why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "tls.key %s does not match tls.cert %s", key_file, cert_file);
		goto fail;
	}
	return finish_server_ctx(ctx, server_pub, err, errlen);
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *tls_server_ctx_create_mem(X509 *cert, EVP_PKEY *key, const uint8_t server_pub[KEY_LEN],
				   char *err, size_t errlen)
{
	char why[256];
	SSL_CTX *ctx = new_server_ctx(err, errlen);
	if (!ctx)
		return NULL;
	if (SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "TLS: %s", tls_last_error(why, sizeof(why)));
		SSL_CTX_free(ctx);
		return NULL;
	}
	return finish_server_ctx(ctx, server_pub, err, errlen);
}

SSL *tls_session_new(SSL_CTX *ctx)
{
	SSL *ssl = SSL_new(ctx);
	if (!ssl)
		return NULL;
	BIO *rbio = BIO_new(BIO_s_mem());
	BIO *wbio = BIO_new(BIO_s_mem());
	if (!rbio || !wbio) {
		BIO_free(rbio);
		BIO_free(wbio);
		SSL_free(ssl);
		return NULL;
	}
	/* An empty read BIO means "wait for more", not end of file. */
	BIO_set_mem_eof_return(rbio, -1);
	BIO_set_mem_eof_return(wbio, -1);
	SSL_set_bio(ssl, rbio, wbio);
	SSL_set_accept_state(ssl);
	return ssl;
}

int tls_feed(SSL *ssl, const uint8_t *p, size_t n)
{
	BIO *rbio = SSL_get_rbio(ssl);
	while (n > 0) {
		int chunk = n > 1u << 30 ? 1 << 30 : (int)n;
		int w = BIO_write(rbio, p, chunk);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static enum tls_status map_error(SSL *ssl, int rc)
{
	switch (SSL_get_error(ssl, rc)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return TLS_WANT_MORE;
	case SSL_ERROR_ZERO_RETURN:
		return TLS_CLOSED;
	default:
		return TLS_ERROR;
	}
}

enum tls_status tls_handshake(SSL *ssl)
{
	int rc = SSL_do_handshake(ssl);
	return rc == 1 ? TLS_OK : map_error(ssl, rc);
}

enum tls_status tls_read(SSL *ssl, uint8_t *buf, size_t cap, size_t *got)
{
	size_t n = 0;
	int rc = SSL_read_ex(ssl, buf, cap, &n);
	*got = n;
	return rc == 1 ? TLS_OK : map_error(ssl, rc);
}

int tls_write(SSL *ssl, const uint8_t *p, size_t n)
{
	size_t written = 0;
	return SSL_write_ex(ssl, p, n, &written) == 1 && written == n ? 0 : -1;
}

size_t tls_pending_out(SSL *ssl)
{
	return BIO_ctrl_pending(SSL_get_wbio(ssl));
}

size_t tls_take_out(SSL *ssl, uint8_t *buf, size_t cap)
{
	int n = BIO_read(SSL_get_wbio(ssl), buf, cap > (1u << 30) ? 1 << 30 : (int)cap);
	return n > 0 ? (size_t)n : 0;
}

bool tls_kernel_has_ktls(void)
{
	/*
	 * The kernel looks the ULP up before it checks the socket state: an
	 * unconnected socket answers ENOENT without kTLS and ENOTCONN with it.
	 */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return false;
	int rc = setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", 3);
	int e = errno;
	close(fd);
	return rc == 0 || e != ENOENT;
}

bool tls_ktls_setup(SSL_CTX *ctx, bool wanted)
{
	if (!wanted) {
		log_info("TLS: kTLS off (tls.ktls = off); records are encrypted in userspace "
			 "(OpenSSL over io_uring)");
		return false;
	}
	if (!tls_kernel_has_ktls()) {
		log_info("TLS: no kTLS in this kernel (TCP_ULP \"tls\" unavailable); records are "
			 "encrypted in userspace (OpenSSL over io_uring)");
		return false;
	}
	if (ktls_ctx_enable(ctx) < 0) {
		log_warn("TLS: the kernel offers kTLS but it cannot be set up; records are "
			 "encrypted in userspace (OpenSSL over io_uring)");
		return false;
	}
	log_info("TLS: kTLS available: after the handshake, connections using AES-GCM or "
		 "ChaCha20-Poly1305 move to the kernel, others stay in userspace (OpenSSL)");
	return true;
}
