// SPDX-License-Identifier: MIT
/*
 * Unit tests for hd_auth.c (docs/hd-protocol.md section 3): the token vector
 * of section 6 (its MAC checked with Python's hmac), each token refusal in
 * the documented order, the Auth proof (possession of the client key, a
 * fresh challenge, the channel binding), and the TLS binding itself over a
 * real TLS handshake in memory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sodium.h>
#include <string.h>

#include <openssl/ssl.h>

#include "hd_auth.h"
#include "tls_selfsigned.h"

static const char vector_token[] = "hdt1_AQABAgMEBQYHICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8"
				   "AAAAAcT-zAOQg90w29XMNLkha5Ucwwpq3B_408BVFWTeIRsPYBsYn";
#define VECTOR_EXPIRY 1900000000ull

static void vector_inputs(uint8_t secret[32], uint8_t id[8], uint8_t key[32])
{
	memset(secret, 0x42, 32);
	for (int i = 0; i < 8; i++)
		id[i] = (uint8_t)i;
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(0x20 + i);
}

static void test_token_vector(void **state)
{
	(void)state;
	uint8_t secret[32], id[8], key[32];
	char text[HD_TOKEN_TEXT_LEN + 1];
	struct hd_token t;

	vector_inputs(secret, id, key);
	hd_token_issue(secret, id, key, VECTOR_EXPIRY, text);
	assert_string_equal(text, vector_token);
	assert_int_equal(strlen(text), HD_TOKEN_TEXT_LEN);
	assert_int_equal(hd_token_check(text, strlen(text), secret, key, VECTOR_EXPIRY - 1, &t),
			 HD_REASON_OK);
	assert_memory_equal(t.id, id, 8);
	assert_memory_equal(t.key, key, 32);
	assert_int_equal(t.expiry, VECTOR_EXPIRY);
}

static void test_token_refusals(void **state)
{
	(void)state;
	uint8_t secret[32], id[8], key[32], other[32];
	char text[HD_TOKEN_TEXT_LEN + 1], bad[HD_TOKEN_TEXT_LEN + 2];
	struct hd_token t;
	const size_t n = HD_TOKEN_TEXT_LEN;

	vector_inputs(secret, id, key);
	memset(other, 0x77, sizeof(other));
	hd_token_issue(secret, id, key, VECTOR_EXPIRY, text);

	/* Expired at the second of its expiry, and after. */
	assert_int_equal(hd_token_check(text, n, secret, key, VECTOR_EXPIRY, &t),
			 HD_REASON_EXPIRED);
	/* Another key: the token is bound to the key it was issued for. */
	assert_int_equal(hd_token_check(text, n, secret, other, 0, &t), HD_REASON_WRONG_KEY);
	/* Another relay's secret: the MAC fails before the key is looked at. */
	assert_int_equal(hd_token_check(text, n, other, other, 0, &t), HD_REASON_NO_TOKEN);
	/* Every single-character change is refused (MAC or form). */
	for (size_t i = 0; i < n; i++) {
		memcpy(bad, text, n + 1);
		bad[i] = bad[i] == 'A' ? 'B' : 'A';
		assert_int_not_equal(hd_token_check(bad, n, secret, key, 0, &t), HD_REASON_OK);
	}
	/* Cut short, one character longer, and not base64url. */
	assert_int_equal(hd_token_check(text, n - 1, secret, key, 0, &t), HD_REASON_NO_TOKEN);
	memcpy(bad, text, n);
	bad[n] = 'A';
	bad[n + 1] = '\0';
	assert_int_equal(hd_token_check(bad, n + 1, secret, key, 0, &t), HD_REASON_NO_TOKEN);
	memcpy(bad, text, n + 1);
	bad[20] = '+';
	assert_int_equal(hd_token_check(bad, n, secret, key, 0, &t), HD_REASON_NO_TOKEN);
	assert_int_equal(hd_token_check("", 0, secret, key, 0, &t), HD_REASON_NO_TOKEN);

	/* Expiry 0 never expires. */
	hd_token_issue(secret, id, key, 0, text);
	assert_int_equal(hd_token_check(text, n, secret, key, UINT64_MAX, &t), HD_REASON_OK);
}

struct parties {
	uint8_t client_priv[32], client_pub[32];
	uint8_t relay_priv[32], relay_pub[32];
	uint8_t challenge[HD_CHALLENGE_LEN];
	uint8_t binding[HD_BINDING_LEN];
};

static void parties_new(struct parties *p)
{
	crypto_box_keypair(p->client_pub, p->client_priv);
	crypto_box_keypair(p->relay_pub, p->relay_priv);
	hd_challenge_new(p->challenge);
	randombytes_buf(p->binding, sizeof(p->binding));
}

static enum hd_reason open_frame(const struct parties *p, const uint8_t *frame, size_t n,
				 uint8_t got_pub[32], char token[HD_TOKEN_MAX + 1],
				 size_t *token_len)
{
	assert_true(n > HD_FRAME_HDR_LEN);
	assert_int_equal(frame[0], HD_FRAME_AUTH);
	return hd_auth_open(frame + HD_FRAME_HDR_LEN, (uint32_t)(n - HD_FRAME_HDR_LEN),
			    p->relay_priv, p->challenge, p->binding, got_pub, token, token_len);
}

