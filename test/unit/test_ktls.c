// SPDX-License-Identifier: MIT
/*
 * Unit tests for ktls.c, runnable without kTLS in the kernel: a real
 * handshake between our server session (tls.c, memory BIOs, the daemon's
 * own context) and an OpenSSL client, then the crypto state ktls_crypto_get
 * extracts is checked against the records OpenSSL itself writes. Each
 * record is rebuilt here with EVP the way the kernel builds it (nonce, AAD,
 * record layout) from nothing but the struct the kernel would get: equal
 * bytes mean the kernel would carry on the session correctly. The same for
 * receiving: the client's next records must open with the receive state.
 *
 * Where the kernel has kTLS, one more test moves a real loopback connection
 * into the kernel and talks to an OpenSSL client through it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ktls.h"
#include "tls.h"
#include "tls_selfsigned.h"

#define TAG_LEN	   16
#define HDR_LEN	   5
#define BUF_SIZE   (64 * 1024)
#define MAX_ROUNDS 20

static SSL_CTX *server_ctx;
static char tmp_dir[] = "/tmp/test_ktls.XXXXXX";
static char cert_path[300], key_path[300];

struct suite_case {
	const char *name;
	int max_version;
	const char *ciphers; /* TLS 1.3 suite name, or TLS 1.2 cipher list */
	unsigned short version;
	unsigned short cipher_type;
};

static const struct suite_case cases[] = {
	{ "TLS 1.3 AES-128-GCM", TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", TLS_1_3_VERSION,
	  TLS_CIPHER_AES_GCM_128 },
	{ "TLS 1.3 AES-256-GCM", TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384", TLS_1_3_VERSION,
	  TLS_CIPHER_AES_GCM_256 },
	{ "TLS 1.3 ChaCha20-Poly1305", TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256",
	  TLS_1_3_VERSION, TLS_CIPHER_CHACHA20_POLY1305 },
	{ "TLS 1.2 AES-128-GCM", TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256", TLS_1_2_VERSION,
	  TLS_CIPHER_AES_GCM_128 },
	{ "TLS 1.2 AES-256-GCM", TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384", TLS_1_2_VERSION,
	  TLS_CIPHER_AES_GCM_256 },
	{ "TLS 1.2 ChaCha20-Poly1305", TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305",
	  TLS_1_2_VERSION, TLS_CIPHER_CHACHA20_POLY1305 },
};

/* ---- the two ends, joined by memory BIOs ---- */

struct pair {
	SSL_CTX *client_ctx;
	SSL *client;
	SSL *server; /* as the slow path makes it: tls_session_new + ktls_track */
};

static void pair_open(struct pair *p, int max_version, const char *ciphers)
{
	p->client_ctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(p->client_ctx);
	SSL_CTX_set_max_proto_version(p->client_ctx, max_version);
	if (max_version == TLS1_3_VERSION) {
		SSL_CTX_set_min_proto_version(p->client_ctx, TLS1_3_VERSION);
		assert_int_equal(SSL_CTX_set_ciphersuites(p->client_ctx, ciphers), 1);
	} else {
		assert_int_equal(SSL_CTX_set_cipher_list(p->client_ctx, ciphers), 1);
	}
	p->client = SSL_new(p->client_ctx);
	assert_non_null(p->client);
	BIO *rbio = BIO_new(BIO_s_mem()), *wbio = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(rbio, -1);
	SSL_set_bio(p->client, rbio, wbio);
	SSL_set_connect_state(p->client);

	p->server = tls_session_new(server_ctx);
	assert_non_null(p->server);
	assert_int_equal(ktls_track(p->server), 0);
}

static void pair_close(struct pair *p)
{
	SSL_free(p->client);
	SSL_free(p->server);
	SSL_CTX_free(p->client_ctx);
}

/* Client ciphertext, all of it, into the server (as the slow path feeds it). */
static void to_server(struct pair *p)
{
	uint8_t buf[BUF_SIZE];
	int n;
	while ((n = BIO_read(SSL_get_wbio(p->client), buf, sizeof(buf))) > 0)
		assert_int_equal(tls_feed(p->server, buf, (size_t)n), 0);
}

static void to_client(struct pair *p)
{
	uint8_t buf[BUF_SIZE];
	size_t n;
	while ((n = tls_take_out(p->server, buf, sizeof(buf))) > 0)
		assert_int_equal(BIO_write(SSL_get_rbio(p->client), buf, (int)n), (int)n);
}

