// SPDX-License-Identifier: MIT
#include "hd_auth.h"

#include <sodium.h>
#include <string.h>

#include <openssl/ssl.h>

#define BINDING_LABEL	 "EXPORTER-hd-v1-auth"
#define TOKEN_PREFIX	 "hdt1_"
#define TOKEN_PREFIX_LEN 5
#define TOKEN_VERSION	 1
#define TOKEN_BODY_LEN	 (HD_TOKEN_BIN_LEN - crypto_auth_hmacsha256_BYTES)
/* The boxed plaintext before the token: challenge, binding, token length. */
#define PROOF_FIXED_LEN (HD_CHALLENGE_LEN + HD_BINDING_LEN + 2)
#define PROOF_MAX_LEN	(PROOF_FIXED_LEN + HD_TOKEN_MAX)
/* What an Auth of the largest allowed size boxes: the proof and reserved bytes. */
#define AUTH_PLAIN_MAX 1024

void hd_challenge_new(uint8_t challenge[HD_CHALLENGE_LEN])
{
	randombytes_buf(challenge, HD_CHALLENGE_LEN);
}

int hd_channel_binding(SSL *ssl, uint8_t binding[HD_BINDING_LEN])
{
	memset(binding, 0, HD_BINDING_LEN);
	if (!ssl)
		return 0;
	if (SSL_export_keying_material(ssl, binding, HD_BINDING_LEN, BINDING_LABEL,
				       strlen(BINDING_LABEL), NULL, 0, 0) != 1)
		return -1;
	return 0;
}

size_t hd_auth_build(uint8_t *dst, size_t cap, const uint8_t client_priv[HD_KEY_LEN],
		     const uint8_t client_pub[HD_KEY_LEN], const uint8_t relay_pub[HD_KEY_LEN],
		     const uint8_t challenge[HD_CHALLENGE_LEN],
		     const uint8_t binding[HD_BINDING_LEN], const char *token, size_t token_len)
{
	uint8_t plain[PROOF_MAX_LEN];
	size_t plain_len = PROOF_FIXED_LEN + token_len;
	size_t payload_len = HD_KEY_LEN + HD_NONCE_LEN + crypto_box_MACBYTES + plain_len;
	uint8_t *p;

	if (token_len > HD_TOKEN_MAX || cap < HD_FRAME_HDR_LEN + payload_len)
		return 0;
	memcpy(plain, challenge, HD_CHALLENGE_LEN);
	memcpy(plain + HD_CHALLENGE_LEN, binding, HD_BINDING_LEN);
	plain[HD_CHALLENGE_LEN + HD_BINDING_LEN] = (uint8_t)(token_len >> 8);
	plain[HD_CHALLENGE_LEN + HD_BINDING_LEN + 1] = (uint8_t)token_len;
	if (token_len)
		memcpy(plain + PROOF_FIXED_LEN, token, token_len);

	hd_frame_header_write(dst, HD_FRAME_AUTH, (uint32_t)payload_len);
	p = dst + HD_FRAME_HDR_LEN;
	memcpy(p, client_pub, HD_KEY_LEN);
	randombytes_buf(p + HD_KEY_LEN, HD_NONCE_LEN);
	if (crypto_box_easy(p + HD_KEY_LEN + HD_NONCE_LEN, plain, plain_len, p + HD_KEY_LEN,
			    relay_pub, client_priv) != 0) {
		sodium_memzero(plain, sizeof(plain));
		return 0;
	}
	sodium_memzero(plain, sizeof(plain));
	return HD_FRAME_HDR_LEN + payload_len;
}

