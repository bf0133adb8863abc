// SPDX-License-Identifier: MIT
/*
 * Unit tests for key.c: text forms, parsing, generation, and the key files.
 * Vectors from derp-protocol.md sections 3.4, 5 and 8.1.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "key.h"

/* types/key/node_test.go TestNodeSerialization (derp-protocol.md 3.4). */
static const char vec_priv_hex[] =
    "40ab1b58e9076c7a4d9d07291f5edf9d1aa017eb949624ba683317f48a640369";
static const char vec_pub_hex[] =
    "50d20b455ecf12bc453f83c2cfdb2a24925d06cf2598dcaa54e91af82ce9f765";
static const char mesh_hex[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static void parse_hex(const char *hex, uint8_t out[KEY_LEN])
{
	assert_int_equal(key_from_hex(hex, strlen(hex), NULL, out), 0);
}

static void test_text_forms(void **state)
{
	uint8_t pub[KEY_LEN];
	char hex[KEY_HEX_LEN + 1];
	char nodekey[8 + KEY_HEX_LEN + 1];
	char shortform[8];

	(void)state;
	parse_hex(vec_pub_hex, pub);
	key_to_hex(pub, hex);
	assert_string_equal(hex, vec_pub_hex);
	key_to_nodekey(pub, nodekey);
	assert_string_equal(nodekey,
			    "nodekey:50d20b455ecf12bc453f83c2cfdb2a24925d06cf2598dcaa54e91af"
			    "82ce9f765");
	key_to_short(pub, shortform);
	assert_string_equal(shortform, "[UNILR]");
}

static void test_short_form_of_zero_key_is_empty(void **state)
{
	uint8_t zero[KEY_LEN] = { 0 };
	uint8_t one[KEY_LEN] = { 0 };
	char s[8];

	(void)state;
	key_to_short(zero, s);
	assert_string_equal(s, "");
	one[31] = 1; /* only the first 4 bytes show */
	key_to_short(one, s);
	assert_string_equal(s, "[AAAAA]");
}

static void test_public_from_private_vector(void **state)
{
	uint8_t priv[KEY_LEN], pub[KEY_LEN], want[KEY_LEN];

	(void)state;
	parse_hex(vec_priv_hex, priv);
	parse_hex(vec_pub_hex, want);
	assert_int_equal(key_public_from_private(priv, pub), 0);
	assert_memory_equal(pub, want, KEY_LEN);
}

static void test_from_hex_prefixes(void **state)
{
	uint8_t k[KEY_LEN], want[KEY_LEN];
	char text[128];

	(void)state;
	parse_hex(vec_pub_hex, want);

	snprintf(text, sizeof(text), "nodekey:%s", vec_pub_hex);
	assert_int_equal(key_from_hex(text, strlen(text), "nodekey:", k), 0);
	assert_memory_equal(k, want, KEY_LEN);
	/* A prefix is required when asked for, and must match exactly. */
	assert_int_equal(key_from_hex(vec_pub_hex, 64, "nodekey:", k), -1);
	assert_int_equal(key_from_hex(text, strlen(text), "privkey:", k), -1);
	assert_int_equal(key_from_hex(text, strlen(text), NULL, k), -1);
	snprintf(text, sizeof(text), "NODEKEY:%s", vec_pub_hex);
	assert_int_equal(key_from_hex(text, strlen(text), "nodekey:", k), -1);

	snprintf(text, sizeof(text), "privkey:%s", vec_priv_hex);
	assert_int_equal(key_from_hex(text, strlen(text), "privkey:", k), 0);
}

static void test_from_hex_case_and_length(void **state)
{
	uint8_t k[KEY_LEN], want[KEY_LEN];
	char text[80];

	(void)state;
	parse_hex(vec_pub_hex, want);
	for (size_t i = 0; i < 64; i++)
		text[i] = (char)(vec_pub_hex[i] >= 'a' ? vec_pub_hex[i] - 32 : vec_pub_hex[i]);
	text[64] = '\0';
	assert_int_equal(key_from_hex(text, 64, NULL, k), 0);
	assert_memory_equal(k, want, KEY_LEN);

	assert_int_equal(key_from_hex(vec_pub_hex, 63, NULL, k), -1);
	snprintf(text, sizeof(text), "%s0", vec_pub_hex);
	assert_int_equal(key_from_hex(text, 65, NULL, k), -1);
	assert_int_equal(key_from_hex("", 0, NULL, k), -1);
	assert_int_equal(key_from_hex(NULL, 0, NULL, k), -1);

	/* A bad digit anywhere fails, and leaves out untouched. */
	memset(k, 0xaa, sizeof(k));
	snprintf(text, sizeof(text), "%s", vec_pub_hex);
	text[63] = 'g';
	assert_int_equal(key_from_hex(text, 64, NULL, k), -1);
	text[63] = '5';
	text[0] = ' ';
	assert_int_equal(key_from_hex(text, 64, NULL, k), -1);
	for (size_t i = 0; i < KEY_LEN; i++)
		assert_int_equal(k[i], 0xaa);
}

static void test_mesh_key_parse_valid(void **state)
{
	uint8_t k[KEY_LEN], want[KEY_LEN];
	char hex[KEY_HEX_LEN + 1], text[160];

	(void)state;
	parse_hex(mesh_hex, want);
	assert_int_equal(mesh_key_parse(mesh_hex, k), 0);
	assert_memory_equal(k, want, KEY_LEN);

	/* Upper case is valid and prints as lower case. */
	for (size_t i = 0; i <= 64; i++)
		text[i] = (char)(mesh_hex[i] >= 'a' ? mesh_hex[i] - 32 : mesh_hex[i]);
	assert_int_equal(mesh_key_parse(text, k), 0);
	key_to_hex(k, hex);
	assert_string_equal(hex, mesh_hex);

	/* Surrounding white space is trimmed (TestSetMeshKey, TestCheckMeshKey). */
	snprintf(text, sizeof(text), "  %s  ", mesh_hex);
	assert_int_equal(mesh_key_parse(text, k), 0);
	assert_memory_equal(k, want, KEY_LEN);
	snprintf(text, sizeof(text), "\t\r\n%s\n\v\f", mesh_hex);
	assert_int_equal(mesh_key_parse(text, k), 0);
	/* Go's TrimSpace also trims Unicode spaces: NBSP, U+2003, U+3000. */
	snprintf(text, sizeof(text), "\xc2\xa0%s\xe2\x80\x83\xe3\x80\x80", mesh_hex);
	assert_int_equal(mesh_key_parse(text, k), 0);
	assert_memory_equal(k, want, KEY_LEN);

	assert_int_equal(
	    mesh_key_parse("f1ffafffffffffffffffffffffffffffffffffffffffffffffffff2ffffcfff6", k),
	    0);
}

static void test_mesh_key_parse_invalid(void **state)
{
	uint8_t k[KEY_LEN];
	char text[160];

	(void)state;
	assert_int_equal(mesh_key_parse("badf00d", k), -1);
	assert_int_equal(mesh_key_parse("0123456789abcdef", k), -1); /* 16 digits */
	snprintf(text, sizeof(text), "%s0", mesh_hex);		     /* 65 digits */
	assert_int_equal(mesh_key_parse(text, k), -1);
	snprintf(text, sizeof(text), "%.63s", mesh_hex); /* 63 digits */
	assert_int_equal(mesh_key_parse(text, k), -1);
	assert_int_equal(mesh_key_parse("zzthisisnotakey", k), -1);
	assert_int_equal(mesh_key_parse("", k), -1);
	assert_int_equal(mesh_key_parse("   ", k), -1);
	assert_int_equal(mesh_key_parse(NULL, k), -1);
	/* Space inside the key is not trimmed. */
	snprintf(text, sizeof(text), "%.32s %s", mesh_hex, mesh_hex + 32);
	assert_int_equal(mesh_key_parse(text, k), -1);
	/* 64 chars but one is not hex. */
	snprintf(text, sizeof(text), "%.63sx", mesh_hex);
	assert_int_equal(mesh_key_parse(text, k), -1);
	/* A non-space Unicode rune around the key is not trimmed. */
	snprintf(text, sizeof(text), "\xc2\xa1%s", mesh_hex);
	assert_int_equal(mesh_key_parse(text, k), -1);
}

static void test_equal_ct(void **state)
{
	uint8_t a[KEY_LEN], b[KEY_LEN];

	(void)state;
	parse_hex(mesh_hex, a);
	memcpy(b, a, KEY_LEN);
	assert_true(key_equal_ct(a, b));
	b[31] ^= 1;
	assert_false(key_equal_ct(a, b));
	b[31] ^= 1;
	b[0] ^= 0x80;
	assert_false(key_equal_ct(a, b));
}

static void test_generate(void **state)
{
	uint8_t priv1[KEY_LEN], pub1[KEY_LEN], priv2[KEY_LEN], pub2[KEY_LEN], check[KEY_LEN];

	(void)state;
	key_generate(priv1, pub1);
	key_generate(priv2, pub2);
	assert_memory_not_equal(priv1, priv2, KEY_LEN);
	assert_memory_not_equal(pub1, pub2, KEY_LEN);
	/* Clamped at creation. */
	assert_int_equal(priv1[0] & 7, 0);
	assert_int_equal(priv1[31] & 0xc0, 0x40);
	assert_int_equal(key_public_from_private(priv1, check), 0);
	assert_memory_equal(check, pub1, KEY_LEN);
}

/* ---- key files ---- */

struct tmp_dir {
	char path[256];
};

static int setup_dir(void **state)
{
	struct tmp_dir *d = calloc(1, sizeof(*d));

	if (!d)
		return -1;
	snprintf(d->path, sizeof(d->path), "/tmp/hd-test-key-XXXXXX");
	if (!mkdtemp(d->path)) {
		free(d);
		return -1;
	}
	umask(022);
	*state = d;
	return 0;
}

/* rm -r of the few levels these tests create. */
static void remove_tree(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *e;

	if (!dir) {
		unlink(path);
		return;
	}
	while ((e = readdir(dir))) {
		char sub[512];

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		remove_tree(sub);
	}
	closedir(dir);
	rmdir(path);
}

static int teardown_dir(void **state)
{
	struct tmp_dir *d = *state;

	remove_tree(d->path);
	free(d);
	return 0;
}

static void write_file(const char *path, const char *text, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static size_t count_entries(const char *dirpath)
{
	DIR *dir = opendir(dirpath);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(dir);
	while ((e = readdir(dir))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	}
	closedir(dir);
	return n;
}

static void test_key_file_create_then_load(void **state)
{
	struct tmp_dir *d = *state;
	char dir[300], path[320], err[512], want[128], got[256], hex[KEY_HEX_LEN + 1];
	uint8_t priv[KEY_LEN], pub[KEY_LEN], priv2[KEY_LEN], pub2[KEY_LEN], check[KEY_LEN];
	bool created = false;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/a/b", d->path);
	snprintf(path, sizeof(path), "%s/derper.key", dir);
	assert_int_equal(key_file_load_or_create(path, priv, pub, &created, err, sizeof(err)), 0);
	assert_true(created);
	assert_int_equal(key_public_from_private(priv, check), 0);
	assert_memory_equal(check, pub, KEY_LEN);

	/* Mode 0600 file, 0700 directories, nothing else left behind. */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(count_entries(dir), 1);

	/* Exactly what derper writes. */
	key_to_hex(priv, hex);
	snprintf(want, sizeof(want), "{\n\t\"PrivateKey\": \"privkey:%s\"\n}", hex);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	ssize_t n = read(fd, got, sizeof(got) - 1);
	close(fd);
	assert_true(n > 0);
	got[n] = '\0';
	assert_string_equal(got, want);

	assert_int_equal(key_file_load_or_create(path, priv2, pub2, &created, err, sizeof(err)), 0);
	assert_false(created);
	assert_memory_equal(priv2, priv, KEY_LEN);
	assert_memory_equal(pub2, pub, KEY_LEN);
}

static void test_key_file_known_vector(void **state)
{
	struct tmp_dir *d = *state;
	char path[300], text[256], err[512];
	uint8_t priv[KEY_LEN], pub[KEY_LEN], want[KEY_LEN];
	bool created = true;

	snprintf(path, sizeof(path), "%s/k.json", d->path);
	/* Other fields, other key case, odd white space: Go's decoder takes them. */
	snprintf(text, sizeof(text),
		 " {\"Other\": [1, {\"x\": null}], \"privatekey\" :\r\n \"privkey:%s\", "
		 "\"Z\": true}\n",
		 vec_priv_hex);
	write_file(path, text, strlen(text), 0600);
	assert_int_equal(key_file_load_or_create(path, priv, pub, &created, err, sizeof(err)), 0);
	assert_false(created);
	parse_hex(vec_pub_hex, want);
	assert_memory_equal(pub, want, KEY_LEN);
	parse_hex(vec_priv_hex, want);
	assert_memory_equal(priv, want, KEY_LEN);

	/* Read-only for the owner is fine too. */
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(key_file_load_or_create(path, priv, pub, &created, err, sizeof(err)), 0);
}

static void test_key_file_refuses_readable_by_others(void **state)
{
	struct tmp_dir *d = *state;
	char path[300], text[256], err[512], want[400];
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
	bool created;

	snprintf(path, sizeof(path), "%s/open.key", d->path);
	snprintf(text, sizeof(text), "{\"PrivateKey\": \"privkey:%s\"}", vec_priv_hex);
	write_file(path, text, strlen(text), 0644);
	assert_int_equal(key_file_load_or_create(path, priv, pub, &created, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: mode 0644 is readable by group/others; chmod 600 it",
		 path);
	assert_string_equal(err, want);

	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(key_file_load_or_create(path, priv, pub, &created, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "mode 0640"));
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(key_file_load_or_create(path, priv, pub, &created, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "mode 0604"));
}

static void expect_key_file_error(const char *dir, const char *content, const char *want_part)
{
	char path[512], err[512];
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
	bool created = true;

	snprintf(path, sizeof(path), "%s/bad.key", dir);
	write_file(path, content, strlen(content), 0600);
	err[0] = '\0';
	assert_int_equal(key_file_load_or_create(path, priv, pub, &created, err, sizeof(err)), -1);
	assert_false(created);
	/* Every error names the file. */
	assert_non_null(strstr(err, path));
	if (!strstr(err, want_part))
		fail_msg("error \"%s\" lacks \"%s\"", err, want_part);
}

static void test_key_file_bad_content(void **state)
{
	struct tmp_dir *d = *state;
	char text[256];

	expect_key_file_error(d->path, "", "invalid JSON");
	expect_key_file_error(d->path, "{", "invalid JSON");
	expect_key_file_error(d->path, "[]", "invalid JSON");
	expect_key_file_error(d->path, "{}", "no \"PrivateKey\"");
	expect_key_file_error(d->path, "null", "no \"PrivateKey\"");
	expect_key_file_error(d->path, "{\"PrivateKey\": 5}", "invalid JSON");
	expect_key_file_error(d->path, "{\"PrivateKey\": \"privkey:00\"}", "64 hex");
	snprintf(text, sizeof(text), "{\"PrivateKey\": \"nodekey:%s\"}", vec_priv_hex);
	expect_key_file_error(d->path, text, "64 hex");
	snprintf(text, sizeof(text), "{\"PrivateKey\": \"privkey:%s\"} x", vec_priv_hex);
	expect_key_file_error(d->path, text, "trailing");
	snprintf(text, sizeof(text), "{\"PrivateKey\": \"privkey:%064d\"}", 0);
	expect_key_file_error(d->path, text, "all zeros");
}

static void test_key_file_errors_on_paths(void **state)
{
	struct tmp_dir *d = *state;
	char path[512], err[512];
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
	bool created;

	/* A directory is not a key file. */
	assert_int_equal(key_file_load_or_create(d->path, priv, pub, &created, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, d->path));
	assert_int_equal(key_file_load_or_create("", priv, pub, &created, err, sizeof(err)), -1);

	/* Parent is a regular file: cannot create. */
	snprintf(path, sizeof(path), "%s/plain", d->path);
	write_file(path, "x", 1, 0600);
	snprintf(path, sizeof(path), "%s/plain/sub/derper.key", d->path);
	assert_int_equal(key_file_load_or_create(path, priv, pub, &created, err, sizeof(err)), -1);
	assert_false(created);

	if (geteuid() != 0) {
		char ro[400];

		/* Unwritable directory: the error names the key path. */
		snprintf(ro, sizeof(ro), "%s/ro", d->path);
		assert_int_equal(mkdir(ro, 0500), 0);
		snprintf(path, sizeof(path), "%s/derper.key", ro);
		assert_int_equal(
		    key_file_load_or_create(path, priv, pub, &created, err, sizeof(err)), -1);
		assert_non_null(strstr(err, path));
		chmod(ro, 0700);
	}
}

/* A secret file: made once (0600, 64 hex digits), then the same secret loaded back. */
static void test_secret_file(void **state)
{
	struct tmp_dir *d = *state;
	char path[300], err[512];
	uint8_t a[KEY_LEN], b[KEY_LEN], zero[KEY_LEN] = { 0 };
	bool created = false;
	struct stat st;

	snprintf(path, sizeof(path), "%s/sub/hd-token.secret", d->path);
	assert_int_equal(secret_file_load_or_create(path, a, &created, err, sizeof(err)), 0);
	assert_true(created);
	assert_memory_not_equal(a, zero, KEY_LEN);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, KEY_HEX_LEN + 1);

	assert_int_equal(secret_file_load_or_create(path, b, &created, err, sizeof(err)), 0);
	assert_false(created);
	assert_memory_equal(a, b, KEY_LEN);

	/* Readable by others: refused, named, and left as it is. */
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(secret_file_load_or_create(path, b, &created, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	assert_int_equal(chmod(path, 0600), 0);
	write_file(path, "short\n", 6, 0600);
	assert_int_equal(secret_file_load_or_create(path, b, &created, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a secret (want 64 hex digits)"));
}

static void test_mesh_key_file(void **state)
{
	struct tmp_dir *d = *state;
	char path[300], text[256], err[512];
	uint8_t k[KEY_LEN], want[KEY_LEN];

	parse_hex(mesh_hex, want);
	snprintf(path, sizeof(path), "%s/mesh.key", d->path);
	snprintf(text, sizeof(text), "%s\n", mesh_hex);
	write_file(path, text, strlen(text), 0600);
	assert_int_equal(mesh_key_file_load(path, k, err, sizeof(err)), 0);
	assert_memory_equal(k, want, KEY_LEN);

	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(mesh_key_file_load(path, k, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "mode 0644 is readable by group/others; chmod 600 it"));
	assert_non_null(strstr(err, path));

	write_file(path, "badf00d\n", 8, 0600);
	assert_int_equal(mesh_key_file_load(path, k, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));

	/* A NUL byte in the file is not white space. */
	memcpy(text, mesh_hex, 64);
	text[64] = '\0';
	text[65] = '\n';
	write_file(path, text, 66, 0600);
	assert_int_equal(mesh_key_file_load(path, k, err, sizeof(err)), -1);

	snprintf(path, sizeof(path), "%s/missing.key", d->path);
	assert_int_equal(mesh_key_file_load(path, k, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_forms),
		cmocka_unit_test(test_short_form_of_zero_key_is_empty),
		cmocka_unit_test(test_public_from_private_vector),
		cmocka_unit_test(test_from_hex_prefixes),
		cmocka_unit_test(test_from_hex_case_and_length),
		cmocka_unit_test(test_mesh_key_parse_valid),
		cmocka_unit_test(test_mesh_key_parse_invalid),
		cmocka_unit_test(test_equal_ct),
		cmocka_unit_test(test_generate),
		cmocka_unit_test_setup_teardown(test_key_file_create_then_load, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_key_file_known_vector, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_key_file_refuses_readable_by_others, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_key_file_bad_content, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_key_file_errors_on_paths, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_mesh_key_file, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_secret_file, setup_dir, teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