static void handshake(struct pair *p)
{
	for (int i = 0; i < MAX_ROUNDS; i++) {
		if (SSL_is_init_finished(p->client) && SSL_is_init_finished(p->server))
			return;
		SSL_do_handshake(p->client);
		to_server(p);
		assert_int_not_equal(tls_handshake(p->server), TLS_ERROR);
		to_client(p);
	}
	fail_msg("handshake did not finish");
}

/* Decrypts everything the server has, as tls_pull does. */
static size_t server_read(struct pair *p, uint8_t *buf, size_t cap)
{
	size_t total = 0, got;
	while (total < cap && tls_read(p->server, buf + total, cap - total, &got) == TLS_OK)
		total += got;
	return total;
}

static size_t client_read(struct pair *p, uint8_t *buf, size_t cap)
{
	size_t total = 0, got;
	while (total < cap && SSL_read_ex(p->client, buf + total, cap - total, &got) == 1)
		total += got;
	return total;
}

/*
 * What happens on the slow path before a handoff: the HTTP request in
 * several records, the 101 and ServerKey frame, so that both sequence
 * numbers have moved past the handshake by a known amount.
 */
static void exchange_request(struct pair *p, unsigned request_records, unsigned response_records)
{
	uint8_t buf[BUF_SIZE];
	size_t sent = 0;
	for (unsigned i = 0; i < request_records; i++) {
		char part[32];
		int n = snprintf(part, sizeof(part), "request part %u\r\n", i);
		assert_int_equal(SSL_write(p->client, part, n), n);
		sent += (size_t)n;
	}
	to_server(p);
	assert_int_equal(server_read(p, buf, sizeof(buf)), sent);
	sent = 0;
	for (unsigned i = 0; i < response_records; i++) {
		char part[32];
		int n = snprintf(part, sizeof(part), "response part %u\r\n", i);
		assert_int_equal(tls_write(p->server, (const uint8_t *)part, (size_t)n), 0);
		sent += (size_t)n;
	}
	to_client(p);
	assert_int_equal(client_read(p, buf, sizeof(buf)), sent);
}

/* ---- records as the kernel would build and check them ---- */

struct kernel_view {
	const uint8_t *key, *salt, *iv, *rec_seq;
	size_t key_len, iv_len; /* iv_len: 8 (GCM) or 12 (ChaCha20-Poly1305) */
	const EVP_CIPHER *cipher;
	bool tls13;
};

static void view_of(const struct ktls_crypto *c, struct kernel_view *v)
{
	memset(v, 0, sizeof(*v));
	v->tls13 = c->info.version == TLS_1_3_VERSION;
	switch (c->info.cipher_type) {
	case TLS_CIPHER_AES_GCM_128:
		assert_int_equal(c->len, sizeof(c->aes_gcm_128));
		v->key = c->aes_gcm_128.key;
		v->salt = c->aes_gcm_128.salt;
		v->iv = c->aes_gcm_128.iv;
		v->rec_seq = c->aes_gcm_128.rec_seq;
		v->key_len = 16;
		v->iv_len = 8;
		v->cipher = EVP_aes_128_gcm();
		break;
	case TLS_CIPHER_AES_GCM_256:
		assert_int_equal(c->len, sizeof(c->aes_gcm_256));
		v->key = c->aes_gcm_256.key;
		v->salt = c->aes_gcm_256.salt;
		v->iv = c->aes_gcm_256.iv;
		v->rec_seq = c->aes_gcm_256.rec_seq;
		v->key_len = 32;
		v->iv_len = 8;
		v->cipher = EVP_aes_256_gcm();
		break;
	case TLS_CIPHER_CHACHA20_POLY1305:
		assert_int_equal(c->len, sizeof(c->chacha20_poly1305));
		v->key = c->chacha20_poly1305.key;
		v->iv = c->chacha20_poly1305.iv;
		v->rec_seq = c->chacha20_poly1305.rec_seq;
		v->key_len = 32;
		v->iv_len = 12;
		v->cipher = EVP_chacha20_poly1305();
		break;
	default:
		fail_msg("unexpected cipher type %u", c->info.cipher_type);
	}
}

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static bool explicit_nonce(const struct kernel_view *v)
{
	return !v->tls13 && v->salt; /* TLS 1.2 GCM, RFC 5288 */
}

/*
 * The nonce of the record with sequence number seq: salt || explicit nonce
 * for TLS 1.2 GCM, else the 12-byte IV XOR the padded sequence number.
 */
