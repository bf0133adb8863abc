/* SPDX-License-Identifier: MIT */
/*
 * Where the relay's certificate comes from (tls.mode) and noticing when it
 * changes. Every mode ends in a pair of PEM files: file names them directly
 * (tls.cert, tls.key); manual, acme and ip find them in tls.cert_dir as
 * <server.hostname>.crt and .key, derper's names for -certmode manual; ip
 * also makes the pair on first start (cert_ip.h).
 *
 * The slow path owns the source after start: it checks the files' identity
 * (device, inode, size, mtime) once a second, which costs two stat calls,
 * and builds a new SSL_CTX when they change or on SIGHUP. Connections hold
 * a reference to the context they were accepted with, so swapping it never
 * touches them.
 */
#ifndef HD_CERT_SOURCE_H
#define HD_CERT_SOURCE_H

#include <limits.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "cert_ip.h"
#include "key.h"

struct cert_file_id {
	bool exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct cert_source {
	char mode[8];
	char hostname[256];
	char cert_path[PATH_MAX];
	char key_path[PATH_MAX];
	uint8_t server_pub[KEY_LEN];
	struct cert_file_id cert_id, key_id; /* as last loaded (or last seen failing) */
	struct cert_file_id seen_cert, seen_key; /* at the previous look, while changing */
	bool loaded_files; /* a real pair was loaded once: no placeholder after that */
};

/* What a load found, for the log. */
struct cert_info {
	char subject[256];
	char not_after[64];
	int64_t not_after_unix; /* the same in Unix seconds; 0 if unknown */
	bool expired;
	char pin[CERT_PIN_LEN]; /* the DERP map CertName that pins this certificate */
	bool placeholder;	/* acme mode before the first certificate: made in memory */
};

/*
 * Resolves the files of mode (file, manual, acme or ip) and, in ip mode (or
 * manual with an IP hostname, as derper), makes them when neither exists.
 * Returns 1 with cs set up, 0 when TLS is off (mode file with no cert and
 * no key), or -1 with the reason (naming the keys involved) in err.
 */
int cert_source_init(struct cert_source *cs, const char *mode, const char *cert_file,
		     const char *key_file, const char *cert_dir, const char *hostname,
		     const uint8_t server_pub[KEY_LEN], char *err, size_t errlen);

/*
 * Reads the pair into a new server context (tls_server_ctx_create) and
 * remembers the files' identity. In acme mode with neither file there yet,
 * the context gets a self-signed placeholder made in memory, so the relay
 * (and its port 80, which the ACME client needs) can run until the first
 * certificate arrives; the files appearing count as a change. Returns NULL with the reason in err; the
 * identity is remembered either way, so a bad pair is tried again only
 * after it changes once more.
 */
SSL_CTX *cert_source_load(struct cert_source *cs, struct cert_info *info, char *err, size_t errlen);

/*
 * Whether the pair differs from what was last loaded and has settled: it
 * looked the same at the previous call. A tool that writes the key and then
 * the certificate (or copies a file in pieces) is thus read once, complete,
 * a look later, instead of as a mismatched pair refused in between.
 */
bool cert_source_changed(struct cert_source *cs);

#endif
