// SPDX-License-Identifier: MIT
/*
 * kTLS hand-over. The header explains the approach; the RFC sections named
 * below are the ones the derivations follow.
 */
#include "ktls.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

#define RECORD_HDR_LEN	   5
#define EXPLICIT_NONCE_LEN 8  /* TLS 1.2 AES-GCM, RFC 5288 */
#define AEAD_IV_LEN	   12 /* TLS 1.3 and ChaCha20-Poly1305 */
#define GCM_SALT_LEN	   4  /* the implicit part of a TLS 1.2 GCM nonce */
#define SECRET_MAX	   48 /* a SHA-384 traffic secret */
#define RANDOM_LEN	   32 /* client_random, server_random */

/* Directions, indexed as the message callback's write_p. */
enum { DIR_RX = 0, DIR_TX = 1 };

/* What the record layer has shown us of one direction. */
struct direction {
	/* Records under the current keys: the sequence number of the next one. */
	uint64_t seq;
	/* This side's Finished went by: its keys are the application keys. */
	bool finished;
	/* TLS 1.3: the application traffic secret, from the key log. */
	uint8_t secret[SECRET_MAX];
	size_t secret_len;
};

/*
 * The ciphertext we write, parsed record by record, to catch the explicit
 * nonce of the first record after our ChangeCipherSpec (TLS 1.2).
 */
struct write_scan {
	uint8_t hdr[RECORD_HDR_LEN];
	size_t hdr_got;
	size_t body_left;
	bool next_is_first; /* a ChangeCipherSpec went out: new keys from the next record */
	bool in_first;	    /* reading the first record's explicit nonce */
	size_t nonce_got;
	uint8_t first_nonce[EXPLICIT_NONCE_LEN];
	bool have_first_nonce;
};

struct ktls_track {
	struct direction dir[2];
	/* Header plus body of every record OpenSSL started to read. */
	uint64_t rx_record_bytes;
	/* A record other than application data after the handshake. */
	bool stale;
	struct write_scan scan;
};

static int track_index = -1;
static pthread_once_t track_index_once = PTHREAD_ONCE_INIT;

static void track_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	/* Runs for every SSL_free, tracked or not; the secrets are wiped. */
	OPENSSL_clear_free(ptr, sizeof(struct ktls_track));
}

static void track_index_init(void)
{
	track_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, track_free);
}

static struct ktls_track *track_of(const SSL *ssl)
{
	return track_index < 0 ? NULL : SSL_get_ex_data(ssl, track_index);
}

/* ---- watching the session ---- */

static size_t hex_decode(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;
	for (;;) {
		int hi = OPENSSL_hexchar2int((unsigned char)hex[2 * n]);
		if (hi < 0)
			break;
		int lo = OPENSSL_hexchar2int((unsigned char)hex[2 * n + 1]);
		if (lo < 0 || n == cap)
			return 0;
		out[n++] = (uint8_t)(hi << 4 | lo);
	}
	return hex[2 * n] == '\0' ? n : 0;
}

/*
 * TLS 1.3 lines are "LABEL <client random> <secret>", all hex. The
 * application traffic secrets are the only ones we keep; OpenSSL logs them
 * once, and later generations (KeyUpdate) never, which the message
 * callback catches instead.
 */
static void on_keylog(const SSL *ssl, const char *line)
{
	static const char server_label[] = "SERVER_TRAFFIC_SECRET_0 ";
	static const char client_label[] = "CLIENT_TRAFFIC_SECRET_0 ";
	struct ktls_track *t = track_of(ssl);
	struct direction *d;
	if (!t)
		return;
	if (strncmp(line, server_label, sizeof(server_label) - 1) == 0)
		d = &t->dir[DIR_TX];
	else if (strncmp(line, client_label, sizeof(client_label) - 1) == 0)
		d = &t->dir[DIR_RX];
	else
		return;
	const char *secret = strchr(line + sizeof(server_label) - 1, ' ');
	if (!secret)
		return;
	d->secret_len = hex_decode(secret + 1, d->secret, sizeof(d->secret));
}

/*
 * Sequence numbers restart at zero when a direction changes keys: in
 * TLS 1.2 after its ChangeCipherSpec record, in TLS 1.3 after its Finished
 * message (RFC 8446 5.3). OpenSSL reports a record's header before the
 * messages in it, and a message after the record carrying it, which is what
 * makes counting here line up with OpenSSL's own counters.
 */