static void nonce_for(const struct kernel_view *v, uint64_t seq, const uint8_t *explicit,
		      uint8_t nonce[12])
{
	if (explicit_nonce(v)) {
		memcpy(nonce, v->salt, 4);
		memcpy(nonce + 4, explicit, 8);
		return;
	}
	if (v->salt) {
		memcpy(nonce, v->salt, 4);
		memcpy(nonce + 4, v->iv, 8);
	} else {
		memcpy(nonce, v->iv, 12);
	}
	uint8_t s[8];
	put_be64(s, seq);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] ^= s[i];
}

/* TLS 1.2 AAD: seq_num, type, version, plaintext length (RFC 5246 6.2.3.3). */
static void tls12_aad(uint64_t seq, size_t plain_len, uint8_t aad[13])
{
	put_be64(aad, seq);
	aad[8] = 23;
	aad[9] = 3;
	aad[10] = 3;
	aad[11] = (uint8_t)(plain_len >> 8);
	aad[12] = (uint8_t)plain_len;
}

static int aead(const struct kernel_view *v, bool enc, const uint8_t nonce[12], const uint8_t *aad,
		size_t aad_len, const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[TAG_LEN])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int len = 0, ok;
	ok = ctx && EVP_CipherInit_ex(ctx, v->cipher, NULL, NULL, NULL, enc) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) == 1 &&
	     EVP_CipherInit_ex(ctx, NULL, NULL, v->key, nonce, enc) == 1 &&
	     (enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, tag) == 1) &&
	     EVP_CipherUpdate(ctx, NULL, &len, aad, (int)aad_len) == 1 &&
	     EVP_CipherUpdate(ctx, out, &len, in, (int)n) == 1 &&
	     EVP_CipherFinal_ex(ctx, out + len, &len) == 1 &&
	     (!enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, tag) == 1);
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}

/*
 * The application data record the kernel would send as the index-th
 * record from the state in c. Returns its length.
 */
static size_t kernel_seal(const struct ktls_crypto *c, uint64_t index, const uint8_t *plain,
			  size_t n, uint8_t *rec)
{
	struct kernel_view v;
	view_of(c, &v);
	uint64_t seq = be64(v.rec_seq) + index;
	uint8_t nonce[12], explicit[8], tag[TAG_LEN], aad[13];
	uint8_t inner[BUF_SIZE];
	size_t body = 0, inner_len = n;

	memcpy(inner, plain, n);
	if (v.tls13)
		inner[inner_len++] = 23; /* TLSInnerPlaintext's content type, no padding */
	if (explicit_nonce(&v)) {
		/* The kernel's iv is the next explicit nonce and grows by one per record. */
		put_be64(explicit, be64(v.iv) + index);
		memcpy(rec + HDR_LEN, explicit, 8);
		body = 8;
	}
	size_t rec_len = body + inner_len + TAG_LEN;
	rec[0] = 23;
	rec[1] = 3;
	rec[2] = 3;
	rec[3] = (uint8_t)(rec_len >> 8);
	rec[4] = (uint8_t)rec_len;
	nonce_for(&v, seq, explicit, nonce);
	if (v.tls13)
		memcpy(aad, rec, HDR_LEN); /* RFC 8446 5.2: the record header */
	else
		tls12_aad(seq, n, aad);
	assert_int_equal(aead(&v, true, nonce, aad, v.tls13 ? HDR_LEN : 13, inner, inner_len,
			      rec + HDR_LEN + body, tag),
			 0);
	memcpy(rec + HDR_LEN + body + inner_len, tag, TAG_LEN);
	return HDR_LEN + rec_len;
}

/* Opens the index-th record received with the state in c; returns the plaintext length. */
static size_t kernel_open(const struct ktls_crypto *c, uint64_t index, const uint8_t *rec,
			  size_t rec_total, uint8_t *plain)
{
	struct kernel_view v;
	view_of(c, &v);
	uint64_t seq = be64(v.rec_seq) + index;
	uint8_t nonce[12], tag[TAG_LEN], aad[13];
	size_t body = explicit_nonce(&v) ? 8 : 0;

	assert_true(rec_total >= HDR_LEN + body + TAG_LEN);
	assert_int_equal(rec[0], 23);
	size_t rec_len = (size_t)rec[3] << 8 | rec[4];
	assert_int_equal(rec_total, HDR_LEN + rec_len);
	size_t n = rec_len - body - TAG_LEN;
	nonce_for(&v, seq, rec + HDR_LEN, nonce);
	if (v.tls13)
		memcpy(aad, rec, HDR_LEN);
	else
		tls12_aad(seq, n, aad);
	memcpy(tag, rec + HDR_LEN + body + n, TAG_LEN);
	assert_int_equal(aead(&v, false, nonce, aad, v.tls13 ? HDR_LEN : 13, rec + HDR_LEN + body,
			      n, plain, tag),
			 0);
	if (v.tls13) {
		while (n > 0 && plain[n - 1] == 0)
			n--; /* padding */
		assert_true(n > 0);
		assert_int_equal(plain[--n], 23);
	}
	return n;
}

