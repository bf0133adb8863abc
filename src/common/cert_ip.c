// SPDX-License-Identifier: MIT
#include "cert_ip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tls.h"

/*
 * Clients check the pin, not the dates, but other tools (curl, probes)
 * still look at them: long enough never to need renewing.
 */
#define CERT_IP_VALIDITY_SECONDS (10L * 365 * 24 * 3600)

static X509 *make_cert(const char *host, long validity_s, EVP_PKEY *pkey)
{
	X509 *x = X509_new();
	char san[80];
	if (!x)
		return NULL;
	snprintf(san, sizeof(san), "%s:%s", cert_ip_hostname(host) ? "IP" : "DNS", host);
	X509_NAME *name = X509_get_subject_name(x);
	uint8_t serial[16];
	BIGNUM *bn = NULL;
	ASN1_INTEGER *sn = NULL;
	/* A random positive serial, as CAs must use and browsers expect. */
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	sn = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	if (!sn || !X509_set_version(x, 2) || !X509_set_serialNumber(x, sn) ||
	    !X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_ASC,
					(const unsigned char *)host, -1, -1, 0) ||
	    !X509_set_issuer_name(x, name) || !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), validity_s) ||
	    !X509_set_pubkey(x, pkey))
		goto fail;
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	const struct {
		int nid;
		const char *value;
	} exts[] = {
		{ NID_subject_alt_name, san },
		{ NID_basic_constraints, "critical,CA:FALSE" },
		{ NID_key_usage, "critical,digitalSignature" },
		{ NID_ext_key_usage, "serverAuth" },
	};
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, exts[i].nid, exts[i].value);
		int ok = ext && X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
		if (!ok)
			goto fail;
	}
	if (!X509_sign(x, pkey, EVP_sha256()))
		goto fail;
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	return x;
fail:
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	X509_free(x);
	return NULL;
}

/* Writes the PEM of key (private) or cert to path, created new with mode. */
static int write_pem(const char *path, mode_t mode, EVP_PKEY *key, X509 *cert, char *err,
		     size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	FILE *f = fdopen(fd, "w");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	int ok =
	    key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, cert);
	if (fclose(f) != 0 || !ok) {
		snprintf(err, errlen, "%s: cannot write the PEM file", path);
		unlink(path);
		return -1;
	}
	return 0;
}

int cert_self_signed(const char *host, long validity_s, EVP_PKEY **key, X509 **cert)
{
	*key = EVP_EC_gen("P-256");
	*cert = *key ? make_cert(host, validity_s, *key) : NULL;
	if (*cert)
		return 0;
	EVP_PKEY_free(*key);
	*key = NULL;
	return -1;
}

bool cert_ip_hostname(const char *s)
{
	struct in6_addr addr;
	return inet_pton(AF_INET, s, &addr) == 1 || inet_pton(AF_INET6, s, &addr) == 1;
}

int cert_ip_write(const char *ip, const char *cert_path, const char *key_path, char *err,
		  size_t errlen)
{
	if (!cert_ip_hostname(ip)) {
		snprintf(err, errlen, "\"%s\" is not an IP address", ip);
		return -1;
	}
	char why[256];
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	X509 *x = pkey ? make_cert(ip, CERT_IP_VALIDITY_SECONDS, pkey) : NULL;
	if (!x) {
		snprintf(err, errlen, "cannot make a certificate for %s: %s", ip,
			 tls_last_error(why, sizeof(why)));
		EVP_PKEY_free(pkey);
		return -1;
	}
	/* The key first: a certificate without its key would be refused anyway. */
	int rc = write_pem(key_path, 0600, pkey, NULL, err, errlen);
	if (rc == 0) {
		rc = write_pem(cert_path, 0644, NULL, x, err, errlen);
		if (rc < 0)
			unlink(key_path);
	}
	X509_free(x);
	EVP_PKEY_free(pkey);
	return rc;
}

int cert_pin(X509 *cert, char out[CERT_PIN_LEN])
{
	unsigned char *der = NULL;
	unsigned char md[32];
	unsigned int mdlen = 0;
	int len = i2d_X509(cert, &der);
	if (len <= 0)
		return -1;
	int ok = EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL);
	OPENSSL_free(der);
	if (!ok || mdlen != sizeof(md))
		return -1;
	memcpy(out, "sha256-raw:", 11);
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(out + 11 + 2 * i, 3, "%02x", md[i]);
	return 0;
}