static void test_auth_round_trip(void **state)
{
	(void)state;
	struct parties p;
	uint8_t frame[1100], got[32];
	char token[HD_TOKEN_MAX + 1];
	size_t tlen, n;

	parties_new(&p);
	n = hd_auth_build(frame, sizeof(frame), p.client_priv, p.client_pub, p.relay_pub,
			  p.challenge, p.binding, vector_token, strlen(vector_token));
	assert_true(n > 0);
	assert_int_equal(hd_frame_check(frame[0], (uint32_t)(n - HD_FRAME_HDR_LEN)), HD_FRAME_OK);
	assert_int_equal(open_frame(&p, frame, n, got, token, &tlen), HD_REASON_OK);
	assert_memory_equal(got, p.client_pub, 32);
	assert_int_equal(tlen, strlen(vector_token));
	assert_string_equal(token, vector_token);

	/* No token at all is a valid proof with an empty token. */
	n = hd_auth_build(frame, sizeof(frame), p.client_priv, p.client_pub, p.relay_pub,
			  p.challenge, p.binding, NULL, 0);
	assert_int_equal(open_frame(&p, frame, n, got, token, &tlen), HD_REASON_OK);
	assert_int_equal(tlen, 0);
	assert_string_equal(token, "");

	/* The longest token fits; one more byte is refused by the builder. */
	char longtok[HD_TOKEN_MAX + 1];
	memset(longtok, 't', sizeof(longtok));
	n = hd_auth_build(frame, sizeof(frame), p.client_priv, p.client_pub, p.relay_pub,
			  p.challenge, p.binding, longtok, HD_TOKEN_MAX);
	assert_true(n > 0);
	assert_int_equal(open_frame(&p, frame, n, got, token, &tlen), HD_REASON_OK);
	assert_int_equal(tlen, HD_TOKEN_MAX);
	assert_int_equal(hd_auth_build(frame, sizeof(frame), p.client_priv, p.client_pub,
				       p.relay_pub, p.challenge, p.binding, longtok,
				       HD_TOKEN_MAX + 1),
			 0);
	assert_int_equal(hd_auth_build(frame, 100, p.client_priv, p.client_pub, p.relay_pub,
				       p.challenge, p.binding, NULL, 0),
			 0);
}

static void test_auth_refusals(void **state)
{
	(void)state;
	struct parties p, q;
	uint8_t frame[1100], bad[1100], got[32];
	char token[HD_TOKEN_MAX + 1];
	size_t tlen, n;

	parties_new(&p);
	n = hd_auth_build(frame, sizeof(frame), p.client_priv, p.client_pub, p.relay_pub,
			  p.challenge, p.binding, vector_token, strlen(vector_token));

	/* Replay: the same Auth on a connection with a new challenge. */
	struct parties replay = p;
	hd_challenge_new(replay.challenge);
	assert_int_equal(open_frame(&replay, frame, n, got, token, &tlen), HD_REASON_BAD_PROOF);

	/* Another TLS connection (a man in the middle): another binding. */
	struct parties mitm = p;
	mitm.binding[0] ^= 1;
	assert_int_equal(open_frame(&mitm, frame, n, got, token, &tlen), HD_REASON_BAD_PROOF);

	/* Boxed for another relay. */
	parties_new(&q);
	memcpy(q.challenge, p.challenge, sizeof(q.challenge));
	memcpy(q.binding, p.binding, sizeof(q.binding));
	assert_int_equal(open_frame(&q, frame, n, got, token, &tlen), HD_REASON_BAD_PROOF);

	/* Someone else's key in the key field, without that key's private half. */
	memcpy(bad, frame, n);
	memcpy(bad + HD_FRAME_HDR_LEN, q.client_pub, 32);
	assert_int_equal(open_frame(&p, bad, n, got, token, &tlen), HD_REASON_BAD_PROOF);

	/* Any flipped bit in the nonce or the box. */
	for (size_t i = HD_FRAME_HDR_LEN + 32; i < n; i += 7) {
		memcpy(bad, frame, n);
		bad[i] ^= 0x40;
		assert_int_equal(open_frame(&p, bad, n, got, token, &tlen), HD_REASON_BAD_PROOF);
	}
	/* Truncated below the smallest Auth. */
	assert_int_equal(hd_auth_open(frame + HD_FRAME_HDR_LEN, 100, p.relay_priv, p.challenge,
				      p.binding, got, token, &tlen),
			 HD_REASON_BAD_PROOF);
}

/* Boxes a hand-made plaintext, as a client with its own ideas would. */
static size_t craft_auth(const struct parties *p, const uint8_t *plain, size_t plain_len,
			 uint8_t *payload)
{
	memcpy(payload, p->client_pub, 32);
	randombytes_buf(payload + 32, HD_NONCE_LEN);
	assert_int_equal(crypto_box_easy(payload + 32 + HD_NONCE_LEN, plain, plain_len,
					 payload + 32, p->relay_pub, p->client_priv),
			 0);
	return 32 + HD_NONCE_LEN + crypto_box_MACBYTES + plain_len;
}