static void on_message(int write_p, int version, int content_type, const void *buf, size_t len,
		       SSL *ssl, void *arg)
{
	struct ktls_track *t = arg;
	const uint8_t *b = buf;
	(void)version;
	if (!t || len < 1)
		return;
	struct direction *d = &t->dir[write_p ? DIR_TX : DIR_RX];
	switch (content_type) {
	case SSL3_RT_HEADER:
		if (len < RECORD_HDR_LEN)
			return;
		if (!write_p)
			t->rx_record_bytes += RECORD_HDR_LEN + ((size_t)b[3] << 8 | b[4]);
		if (d->finished && b[0] != SSL3_RT_APPLICATION_DATA)
			t->stale = true;
		if (b[0] == SSL3_RT_CHANGE_CIPHER_SPEC)
			d->seq = 0;
		else
			d->seq++;
		return;
	case SSL3_RT_INNER_CONTENT_TYPE: /* TLS 1.3: the real type of a protected record */
		if (d->finished && b[0] != SSL3_RT_APPLICATION_DATA)
			t->stale = true;
		return;
	case SSL3_RT_HANDSHAKE:
		if (b[0] != SSL3_MT_FINISHED)
			return;
		if (d->finished)
			t->stale = true; /* a second handshake: renegotiation */
		d->finished = true;
		if (SSL_version(ssl) == TLS1_3_VERSION)
			d->seq = 0;
		return;
	default:
		return;
	}
}

static void scan_written(struct write_scan *s, const uint8_t *p, size_t n)
{
	while (n > 0) {
		if (s->hdr_got < RECORD_HDR_LEN) {
			size_t take = RECORD_HDR_LEN - s->hdr_got;
			if (take > n)
				take = n;
			memcpy(s->hdr + s->hdr_got, p, take);
			s->hdr_got += take;
			p += take;
			n -= take;
			if (s->hdr_got < RECORD_HDR_LEN)
				return;
			s->body_left = (size_t)s->hdr[3] << 8 | s->hdr[4];
			s->in_first = false;
			if (s->hdr[0] == SSL3_RT_CHANGE_CIPHER_SPEC) {
				s->next_is_first = true;
			} else if (s->next_is_first) {
				s->next_is_first = false;
				s->in_first = true;
				s->nonce_got = 0;
				s->have_first_nonce = false;
			}
		}
		size_t take = s->body_left < n ? s->body_left : n;
		if (s->in_first) {
			size_t k = EXPLICIT_NONCE_LEN - s->nonce_got;
			if (k > take)
				k = take;
			memcpy(s->first_nonce + s->nonce_got, p, k);
			s->nonce_got += k;
			if (s->nonce_got == EXPLICIT_NONCE_LEN) {
				s->have_first_nonce = true;
				s->in_first = false;
			}
		}
		p += take;
		n -= take;
		s->body_left -= take;
		if (s->body_left == 0) {
			s->hdr_got = 0;
			s->in_first = false;
		}
	}
}

/* Sees what OpenSSL wrote to the write BIO, after the write. */
static long on_write_bio(BIO *b, int oper, const char *argp, size_t len, int argi, long argl,
			 int ret, size_t *processed)
{
	(void)len;
	(void)argi;
	(void)argl;
	if (oper == (BIO_CB_WRITE | BIO_CB_RETURN) && ret > 0 && processed) {
		struct ktls_track *t = (struct ktls_track *)BIO_get_callback_arg(b);
		if (t)
			scan_written(&t->scan, (const uint8_t *)argp, *processed);
	}
	return ret;
}

int ktls_ctx_enable(SSL_CTX *ctx)
{
	pthread_once(&track_index_once, track_index_init);
	if (track_index < 0)
		return -1;
	SSL_CTX_set_keylog_callback(ctx, on_keylog);
	return 0;
}

bool ktls_ctx_enabled(const SSL_CTX *ctx)
{
	return SSL_CTX_get_keylog_callback(ctx) == on_keylog;
}

int ktls_track(SSL *ssl)
{
	pthread_once(&track_index_once, track_index_init);
	BIO *wbio = SSL_get_wbio(ssl);
	if (track_index < 0 || !wbio)
		return -1;
	struct ktls_track *t = OPENSSL_zalloc(sizeof(*t));
	if (!t)
		return -1;
	if (!SSL_set_ex_data(ssl, track_index, t)) {
		OPENSSL_free(t);
		return -1;
	}
	SSL_set_msg_callback(ssl, on_message);
	SSL_set_msg_callback_arg(ssl, t);
	BIO_set_callback_arg(wbio, (char *)t);
	BIO_set_callback_ex(wbio, on_write_bio);
	return 0;
}

