// SPDX-License-Identifier: MIT
#include "key.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "json_reader.h"

#define NODEKEY_PREFIX "nodekey:"
#define PRIVKEY_PREFIX "privkey:"

/* Both files hold a few dozen bytes; anything much larger is not ours. */
#define KEY_FILE_MAX_SIZE      (64 * 1024)
#define MESH_KEY_FILE_MAX_SIZE 4096

static const char hex_digits[] = "0123456789abcdef";

static void hex_encode(const uint8_t *src, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex_digits[src[i] >> 4];
		out[2 * i + 1] = hex_digits[src[i] & 0x0f];
	}
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes exactly 2 * KEY_LEN hex digits; out is untouched on error. */
static int hex_decode_key(const char *text, uint8_t out[KEY_LEN])
{
	uint8_t tmp[KEY_LEN];

	for (size_t i = 0; i < KEY_LEN; i++) {
		int hi = hex_value(text[2 * i]);
		int lo = hex_value(text[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			sodium_memzero(tmp, sizeof(tmp));
			return -1;
		}
		tmp[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(out, tmp, KEY_LEN);
	sodium_memzero(tmp, sizeof(tmp));
	return 0;
}

void key_to_hex(const uint8_t key[KEY_LEN], char out[KEY_HEX_LEN + 1])
{
	hex_encode(key, KEY_LEN, out);
	out[KEY_HEX_LEN] = '\0';
}

void key_to_nodekey(const uint8_t key[KEY_LEN], char out[8 + KEY_HEX_LEN + 1])
{
	memcpy(out, NODEKEY_PREFIX, 8);
	key_to_hex(key, out + 8);
}

void key_to_short(const uint8_t key[KEY_LEN], char out[8])
{
	/* Base64 of the first 4 bytes gives 8 chars, of which we show 5. */
	char b64[sodium_base64_ENCODED_LEN(4, sodium_base64_VARIANT_ORIGINAL)];

	if (sodium_is_zero(key, KEY_LEN)) {
		/* Go prints the zero key as "", meaning "no key". */
		out[0] = '\0';
		return;
	}
	sodium_bin2base64(b64, sizeof(b64), key, 4, sodium_base64_VARIANT_ORIGINAL);
	out[0] = '[';
	memcpy(out + 1, b64, 5);
	out[6] = ']';
	out[7] = '\0';
}

int key_from_hex(const char *text, size_t len, const char *prefix, uint8_t out[KEY_LEN])
{
	size_t plen = prefix ? strlen(prefix) : 0;

	if (!text || len != plen + KEY_HEX_LEN)
		return -1;
	/* The prefix is a type tag and must match exactly, case included. */
	if (plen && memcmp(text, prefix, plen) != 0)
		return -1;
	return hex_decode_key(text + plen, out);
}

/*
 * Length of the UTF-8 encoded Unicode white space rune at s (n bytes
 * available), or 0 if s does not start with one. Go's strings.TrimSpace trims
 * every rune with the White_Space property, not only ASCII blanks.
 */
static size_t utf8_space_len(const unsigned char *s, size_t n)
{
	if (n >= 1 && (s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r')))
		return 1;
	if (n >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0))
		return 2; /* U+0085 NEL, U+00A0 NBSP */
	if (n < 3)
		return 0;
	if (s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80)
		return 3; /* U+1680 */
	if (s[0] == 0xe2 && s[1] == 0x80 &&
	    ((s[2] >= 0x80 && s[2] <= 0x8a) || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf))
		return 3; /* U+2000..U+200A, U+2028, U+2029, U+202F */
	if (s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f)
		return 3; /* U+205F */
	if (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80)
		return 3; /* U+3000 */
	return 0;
}

/* Length of the rune (or invalid byte) at s, for stepping over non-space text. */
static size_t utf8_step(const unsigned char *s, size_t n)
{
	size_t want = 1;

	if (s[0] >= 0xf0)
		want = 4;
	else if (s[0] >= 0xe0)
		want = 3;
	else if (s[0] >= 0xc0)
		want = 2;
	/* A truncated or malformed sequence is stepped over byte by byte. */
	for (size_t i = 1; i < want; i++) {
		if (i >= n || (s[i] & 0xc0) != 0x80)
			return 1;
	}
	return want;
}

/* Finds the text between leading and trailing Unicode white space. */
static void trim_space(const char *text, size_t len, size_t *start, size_t *end)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0, first = len, last = 0;

	while (i < len) {
		size_t n = utf8_space_len(s + i, len - i);

		if (n) {
			i += n;
			continue;
		}
		n = utf8_step(s + i, len - i);
		if (first == len)
			first = i;
		i += n;
		last = i;
	}
	if (first == len)
		first = last = 0;
	*start = first;
	*end = last;
}

static int mesh_key_parse_len(const char *text, size_t len, uint8_t out[KEY_LEN])
{
	size_t start, end;

	trim_space(text, len, &start, &end);
	if (end - start != KEY_HEX_LEN)
		return -1;
	return hex_decode_key(text + start, out);
}

int mesh_key_parse(const char *text, uint8_t out[KEY_LEN])
{
	if (!text)
		return -1;
	return mesh_key_parse_len(text, strlen(text), out);
}

bool key_equal_ct(const uint8_t a[KEY_LEN], const uint8_t b[KEY_LEN])
{
	return sodium_memcmp(a, b, KEY_LEN) == 0;
}

void key_generate(uint8_t priv[KEY_LEN], uint8_t pub[KEY_LEN])
{
	/*
	 * sodium_init is idempotent and thread-safe; it only fails when the
	 * system has no random source, which we cannot run without.
	 */
	if (sodium_init() < 0)
		abort();
	randombytes_buf(priv, KEY_LEN);
	/* Clamp at creation, as Tailscale does for NaCl box keys. */
	priv[0] &= 248;
	priv[31] = (priv[31] & 127) | 64;
	crypto_scalarmult_base(pub, priv);
}

int key_public_from_private(const uint8_t priv[KEY_LEN], uint8_t pub[KEY_LEN])
{
	return crypto_scalarmult_base(pub, priv) == 0 ? 0 : -1;
}

/*
 * Opens path for reading and checks that it is a regular file that only its
 * owner can read. Returns the fd, -1 with err set, or -2 (err unset) when the
 * file does not exist.
 */
static int open_private_file(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		if (errno == ENOENT)
			return -2;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: fstat: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	/* A secret that others can read is no longer a secret: refuse to use it. */
	if (st.st_mode & (S_IRGRP | S_IROTH)) {
		snprintf(err, errlen, "%s: mode %04o is readable by group/others; chmod 600 it",
			 path, (unsigned)(st.st_mode & 07777));
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads the whole file into buf (at most cap - 1 bytes) and NUL-terminates it. */
static int read_small_file(int fd, const char *path, char *buf, size_t cap, size_t *len, char *err,
			   size_t errlen)
{
	size_t n = 0;

	for (;;) {
		ssize_t r = read(fd, buf + n, cap - 1 - n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "%s: read: %s", path, strerror(errno));
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == cap - 1) {
			snprintf(err, errlen, "%s: file too large (over %zu bytes)", path, cap - 2);
			return -1;
		}
	}
	buf[n] = '\0';
	*len = n;
	return 0;
}

static int key_file_parse(const char *path, const char *json, size_t len, uint8_t priv[KEY_LEN],
			  char *err, size_t errlen)
{
	char value[128];
	size_t vlen = 0;
	bool found = false;
	char jerr[96];
	int ret = -1;

	if (json_object_get_string(json, len, "PrivateKey", value, sizeof(value), &vlen, &found,
				   jerr, sizeof(jerr)) < 0) {
		snprintf(err, errlen, "%s: %s", path, jerr);
		goto out;
	}
	if (!found) {
		snprintf(err, errlen, "%s: no \"PrivateKey\" field", path);
		goto out;
	}
	/* The error deliberately does not echo the value: it is a secret. */
	if (key_from_hex(value, vlen, PRIVKEY_PREFIX, priv) < 0) {
		snprintf(err, errlen, "%s: \"PrivateKey\" is not \"privkey:\" + 64 hex digits",
			 path);
		goto out;
	}
	if (sodium_is_zero(priv, KEY_LEN)) {
		snprintf(err, errlen, "%s: \"PrivateKey\" is all zeros", path);
		goto out;
	}
	ret = 0;
out:
	sodium_memzero(value, sizeof(value));
	return ret;
}

/* Creates dir and its missing parents with mode 0700 (like mkdir -p). */
static int make_dirs(const char *dir, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(tmp)) {
		snprintf(err, errlen, "%s: bad directory name", dir);
		return -1;
	}
	memcpy(tmp, dir, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		char saved = tmp[i];

		tmp[i] = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "%s: mkdir: %s", tmp, strerror(errno));
			return -1;
		}
		tmp[i] = saved;
	}
	return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Makes a rename durable: the directory entry must reach the disk too. */
static void fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/*
 * Moves tmp to path unless path exists. Returns 0, 1 if path appeared in the
 * meantime (another process created it), or -1 with errno set.
 */
static int rename_noreplace(const char *tmp, const char *path)
{
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EEXIST)
		return 1;
	/* Some file systems lack RENAME_NOREPLACE; a plain rename is still atomic. */
	if (errno == EINVAL || errno == ENOSYS)
		return rename(tmp, path) == 0 ? 0 : -1;
	return -1;
}

int private_file_create(const char *path, const char *text, size_t len, char *err, size_t errlen)
{
	char dir[PATH_MAX], tmp[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, n, ret;

	if (!slash) {
		snprintf(dir, sizeof(dir), ".");
	} else if (slash == path) {
		snprintf(dir, sizeof(dir), "/");
	} else {
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	}
	if (strcmp(dir, ".") != 0 && strcmp(dir, "/") != 0 && make_dirs(dir, err, errlen) < 0)
		return -1;

	n = snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	/* mkstemp creates the file with mode 0600 and O_EXCL. */
	fd = mkstemp(tmp);
	if (fd < 0) {
		snprintf(err, errlen, "%s: creating temporary file: %s", path, strerror(errno));
		return -1;
	}
	if (fchmod(fd, 0600) < 0 || write_all(fd, text, len) < 0 || fsync(fd) < 0) {
		snprintf(err, errlen, "%s: writing %s: %s", path, tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) < 0) {
		snprintf(err, errlen, "%s: closing %s: %s", path, tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	ret = rename_noreplace(tmp, path);
	if (ret < 0)
		snprintf(err, errlen, "%s: rename: %s", path, strerror(errno));
	if (ret != 0)
		unlink(tmp);
	if (ret == 0)
		fsync_dir(dir);
	return ret;
}

static int key_file_create(const char *path, const uint8_t priv[KEY_LEN], char *err, size_t errlen)
{
	char text[64 + KEY_HEX_LEN];
	char hex[KEY_HEX_LEN + 1];
	int n, ret;

	key_to_hex(priv, hex);
	/* Same bytes as derper writes: MarshalIndent with a tab, no final newline. */
	n = snprintf(text, sizeof(text), "{\n\t\"PrivateKey\": \"" PRIVKEY_PREFIX "%s\"\n}", hex);
	ret = private_file_create(path, text, (size_t)n, err, errlen);
	sodium_memzero(text, sizeof(text));
	sodium_memzero(hex, sizeof(hex));
	return ret;
}

static int key_file_load(const char *path, int fd, uint8_t priv[KEY_LEN], char *err, size_t errlen)
{
	char *buf = malloc(KEY_FILE_MAX_SIZE);
	size_t len = 0;
	int ret = -1;

	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	if (read_small_file(fd, path, buf, KEY_FILE_MAX_SIZE, &len, err, errlen) == 0)
		ret = key_file_parse(path, buf, len, priv, err, errlen);
	sodium_memzero(buf, KEY_FILE_MAX_SIZE);
	free(buf);
	return ret;
}

int key_file_load_or_create(const char *path, uint8_t priv[KEY_LEN], uint8_t pub[KEY_LEN],
			    bool *created, char *err, size_t errlen)
{
	uint8_t new_pub[KEY_LEN];

	*created = false;
	if (!path || !*path) {
		snprintf(err, errlen, "key file path is empty");
		return -1;
	}
	/* Two rounds: if another process creates the file under us, load its key. */
	for (int round = 0; round < 2; round++) {
		int fd = open_private_file(path, err, errlen);
		int r;

		if (fd >= 0) {
			r = key_file_load(path, fd, priv, err, errlen);
			close(fd);
			if (r < 0)
				return -1;
			if (key_public_from_private(priv, pub) < 0) {
				snprintf(err, errlen, "%s: unusable private key", path);
				return -1;
			}
			return 0;
		}
		if (fd == -1)
			return -1;

		key_generate(priv, new_pub);
		r = key_file_create(path, priv, err, errlen);
		if (r < 0) {
			sodium_memzero(priv, KEY_LEN);
			return -1;
		}
		if (r == 0) {
			memcpy(pub, new_pub, KEY_LEN);
			*created = true;
			return 0;
		}
		sodium_memzero(priv, KEY_LEN);
	}
	snprintf(err, errlen, "%s: file keeps appearing and disappearing", path);
	return -1;
}

/* Loads a file of 64 hex digits (white space around them allowed); what names it in errors. */
static int hex_secret_file_load(const char *path, const char *what, uint8_t out[KEY_LEN], char *err,
				size_t errlen)
{
	char buf[MESH_KEY_FILE_MAX_SIZE];
	size_t len = 0;
	int ret = -1;
	int fd;

	if (!path || !*path) {
		snprintf(err, errlen, "%s file path is empty", what);
		return -1;
	}
	fd = open_private_file(path, err, errlen);
	if (fd == -2) {
		snprintf(err, errlen, "%s: %s", path, strerror(ENOENT));
		return -1;
	}
	if (fd < 0)
		return -1;
	if (read_small_file(fd, path, buf, sizeof(buf), &len, err, errlen) == 0) {
		/* Not echoed in the error: it may be most of a valid key. */
		if (memchr(buf, '\0', len) || mesh_key_parse_len(buf, len, out) < 0)
			snprintf(err, errlen, "%s: not a %s (want 64 hex digits)", path, what);
		else
			ret = 0;
	}
	close(fd);
	sodium_memzero(buf, sizeof(buf));
	return ret;
}

int mesh_key_file_load(const char *path, uint8_t out[KEY_LEN], char *err, size_t errlen)
{
	return hex_secret_file_load(path, "mesh key", out, err, errlen);
}

int secret_file_load_or_create(const char *path, uint8_t out[KEY_LEN], bool *created, char *err,
			       size_t errlen)
{
	char hex[KEY_HEX_LEN + 2];

	*created = false;
	if (!path || !*path) {
		snprintf(err, errlen, "secret file path is empty");
		return -1;
	}
	/* Two rounds: if another process creates the file under us, load its secret. */
	for (int round = 0; round < 2; round++) {
		int fd = open_private_file(path, err, errlen);
		int r;

		if (fd >= 0) {
			close(fd);
			return hex_secret_file_load(path, "secret", out, err, errlen);
		}
		if (fd == -1)
			return -1;
		randombytes_buf(out, KEY_LEN);
		key_to_hex(out, hex);
		hex[KEY_HEX_LEN] = '\n';
		r = private_file_create(path, hex, KEY_HEX_LEN + 1, err, errlen);
		sodium_memzero(hex, sizeof(hex));
		if (r < 0) {
			sodium_memzero(out, KEY_LEN);
			return -1;
		}
		if (r == 0) {
			*created = true;
			return 0;
		}
	}
	snprintf(err, errlen, "%s: file keeps appearing and disappearing", path);
	return -1;
}