enum hd_reason hd_auth_open(const uint8_t *payload, uint32_t len,
			    const uint8_t relay_priv[HD_KEY_LEN],
			    const uint8_t challenge[HD_CHALLENGE_LEN],
			    const uint8_t binding[HD_BINDING_LEN], uint8_t client_pub[HD_KEY_LEN],
			    char token[HD_TOKEN_MAX + 1], size_t *token_len)
{
	uint8_t plain[AUTH_PLAIN_MAX];
	const uint8_t *nonce = payload + HD_KEY_LEN;
	const uint8_t *box = nonce + HD_NONCE_LEN;
	size_t box_len, plain_len, tlen;
	enum hd_reason verdict = HD_REASON_OK;

	*token_len = 0;
	token[0] = '\0';
	if (hd_frame_check(HD_FRAME_AUTH, len) != HD_FRAME_OK)
		return HD_REASON_BAD_PROOF;
	box_len = len - HD_KEY_LEN - HD_NONCE_LEN;
	plain_len = box_len - crypto_box_MACBYTES;
	if (plain_len > sizeof(plain))
		return HD_REASON_BAD_PROOF;
	if (crypto_box_open_easy(plain, box, box_len, nonce, payload, relay_priv) != 0)
		return HD_REASON_BAD_PROOF;

	if (sodium_memcmp(plain, challenge, HD_CHALLENGE_LEN) != 0 ||
	    sodium_memcmp(plain + HD_CHALLENGE_LEN, binding, HD_BINDING_LEN) != 0) {
		verdict = HD_REASON_BAD_PROOF;
		goto out;
	}
	tlen = (size_t)plain[HD_CHALLENGE_LEN + HD_BINDING_LEN] << 8 |
	       plain[HD_CHALLENGE_LEN + HD_BINDING_LEN + 1];
	if (tlen > HD_TOKEN_MAX || PROOF_FIXED_LEN + tlen > plain_len) {
		verdict = HD_REASON_NO_TOKEN;
		goto out;
	}
	memcpy(client_pub, payload, HD_KEY_LEN);
	memcpy(token, plain + PROOF_FIXED_LEN, tlen);
	token[tlen] = '\0';
	*token_len = tlen;
out:
	sodium_memzero(plain, sizeof(plain));
	return verdict;
}

static void token_body(uint8_t body[TOKEN_BODY_LEN], const uint8_t id[HD_TOKEN_ID_LEN],
		       const uint8_t key[HD_KEY_LEN], uint64_t expiry)
{
	body[0] = TOKEN_VERSION;
	memcpy(body + 1, id, HD_TOKEN_ID_LEN);
	memcpy(body + 1 + HD_TOKEN_ID_LEN, key, HD_KEY_LEN);
	for (int i = 0; i < 8; i++)
		body[1 + HD_TOKEN_ID_LEN + HD_KEY_LEN + i] = (uint8_t)(expiry >> (56 - 8 * i));
}

void hd_token_issue(const uint8_t secret[HD_TOKEN_SECRET_LEN], const uint8_t id[HD_TOKEN_ID_LEN],
		    const uint8_t key[HD_KEY_LEN], uint64_t expiry, char out[HD_TOKEN_TEXT_LEN + 1])
{
	uint8_t bin[HD_TOKEN_BIN_LEN];

	token_body(bin, id, key, expiry);
	crypto_auth_hmacsha256(bin + TOKEN_BODY_LEN, bin, TOKEN_BODY_LEN, secret);
	memcpy(out, TOKEN_PREFIX, TOKEN_PREFIX_LEN);
	sodium_bin2base64(out + TOKEN_PREFIX_LEN, HD_TOKEN_TEXT_LEN + 1 - TOKEN_PREFIX_LEN, bin,
			  sizeof(bin), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

enum hd_reason hd_token_check(const char *text, size_t len,
			      const uint8_t secret[HD_TOKEN_SECRET_LEN],
			      const uint8_t client_key[HD_KEY_LEN], uint64_t now,
			      struct hd_token *out)
{
	uint8_t bin[HD_TOKEN_BIN_LEN];
	size_t bin_len = 0;
	const char *end = NULL;
	uint64_t expiry = 0;

	if (len != HD_TOKEN_TEXT_LEN || memcmp(text, TOKEN_PREFIX, TOKEN_PREFIX_LEN) != 0)
		return HD_REASON_NO_TOKEN;
	if (sodium_base642bin(bin, sizeof(bin), text + TOKEN_PREFIX_LEN, len - TOKEN_PREFIX_LEN,
			      NULL, &bin_len, &end,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    bin_len != sizeof(bin) || end != text + len || bin[0] != TOKEN_VERSION)
		return HD_REASON_NO_TOKEN;
	if (crypto_auth_hmacsha256_verify(bin + TOKEN_BODY_LEN, bin, TOKEN_BODY_LEN, secret) != 0)
		return HD_REASON_NO_TOKEN;
	if (sodium_memcmp(bin + 1 + HD_TOKEN_ID_LEN, client_key, HD_KEY_LEN) != 0)
		return HD_REASON_WRONG_KEY;
	for (int i = 0; i < 8; i++)
		expiry = expiry << 8 | bin[1 + HD_TOKEN_ID_LEN + HD_KEY_LEN + i];
	if (expiry != 0 && now >= expiry)
		return HD_REASON_EXPIRED;
	memcpy(out->id, bin + 1, HD_TOKEN_ID_LEN);
	memcpy(out->key, bin + 1 + HD_TOKEN_ID_LEN, HD_KEY_LEN);
	out->expiry = expiry;
	return HD_REASON_OK;
}