void ktls_untrack(SSL *ssl)
{
	struct ktls_track *t = track_of(ssl);
	if (!t)
		return;
	SSL_set_msg_callback(ssl, NULL);
	SSL_set_msg_callback_arg(ssl, NULL);
	BIO *wbio = SSL_get_wbio(ssl);
	if (wbio) {
		BIO_set_callback_ex(wbio, NULL);
		BIO_set_callback_arg(wbio, NULL);
	}
	SSL_set_ex_data(ssl, track_index, NULL);
	OPENSSL_clear_free(t, sizeof(*t));
}

/* ---- deriving the kernel's state ---- */

/* An AEAD suite the kernel implements, as OpenSSL names its cipher. */
struct suite {
	int nid;
	unsigned short cipher_type; /* TLS_CIPHER_* */
	size_t key_len;
	size_t tls12_iv_len; /* the key block's write IV: GCM salt or the whole ChaCha IV */
	const char *name;
};

static const struct suite suites[] = {
	{ NID_aes_128_gcm, TLS_CIPHER_AES_GCM_128, 16, GCM_SALT_LEN, "AES-128-GCM" },
	{ NID_aes_256_gcm, TLS_CIPHER_AES_GCM_256, 32, GCM_SALT_LEN, "AES-256-GCM" },
	{ NID_chacha20_poly1305, TLS_CIPHER_CHACHA20_POLY1305, 32, AEAD_IV_LEN,
	  "ChaCha20-Poly1305" },
};

static const struct suite *suite_of(const SSL *ssl)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	int nid = c ? SSL_CIPHER_get_cipher_nid(c) : NID_undef;
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
		if (suites[i].nid == nid)
			return &suites[i];
	}
	return NULL;
}

static void be64_put(uint8_t out[8], uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		out[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t be64_get(const uint8_t in[8])
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | in[i];
	return v;
}

/* One direction's keys as the suite needs them. */
struct traffic_keys {
	uint8_t key[32];
	uint8_t iv[AEAD_IV_LEN]; /* TLS 1.2 GCM: only the 4-byte salt */
};

/* HKDF-Expand-Label(secret, label, "", out_len), RFC 8446 7.1. */
static int hkdf_expand_label(const EVP_MD *md, const uint8_t *secret, size_t secret_len,
			     const char *label, uint8_t *out, size_t out_len)
{
	static const char prefix[] = "tls13 ";
	uint8_t info[2 + 1 + 255 + 1];
	size_t label_len = strlen(label);
	size_t full_len = sizeof(prefix) - 1 + label_len;
	if (full_len > 255)
		return -1;
	/* struct HkdfLabel { uint16 length; opaque label<7..255>; opaque context<0..255>; } */
	size_t n = 0;
	info[n++] = (uint8_t)(out_len >> 8);
	info[n++] = (uint8_t)out_len;
	info[n++] = (uint8_t)full_len;
	memcpy(info + n, prefix, sizeof(prefix) - 1);
	n += sizeof(prefix) - 1;
	memcpy(info + n, label, label_len);
	n += label_len;
	info[n++] = 0; /* empty context */

	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						 (char *)EVP_MD_get0_name(md), 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, secret_len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n),
		OSSL_PARAM_construct_end(),
	};
	int rc = kctx && EVP_KDF_derive(kctx, out, out_len, params) == 1 ? 0 : -1;
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return rc;
}

/* TLS 1.3: key and IV from a traffic secret, RFC 8446 7.3. */
static int tls13_keys(const EVP_MD *md, const struct suite *s, const struct direction *d,
		      struct traffic_keys *k)
{
	if (!d->secret_len || d->secret_len != (size_t)EVP_MD_get_size(md))
		return -1;
	if (hkdf_expand_label(md, d->secret, d->secret_len, "key", k->key, s->key_len) < 0 ||
	    hkdf_expand_label(md, d->secret, d->secret_len, "iv", k->iv, AEAD_IV_LEN) < 0)
		return -1;
	return 0;
}

/*
 * TLS 1.2: the key block, RFC 5246 6.3: PRF(master_secret, "key expansion",
 * server_random + client_random), cut into the client and server write
 * keys, then the client and server write IVs (AEAD suites have no MAC keys).
 */
