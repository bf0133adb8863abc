// SPDX-License-Identifier: MIT
/* Throwaway self-signed certificates (see tls_selfsigned.h). */
#include "tls_selfsigned.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VALIDITY_SECONDS (24L * 3600)

static void error_text(const char *what, char *err, size_t errlen)
{
	unsigned long e = ERR_get_error();
	char why[256];

	if (e)
		ERR_error_string_n(e, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "unknown error");
	ERR_clear_error();
	snprintf(err, errlen, "%s: %s", what, why);
}

static int add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (!ext)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

int tls_selfsigned_make(EVP_PKEY **key, X509 **cert, char *err, size_t errlen)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509_NAME *name;

	if (!pkey || !x)
		goto fail;
	if (!X509_set_version(x, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(x), 1))
		goto fail;
	name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_ASC,
					(const unsigned char *)"localhost", -1, -1, 0) ||
	    !X509_set_issuer_name(x, name))
		goto fail;
	/* Backdated a little: clocks of test machines disagree. */
	if (!X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), VALIDITY_SECONDS))
		goto fail;
	if (!X509_set_pubkey(x, pkey) || !add_ext(x, NID_basic_constraints, "critical,CA:TRUE") ||
	    !add_ext(x, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1") ||
	    !X509_sign(x, pkey, EVP_sha256()))
		goto fail;
	*key = pkey;
	*cert = x;
	return 0;
fail:
	error_text("self-signed certificate", err, errlen);
	X509_free(x);
	EVP_PKEY_free(pkey);
	return -1;
}

static int write_pem(const char *path, mode_t mode, EVP_PKEY *key, X509 *cert, char *err,
		     size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	int ok;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fchmod(fd, mode);
	ok =
	    key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, cert);
	if (fclose(f) != 0 || !ok) {
		error_text(path, err, errlen);
		return -1;
	}
	return 0;
}

int tls_selfsigned_write_pem(const char *cert_path, const char *key_path, char *err, size_t errlen)
{
	EVP_PKEY *key;
	X509 *cert;
	int ret = -1;

	if (tls_selfsigned_make(&key, &cert, err, errlen) < 0)
		return -1;
	if (write_pem(key_path, 0600, key, NULL, err, errlen) == 0 &&
	    write_pem(cert_path, 0644, NULL, cert, err, errlen) == 0)
		ret = 0;
	X509_free(cert);
	EVP_PKEY_free(key);
	return ret;
}

SSL_CTX *tls_selfsigned_server_ctx(char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;

	if (!ctx) {
		error_text("TLS server context", err, errlen);
		return NULL;
	}
	if (tls_selfsigned_make(&key, &cert, err, errlen) < 0)
		goto fail;
	/* The same versions and session policy as the relay's server context. */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1) {
		error_text("TLS server certificate", err, errlen);
		goto fail;
	}
	X509_free(cert);
	EVP_PKEY_free(key);
	return ctx;
fail:
	X509_free(cert);
	EVP_PKEY_free(key);
	SSL_CTX_free(ctx);
	return NULL;
}
