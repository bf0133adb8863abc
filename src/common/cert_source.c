// SPDX-License-Identifier: MIT
#include "cert_source.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "tls.h"

static struct cert_file_id file_id(const char *path)
{
	struct cert_file_id id = { 0 };
	struct stat st;
	if (stat(path, &st) < 0)
		return id;
	id.exists = true;
	id.dev = st.st_dev;
	id.ino = st.st_ino;
	id.size = st.st_size;
	id.mtime = st.st_mtim;
	return id;
}

static bool same_id(const struct cert_file_id *a, const struct cert_file_id *b)
{
	return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino &&
	       a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static int path_join(char *out, size_t cap, const char *dir, const char *name, const char *ext)
{
	int n = snprintf(out, cap, "%s/%s%s", dir, name, ext);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* ip mode: the pair is made once and kept, so the pin in the DERP map stays valid. */
static int make_ip_pair(struct cert_source *cs, const char *cert_dir, char *err, size_t errlen)
{
	bool have_cert = access(cs->cert_path, F_OK) == 0;
	bool have_key = access(cs->key_path, F_OK) == 0;
	if (have_cert && have_key)
		return 0;
	if (have_cert != have_key) {
		snprintf(err, errlen,
			 "tls.cert_dir: %s exists but %s does not; remove it or add "
			 "its pair",
			 have_cert ? cs->cert_path : cs->key_path,
			 have_cert ? cs->key_path : cs->cert_path);
		return -1;
	}
	if (mkdir(cert_dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "tls.cert_dir %s: %s", cert_dir, strerror(errno));
		return -1;
	}
	char why[512];
	if (cert_ip_write(cs->hostname, cs->cert_path, cs->key_path, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "tls.mode = %s: %s", cs->mode, why);
		return -1;
	}
	log_info("TLS: made a self-signed certificate for %s: %s (key %s)", cs->hostname,
		 cs->cert_path, cs->key_path);
	return 0;
}

int cert_source_init(struct cert_source *cs, const char *mode, const char *cert_file,
		     const char *key_file, const char *cert_dir, const char *hostname,
		     const uint8_t server_pub[KEY_LEN], char *err, size_t errlen)
{
	memset(cs, 0, sizeof(*cs));
	snprintf(cs->mode, sizeof(cs->mode), "%s", mode);
	snprintf(cs->hostname, sizeof(cs->hostname), "%s", hostname);
	memcpy(cs->server_pub, server_pub, KEY_LEN);

	if (strcmp(mode, "file") == 0) {
		/* TLS is on when both are set; one without the other is an error. */
		if (!cert_file[0] && !key_file[0])
			return 0;
		if (!cert_file[0] || !key_file[0]) {
			snprintf(err, errlen,
				 "TLS needs both tls.cert and tls.key (only %s is set)",
				 cert_file[0] ? "tls.cert" : "tls.key");
			return -1;
		}
		snprintf(cs->cert_path, sizeof(cs->cert_path), "%s", cert_file);
		snprintf(cs->key_path, sizeof(cs->key_path), "%s", key_file);
		return 1;
	}
	if (!hostname[0]) {
		snprintf(err, errlen,
			 "tls.mode = %s needs server.hostname (the certificate files "
			 "are tls.cert_dir/<hostname>.crt and .key)",
			 mode);
		return -1;
	}
	bool ip = cert_ip_hostname(hostname);
	if (strcmp(mode, "ip") == 0 && !ip) {
		snprintf(err, errlen,
			 "tls.mode = ip needs server.hostname to be an IP address, "
			 "not \"%s\"",
			 hostname);
		return -1;
	}
	if (path_join(cs->cert_path, sizeof(cs->cert_path), cert_dir, hostname, ".crt") < 0 ||
	    path_join(cs->key_path, sizeof(cs->key_path), cert_dir, hostname, ".key") < 0) {
		snprintf(err, errlen, "tls.cert_dir: path too long");
		return -1;
	}
	/* derper's manual mode also makes its own certificate for an IP hostname. */
	if (ip && (strcmp(mode, "ip") == 0 || strcmp(mode, "manual") == 0) &&
	    make_ip_pair(cs, cert_dir, err, errlen) < 0)
		return -1;
	return 1;
}

static void describe(SSL_CTX *ctx, struct cert_info *info)
{
	memset(info, 0, sizeof(*info));
	X509 *leaf = SSL_CTX_get0_certificate(ctx);
	if (!leaf)
		return;
	X509_NAME_oneline(X509_get_subject_name(leaf), info->subject, sizeof(info->subject));
	const ASN1_TIME *na = X509_get0_notAfter(leaf);
	BIO *b = BIO_new(BIO_s_mem());
	if (b && ASN1_TIME_print(b, na) == 1) {
		int n = BIO_read(b, info->not_after, sizeof(info->not_after) - 1);
		info->not_after[n > 0 ? n : 0] = '\0';
	}
	BIO_free(b);
	info->expired = X509_cmp_current_time(na) < 0;
	struct tm tm;
	if (ASN1_TIME_to_tm(na, &tm) == 1)
		info->not_after_unix = (int64_t)timegm(&tm);
	if (cert_pin(leaf, info->pin) < 0)
		info->pin[0] = '\0';
}

/*
 * Only until the ACME client's first certificate: a day is plenty, and a
 * client that trusts nothing self-signed refuses it either way.
 */
#define PLACEHOLDER_VALIDITY_SECONDS (24L * 3600)

static SSL_CTX *load_placeholder(struct cert_source *cs, struct cert_info *info, char *err,
				 size_t errlen)
{
	EVP_PKEY *key;
	X509 *cert;
	char why[256];
	if (cert_self_signed(cs->hostname, PLACEHOLDER_VALIDITY_SECONDS, &key, &cert) < 0) {
		snprintf(err, errlen, "tls.mode = acme: cannot make the placeholder certificate: %s",
			 tls_last_error(why, sizeof(why)));
		return NULL;
	}
	SSL_CTX *ctx = tls_server_ctx_create_mem(cert, key, cs->server_pub, err, errlen);
	X509_free(cert);
	EVP_PKEY_free(key);
	if (ctx) {
		describe(ctx, info);
		info->placeholder = true;
	}
	return ctx;
}

SSL_CTX *cert_source_load(struct cert_source *cs, struct cert_info *info, char *err, size_t errlen)
{
	/* Before reading: a change during the read is then seen as one more change. */
	cs->cert_id = file_id(cs->cert_path);
	cs->key_id = file_id(cs->key_path);
	/* Files removed later do not bring the placeholder back over a real certificate. */
	if (strcmp(cs->mode, "acme") == 0 && !cs->cert_id.exists && !cs->key_id.exists &&
	    !cs->loaded_files)
		return load_placeholder(cs, info, err, errlen);
	SSL_CTX *ctx =
	    tls_server_ctx_create(cs->cert_path, cs->key_path, cs->server_pub, err, errlen);
	if (ctx) {
		describe(ctx, info);
		cs->loaded_files = true;
	}
	return ctx;
}

bool cert_source_changed(struct cert_source *cs)
{
	struct cert_file_id c = file_id(cs->cert_path);
	struct cert_file_id k = file_id(cs->key_path);
	if (same_id(&c, &cs->cert_id) && same_id(&k, &cs->key_id))
		return false;
	bool settled = same_id(&c, &cs->seen_cert) && same_id(&k, &cs->seen_key);
	cs->seen_cert = c;
	cs->seen_key = k;
	return settled;
}
