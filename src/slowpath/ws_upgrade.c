// SPDX-License-Identifier: MIT
/*
 * WebSocket opening handshake helpers (see ws_upgrade.h). SHA-1 comes from
 * OpenSSL: the relay links it for TLS anyway, and the accept key is all
 * SHA-1 is used for.
 */
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "ws_upgrade.h"

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

int ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) &&
		 EVP_DigestUpdate(ctx, key, strlen(key)) &&
		 EVP_DigestUpdate(ctx, ws_guid, sizeof(ws_guid) - 1) &&
		 EVP_DigestFinal_ex(ctx, digest, &dlen) && dlen == 20;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -1;
	/* 20 bytes encode to exactly 28 characters, and EncodeBlock adds the NUL. */
	EVP_EncodeBlock((unsigned char *)out, digest, 20);
	return 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

bool ws_header_has_token(const char *value, const char *token)
{
	size_t tlen = strlen(token);
	const char *p = value;

	while (*p) {
		while (is_space(*p) || *p == ',')
			p++;
		const char *start = p;
		while (*p && *p != ',')
			p++;
		const char *end = p;
		while (end > start && is_space(end[-1]))
			end--;
		if ((size_t)(end - start) == tlen && strncasecmp(start, token, tlen) == 0)
			return true;
	}
	return false;
}