static int tls12_keys(SSL *ssl, const EVP_MD *md, const struct suite *s,
		      struct traffic_keys *client, struct traffic_keys *server)
{
	static const char label[] = "key expansion";
	const size_t label_len = sizeof(label) - 1;
	uint8_t master[SSL_MAX_MASTER_KEY_LENGTH];
	uint8_t seed[sizeof(label) - 1 + 2 * RANDOM_LEN];
	uint8_t block[2 * 32 + 2 * AEAD_IV_LEN];
	size_t block_len = 2 * s->key_len + 2 * s->tls12_iv_len;
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_TLS1_PRF, NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	int rc = -1;

	size_t master_len =
	    SSL_SESSION_get_master_key(SSL_get_session(ssl), master, sizeof(master));
	memcpy(seed, label, label_len);
	bool have_seed =
	    SSL_get_server_random(ssl, seed + label_len, RANDOM_LEN) == RANDOM_LEN &&
	    SSL_get_client_random(ssl, seed + label_len + RANDOM_LEN, RANDOM_LEN) == RANDOM_LEN;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						 (char *)EVP_MD_get0_name(md), 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, master, master_len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed, sizeof(seed)),
		OSSL_PARAM_construct_end(),
	};
	if (kctx && master_len && have_seed &&
	    EVP_KDF_derive(kctx, block, block_len, params) == 1) {
		const uint8_t *p = block;
		memcpy(client->key, p, s->key_len);
		p += s->key_len;
		memcpy(server->key, p, s->key_len);
		p += s->key_len;
		memcpy(client->iv, p, s->tls12_iv_len);
		p += s->tls12_iv_len;
		memcpy(server->iv, p, s->tls12_iv_len);
		rc = 0;
	}
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	OPENSSL_cleanse(master, sizeof(master));
	OPENSSL_cleanse(block, sizeof(block));
	return rc;
}

/*
 * Fills one direction. The kernel builds nonces as OpenSSL does: TLS 1.3
 * and ChaCha20-Poly1305 XOR the sequence number into the 12-byte IV, which
 * the GCM structures split into salt (4) and iv (8). TLS 1.2 GCM sends an
 * explicit nonce in each record: the kernel puts iv there and increments it
 * per record, so iv is the nonce of the next record we send (for receiving
 * it reads the record's own and iv is unused).
 */
static void fill_crypto(struct ktls_crypto *c, const struct suite *s, unsigned short version,
			const struct traffic_keys *k, const uint8_t next_nonce[EXPLICIT_NONCE_LEN],
			uint64_t seq)
{
	memset(c, 0, sizeof(*c));
	c->info.version = version;
	c->info.cipher_type = s->cipher_type;
	uint8_t *key, *salt = NULL, *iv, *rec_seq;
	switch (s->cipher_type) {
	case TLS_CIPHER_AES_GCM_128:
		key = c->aes_gcm_128.key;
		salt = c->aes_gcm_128.salt;
		iv = c->aes_gcm_128.iv;
		rec_seq = c->aes_gcm_128.rec_seq;
		c->len = sizeof(c->aes_gcm_128);
		break;
	case TLS_CIPHER_AES_GCM_256:
		key = c->aes_gcm_256.key;
		salt = c->aes_gcm_256.salt;
		iv = c->aes_gcm_256.iv;
		rec_seq = c->aes_gcm_256.rec_seq;
		c->len = sizeof(c->aes_gcm_256);
		break;
	default:
		key = c->chacha20_poly1305.key;
		iv = c->chacha20_poly1305.iv;
		rec_seq = c->chacha20_poly1305.rec_seq;
		c->len = sizeof(c->chacha20_poly1305);
		break;
	}
	memcpy(key, k->key, s->key_len);
	be64_put(rec_seq, seq);
	if (!salt) {
		memcpy(iv, k->iv, AEAD_IV_LEN);
		return;
	}
	memcpy(salt, k->iv, GCM_SALT_LEN);
	if (version == TLS_1_3_VERSION)
		memcpy(iv, k->iv + GCM_SALT_LEN, AEAD_IV_LEN - GCM_SALT_LEN);
	else
		memcpy(iv, next_nonce, EXPLICIT_NONCE_LEN);
}