static void fill_pattern(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

/* ---- the tests ---- */

static void test_extracted_state_matches_openssl(void **state)
{
	const struct suite_case *sc = *state;
	struct pair p;
	struct ktls_crypto tx, rx;
	const char *why = NULL;
	uint8_t plain[BUF_SIZE], rec[BUF_SIZE], want[BUF_SIZE];

	pair_open(&p, sc->max_version, sc->ciphers);
	handshake(&p);
	exchange_request(&p, 3, 2);
	if (ktls_crypto_get(p.server, &tx, &rx, &why) != 0)
		fail_msg("%s: %s", sc->name, why);
	assert_string_equal(ktls_crypto_name(&tx), sc->name);
	assert_int_equal(tx.info.version, sc->version);
	assert_int_equal(rx.info.cipher_type, sc->cipher_type);

	/* Records since the keys changed: TLS 1.2 also counts its Finished. */
	struct kernel_view vt, vr;
	view_of(&tx, &vt);
	view_of(&rx, &vr);
	uint64_t extra = sc->version == TLS_1_2_VERSION ? 1 : 0;
	assert_int_equal(be64(vt.rec_seq), 2 + extra);
	assert_int_equal(be64(vr.rec_seq), 3 + extra);

	/* Sending: OpenSSL's next records, byte for byte. */
	static const size_t sizes[] = { 100, 1000, 16384 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		fill_pattern(plain, sizes[i], (uint8_t)i);
		assert_int_equal(tls_write(p.server, plain, sizes[i]), 0);
		size_t got = tls_take_out(p.server, rec, sizeof(rec));
		size_t expect = kernel_seal(&tx, i, plain, sizes[i], want);
		assert_int_equal(got, expect);
		assert_memory_equal(rec, want, expect);
	}

	/* Receiving: the client's next records open and check out. */
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		fill_pattern(want, sizes[i], (uint8_t)(0x40 + i));
		assert_int_equal(SSL_write(p.client, want, (int)sizes[i]), (int)sizes[i]);
		int n = BIO_read(SSL_get_wbio(p.client), rec, sizeof(rec));
		assert_true(n > 0);
		assert_int_equal(kernel_open(&rx, i, rec, (size_t)n, plain), sizes[i]);
		assert_memory_equal(plain, want, sizes[i]);
	}
	ktls_crypto_wipe(&tx);
	ktls_crypto_wipe(&rx);
	pair_close(&p);
}

/* The kernel also checks what the client sends first: right after the handshake. */
static void test_state_right_after_handshake(void **state)
{
	const struct suite_case *sc = *state;
	struct pair p;
	struct ktls_crypto tx, rx;
	const char *why = NULL;
	uint8_t plain[256], rec[1024], want[1024];

	pair_open(&p, sc->max_version, sc->ciphers);
	handshake(&p);
	if (ktls_crypto_get(p.server, &tx, &rx, &why) != 0)
		fail_msg("%s: %s", sc->name, why);
	fill_pattern(plain, sizeof(plain), 9);
	assert_int_equal(tls_write(p.server, plain, sizeof(plain)), 0);
	size_t got = tls_take_out(p.server, rec, sizeof(rec));
	size_t expect = kernel_seal(&tx, 0, plain, sizeof(plain), want);
	assert_int_equal(got, expect);
	assert_memory_equal(rec, want, expect);
	assert_int_equal(SSL_write(p.client, plain, 5), 5);
	int n = BIO_read(SSL_get_wbio(p.client), rec, sizeof(rec));
	assert_int_equal(kernel_open(&rx, 0, rec, (size_t)n, want), 5);
	assert_memory_equal(want, plain, 5);
	pair_close(&p);
}

static void expect_refusal(SSL *server, const char *reason)
{
	struct ktls_crypto tx, rx;
	const char *why = NULL;
	assert_int_equal(ktls_crypto_get(server, &tx, &rx, &why), -1);
	assert_non_null(why);
	assert_string_equal(why, reason);
	/* Nothing of the keys is left behind on refusal. */
	static const struct ktls_crypto zero;
	assert_memory_equal(&tx, &zero, sizeof(zero));
	assert_memory_equal(&rx, &zero, sizeof(zero));
}

