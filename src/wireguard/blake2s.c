// SPDX-License-Identifier: MIT
/*
 * BLAKE2s through OpenSSL 3 (see blake2s.h). The algorithm objects are
 * fetched once: a fetch walks the provider tables under a lock, which would
 * cost more than the hash itself on every handshake initiation.
 */
#include "blake2s.h"

#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

static EVP_MD *blake2s_md;
static EVP_MAC *blake2s_mac;
static pthread_once_t blake2s_once = PTHREAD_ONCE_INIT;

static void blake2s_fetch(void)
{
	blake2s_md = EVP_MD_fetch(NULL, "BLAKE2S-256", NULL);
	blake2s_mac = EVP_MAC_fetch(NULL, "BLAKE2SMAC", NULL);
}

static int blake2s_unkeyed(uint8_t out[BLAKE2S_OUT_MAX], const void *in, size_t inlen)
{
	unsigned int len = 0;

	if (!blake2s_md || !EVP_Digest(in, inlen, out, &len, blake2s_md, NULL))
		return -1;
	return len == BLAKE2S_OUT_MAX ? 0 : -1;
}

static int blake2s_keyed(uint8_t *out, size_t outlen, const void *key, size_t keylen,
			 const void *in, size_t inlen)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &outlen),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC_CTX *ctx;
	size_t len = 0;
	int ok;

	if (!blake2s_mac)
		return -1;
	ctx = EVP_MAC_CTX_new(blake2s_mac);
	if (!ctx)
		return -1;
	ok = EVP_MAC_init(ctx, key, keylen, params) && EVP_MAC_update(ctx, in, inlen) &&
	     EVP_MAC_final(ctx, out, &len, outlen) && len == outlen;
	EVP_MAC_CTX_free(ctx);
	return ok ? 0 : -1;
}

int blake2s(uint8_t *out, size_t outlen, const void *key, size_t keylen, const void *in,
	    size_t inlen)
{
	int ret = -1;

	pthread_once(&blake2s_once, blake2s_fetch);
	if (keylen == 0 && outlen == BLAKE2S_OUT_MAX)
		ret = blake2s_unkeyed(out, in, inlen);
	else if (keylen >= 1 && keylen <= BLAKE2S_KEY_MAX && outlen >= 1 &&
		 outlen <= BLAKE2S_OUT_MAX)
		ret = blake2s_keyed(out, outlen, key, keylen, in, inlen);
	if (ret < 0 && outlen <= BLAKE2S_OUT_MAX)
		memset(out, 0, outlen);
	return ret;
}