static void test_auth_token_field(void **state)
{
	(void)state;
	struct parties p;
	uint8_t plain[900], payload[1100], got[32];
	char token[HD_TOKEN_MAX + 1];
	size_t tlen, n;

	parties_new(&p);
	memcpy(plain, p.challenge, 32);
	memcpy(plain + 32, p.binding, 32);

	/* A token length past the end of the plaintext. */
	plain[64] = 0;
	plain[65] = 10;
	memcpy(plain + 66, "abc", 3);
	n = craft_auth(&p, plain, 69, payload);
	assert_int_equal(hd_auth_open(payload, (uint32_t)n, p.relay_priv, p.challenge, p.binding,
				      got, token, &tlen),
			 HD_REASON_NO_TOKEN);
	/* A token length past HD_TOKEN_MAX. */
	plain[64] = (HD_TOKEN_MAX + 1) >> 8;
	plain[65] = (HD_TOKEN_MAX + 1) & 0xff;
	memset(plain + 66, 'x', HD_TOKEN_MAX + 1);
	n = craft_auth(&p, plain, 66 + HD_TOKEN_MAX + 1, payload);
	assert_int_equal(hd_auth_open(payload, (uint32_t)n, p.relay_priv, p.challenge, p.binding,
				      got, token, &tlen),
			 HD_REASON_NO_TOKEN);
	/* Reserved bytes after the token are ignored (section 3.1). */
	plain[64] = 0;
	plain[65] = 3;
	memcpy(plain + 66, "abc", 3);
	memset(plain + 69, 0xee, 700);
	n = craft_auth(&p, plain, 769, payload);
	assert_int_equal(hd_auth_open(payload, (uint32_t)n, p.relay_priv, p.challenge, p.binding,
				      got, token, &tlen),
			 HD_REASON_OK);
	assert_string_equal(token, "abc");
}

/* Moves TLS bytes between two memory-BIO sessions until both finish the handshake. */
static void tls_pair_handshake(SSL *c, SSL *s)
{
	uint8_t buf[16384];
	for (int round = 0; round < 20; round++) {
		int rc = SSL_do_handshake(c);
		int rs = SSL_do_handshake(s);
		int n;
		while ((n = BIO_read(SSL_get_wbio(c), buf, sizeof(buf))) > 0)
			BIO_write(SSL_get_rbio(s), buf, n);
		while ((n = BIO_read(SSL_get_wbio(s), buf, sizeof(buf))) > 0)
			BIO_write(SSL_get_rbio(c), buf, n);
		if (rc == 1 && rs == 1)
			return;
	}
	fail_msg("TLS handshake did not finish");
}

static SSL *tls_session(SSL_CTX *ctx, bool server)
{
	SSL *ssl = SSL_new(ctx);
	assert_non_null(ssl);
	SSL_set_bio(ssl, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
	if (server)
		SSL_set_accept_state(ssl);
	else
		SSL_set_connect_state(ssl);
	return ssl;
}

static void test_tls_binding(void **state)
{
	(void)state;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	char err[256];
	uint8_t bc[32], bs[32], bc2[32], zero[32] = { 0 };

	assert_int_equal(tls_selfsigned_make(&key, &cert, err, sizeof(err)), 0);
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	assert_int_equal(SSL_CTX_use_certificate(sctx, cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(sctx, key), 1);

	SSL *c = tls_session(cctx, false), *s = tls_session(sctx, true);
	/* Before the handshake there is nothing to export. */
	assert_int_equal(hd_channel_binding(c, bc), -1);
	tls_pair_handshake(c, s);
	assert_int_equal(hd_channel_binding(c, bc), 0);
	assert_int_equal(hd_channel_binding(s, bs), 0);
	assert_memory_equal(bc, bs, 32);
	assert_memory_not_equal(bc, zero, 32);

	/* Another connection (what a man in the middle would have): another binding. */
	SSL *c2 = tls_session(cctx, false), *s2 = tls_session(sctx, true);
	tls_pair_handshake(c2, s2);
	assert_int_equal(hd_channel_binding(c2, bc2), 0);
	assert_memory_not_equal(bc, bc2, 32);

	/* Plain HTTP: zeros. */
	memset(bc2, 0xff, sizeof(bc2));
	assert_int_equal(hd_channel_binding(NULL, bc2), 0);
	assert_memory_equal(bc2, zero, 32);

	SSL_free(c);
	SSL_free(s);
	SSL_free(c2);
	SSL_free(s2);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	X509_free(cert);
	EVP_PKEY_free(key);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_vector),	 cmocka_unit_test(test_token_refusals),
		cmocka_unit_test(test_auth_round_trip),	 cmocka_unit_test(test_auth_refusals),
		cmocka_unit_test(test_auth_token_field), cmocka_unit_test(test_tls_binding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