static void test_refuses_partial_record(void **state)
{
	(void)state;
	struct pair p;
	uint8_t buf[BUF_SIZE];

	pair_open(&p, TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256");
	handshake(&p);
	assert_int_equal(SSL_write(p.client, "GET / HTTP/1.1\r\n", 16), 16);
	int n = BIO_read(SSL_get_wbio(p.client), buf, sizeof(buf));
	assert_true(n > 10);
	/* Part of a record: OpenSSL holds bytes the kernel would never see. */
	for (int cut = 1; cut < n; cut += 3) {
		struct pair q;
		pair_open(&q, TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256");
		handshake(&q);
		assert_int_equal(SSL_write(q.client, "GET / HTTP/1.1\r\n", 16), 16);
		int m = BIO_read(SSL_get_wbio(q.client), buf, sizeof(buf));
		assert_int_equal(tls_feed(q.server, buf, (size_t)cut), 0);
		assert_int_equal(server_read(&q, buf + m, sizeof(buf) - (size_t)m), 0);
		expect_refusal(q.server, "received ciphertext buffered in userspace");
		/* The rest arrives and is read: whole records again, fine. */
		assert_int_equal(tls_feed(q.server, buf + cut, (size_t)(m - cut)), 0);
		assert_int_equal(server_read(&q, buf + m, sizeof(buf) - (size_t)m), 16);
		struct ktls_crypto tx, rx;
		const char *why;
		assert_int_equal(ktls_crypto_get(q.server, &tx, &rx, &why), 0);
		pair_close(&q);
	}
	/* A whole record fed but not read. */
	assert_int_equal(tls_feed(p.server, buf, (size_t)n), 0);
	expect_refusal(p.server, "received ciphertext buffered in userspace");
	pair_close(&p);
}

static void test_refuses_unsent_or_unread(void **state)
{
	(void)state;
	struct pair p;
	uint8_t buf[256];

	pair_open(&p, TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384");
	expect_refusal(p.server, "handshake not finished");
	handshake(&p);
	assert_int_equal(tls_write(p.server, (const uint8_t *)"101", 3), 0);
	expect_refusal(p.server, "ciphertext not yet taken out");
	to_client(&p);
	/* Decrypted but not yet read by the caller: pipelined frames. */
	assert_int_equal(SSL_write(p.client, "abcdef", 6), 6);
	to_server(&p);
	size_t got;
	assert_int_equal(tls_read(p.server, buf, 2, &got), TLS_OK);
	expect_refusal(p.server, "decrypted data not yet read");
	assert_int_equal(server_read(&p, buf, sizeof(buf)), 4);
	struct ktls_crypto tx, rx;
	const char *why;
	assert_int_equal(ktls_crypto_get(p.server, &tx, &rx, &why), 0);
	pair_close(&p);
}

/* A KeyUpdate replaces the keys we captured: the session must stay put. */
static void test_refuses_after_key_update(void **state)
{
	(void)state;
	struct pair p;
	uint8_t buf[256];

	pair_open(&p, TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256");
	handshake(&p);
	assert_int_equal(SSL_key_update(p.client, SSL_KEY_UPDATE_NOT_REQUESTED), 1);
	assert_int_equal(SSL_write(p.client, "hello", 5), 5);
	to_server(&p);
	assert_int_equal(server_read(&p, buf, sizeof(buf)), 5);
	expect_refusal(p.server, "a record other than application data after the handshake");
	pair_close(&p);
}

static void test_refuses_cbc_suite(void **state)
{
	(void)state;
	struct pair p;

	pair_open(&p, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA256");
	handshake(&p);
	expect_refusal(p.server, "cipher suite not supported by kTLS");
	pair_close(&p);
}

static void test_refuses_untracked(void **state)
{
	(void)state;
	struct pair p;

	pair_open(&p, TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256");
	ktls_untrack(p.server);
	handshake(&p);
	expect_refusal(p.server, "session not tracked");
	ktls_untrack(p.server); /* twice is harmless */
	pair_close(&p);
}

/* Without kTLS the socket is left alone: userspace TLS continues on it. */
static void test_socket_attach_refused_without_ktls(void **state)
{
	(void)state;
	if (tls_kernel_has_ktls())
		skip();
	struct ktls_crypto tx = { 0 }, rx = { 0 };
	int err = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(ktls_socket_attach(fd, &tx, &rx, &err), KTLS_REFUSED);
	assert_int_equal(err, ENOENT);
	close(fd);
}

/* ---- with kTLS in the kernel: a real connection handed over ---- */

static void tcp_pair(int *server_fd, int *client_fd)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
	*client_fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(*client_fd, (struct sockaddr *)&a, sizeof(a)), 0);
	*server_fd = accept(l, NULL, NULL);
	assert_true(*server_fd >= 0);
	close(l);
}

static void test_kernel_carries_the_session(void **state)
{
	const struct suite_case *sc = *state;
	if (!tls_kernel_has_ktls())
		skip();
	struct pair p;
	int sfd, cfd;
	uint8_t buf[BUF_SIZE];

	tcp_pair(&sfd, &cfd);
	pair_open(&p, sc->max_version, sc->ciphers);
	handshake(&p);
	exchange_request(&p, 2, 1);
	/* The client now talks over the socket; its BIOs are drained. */
	BIO *cbio = BIO_new_socket(cfd, BIO_NOCLOSE);
	SSL_set_bio(p.client, cbio, cbio);
	struct ktls_crypto tx, rx;
	const char *why = NULL;
	int err = 0;
	if (ktls_crypto_get(p.server, &tx, &rx, &why) != 0)
		fail_msg("%s", why);
	enum ktls_attach_result r = ktls_socket_attach(sfd, &tx, &rx, &err);
	if (r == KTLS_REFUSED && (err == ENOPROTOOPT || err == EINVAL || err == ENOENT)) {
		/* This kernel lacks the suite: nothing to see here. */
		close(sfd);
		close(cfd);
		pair_close(&p);
		skip();
	}
	assert_int_equal(r, KTLS_ATTACHED);
	fill_pattern(buf, 5000, 3);
	assert_int_equal(send(sfd, buf, 5000, 0), 5000);
	uint8_t got[5000];
	size_t n = 0, k;
	while (n < sizeof(got) && SSL_read_ex(p.client, got + n, sizeof(got) - n, &k) == 1)
		n += k;
	assert_int_equal(n, sizeof(got));
	assert_memory_equal(got, buf, sizeof(got));
	assert_int_equal(SSL_write(p.client, "from the client", 15), 15);
	assert_int_equal(recv(sfd, buf, sizeof(buf), 0), 15);
	assert_memory_equal(buf, "from the client", 15);
	close(sfd);
	close(cfd);
	pair_close(&p);
}

/* ---- setup ---- */

static int group_setup(void **state)
{
	(void)state;
	char err[256];
	uint8_t pub[KEY_LEN] = { 1, 2, 3 };
	if (!mkdtemp(tmp_dir))
		return -1;
	snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", tmp_dir);
	snprintf(key_path, sizeof(key_path), "%s/key.pem", tmp_dir);
	if (tls_selfsigned_write_pem(cert_path, key_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	/* The daemon's own context, so its settings (no tickets) are what is tested. */
	server_ctx = tls_server_ctx_create(cert_path, key_path, pub, err, sizeof(err));
	if (!server_ctx) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return ktls_ctx_enable(server_ctx) == 0 && ktls_ctx_enabled(server_ctx) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	SSL_CTX_free(server_ctx);
	unlink(cert_path);
	unlink(key_path);
	rmdir(tmp_dir);
	return 0;
}

#define PER_SUITE(fn)                                         \
	cmocka_unit_test_prestate(fn, (void *)&cases[0]),     \
	    cmocka_unit_test_prestate(fn, (void *)&cases[1]), \
	    cmocka_unit_test_prestate(fn, (void *)&cases[2]), \
	    cmocka_unit_test_prestate(fn, (void *)&cases[3]), \
	    cmocka_unit_test_prestate(fn, (void *)&cases[4]), \
	    cmocka_unit_test_prestate(fn, (void *)&cases[5])

int main(void)
{
	const struct CMUnitTest tests[] = {
		PER_SUITE(test_extracted_state_matches_openssl),
		PER_SUITE(test_state_right_after_handshake),
		cmocka_unit_test(test_refuses_partial_record),
		cmocka_unit_test(test_refuses_unsent_or_unread),
		cmocka_unit_test(test_refuses_after_key_update),
		cmocka_unit_test(test_refuses_cbc_suite),
		cmocka_unit_test(test_refuses_untracked),
		cmocka_unit_test(test_socket_attach_refused_without_ktls),
		PER_SUITE(test_kernel_carries_the_session),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