/* NULL when the kernel can take over exactly where OpenSSL stands. */
static const char *not_ready(SSL *ssl, const struct ktls_track *t)
{
	BIO *rbio = SSL_get_rbio(ssl), *wbio = SSL_get_wbio(ssl);
	if (!t)
		return "session not tracked";
	if (!SSL_is_init_finished(ssl) || !t->dir[DIR_TX].finished || !t->dir[DIR_RX].finished)
		return "handshake not finished";
	if (t->stale)
		return "a record other than application data after the handshake";
	if (!rbio || !wbio || BIO_ctrl_pending(wbio))
		return "ciphertext not yet taken out";
	/*
	 * Bytes OpenSSL pulled that do not add up to whole records sit inside
	 * OpenSSL; bytes still in the read BIO were taken off the socket. The
	 * kernel can have neither.
	 */
	if (BIO_ctrl_pending(rbio) || BIO_number_read(rbio) != t->rx_record_bytes)
		return "received ciphertext buffered in userspace";
	if (SSL_has_pending(ssl))
		return "decrypted data not yet read";
	return NULL;
}

int ktls_crypto_get(SSL *ssl, struct ktls_crypto *tx, struct ktls_crypto *rx, const char **why)
{
	const struct ktls_track *t = track_of(ssl);
	struct traffic_keys client = { 0 }, server = { 0 };
	uint8_t next_nonce[EXPLICIT_NONCE_LEN] = { 0 };
	int rc = -1;

	memset(tx, 0, sizeof(*tx));
	memset(rx, 0, sizeof(*rx));
	*why = not_ready(ssl, t);
	if (*why)
		return -1;
	const struct suite *s = suite_of(ssl);
	const SSL_CIPHER *cipher = SSL_get_current_cipher(ssl);
	const EVP_MD *md = cipher ? SSL_CIPHER_get_handshake_digest(cipher) : NULL;
	if (!s || !md) {
		*why = "cipher suite not supported by kTLS";
		return -1;
	}
	unsigned short version;
	switch (SSL_version(ssl)) {
	case TLS1_3_VERSION:
		version = TLS_1_3_VERSION;
		if (tls13_keys(md, s, &t->dir[DIR_RX], &client) < 0 ||
		    tls13_keys(md, s, &t->dir[DIR_TX], &server) < 0) {
			*why = "TLS 1.3 traffic secrets unavailable";
			goto out;
		}
		break;
	case TLS1_2_VERSION:
		version = TLS_1_2_VERSION;
		if (tls12_keys(ssl, md, s, &client, &server) < 0) {
			*why = "TLS 1.2 key block derivation failed";
			goto out;
		}
		if (s->tls12_iv_len == GCM_SALT_LEN) {
			/* Our records so far used first, first + 1, ...: carry on from there. */
			if (!t->scan.have_first_nonce) {
				*why = "explicit nonce of the first record not seen";
				goto out;
			}
			be64_put(next_nonce, be64_get(t->scan.first_nonce) + t->dir[DIR_TX].seq);
		}
		break;
	default:
		*why = "protocol version not supported by kTLS";
		goto out;
	}
	fill_crypto(tx, s, version, &server, next_nonce, t->dir[DIR_TX].seq);
	fill_crypto(rx, s, version, &client, next_nonce, t->dir[DIR_RX].seq);
	rc = 0;
out:
	OPENSSL_cleanse(&client, sizeof(client));
	OPENSSL_cleanse(&server, sizeof(server));
	return rc;
}

void ktls_crypto_wipe(struct ktls_crypto *c)
{
	OPENSSL_cleanse(c, sizeof(*c));
}

enum ktls_attach_result ktls_socket_attach(int fd, const struct ktls_crypto *tx,
					   const struct ktls_crypto *rx, int *err)
{
	*err = 0;
	if (setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", 3) < 0 ||
	    setsockopt(fd, SOL_TLS, TLS_RX, &rx->info, rx->len) < 0) {
		*err = errno;
		return KTLS_REFUSED;
	}
	if (setsockopt(fd, SOL_TLS, TLS_TX, &tx->info, tx->len) < 0) {
		*err = errno;
		return KTLS_BROKEN;
	}
	return KTLS_ATTACHED;
}

const char *ktls_crypto_name(const struct ktls_crypto *c)
{
	bool v13 = c->info.version == TLS_1_3_VERSION;
	switch (c->info.cipher_type) {
	case TLS_CIPHER_AES_GCM_128:
		return v13 ? "TLS 1.3 AES-128-GCM" : "TLS 1.2 AES-128-GCM";
	case TLS_CIPHER_AES_GCM_256:
		return v13 ? "TLS 1.3 AES-256-GCM" : "TLS 1.2 AES-256-GCM";
	case TLS_CIPHER_CHACHA20_POLY1305:
		return v13 ? "TLS 1.3 ChaCha20-Poly1305" : "TLS 1.2 ChaCha20-Poly1305";
	default:
		return "unknown";
	}
}
