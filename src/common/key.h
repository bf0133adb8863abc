/* SPDX-License-Identifier: MIT */
/*
 * Curve25519 node keys and their text forms, as Tailscale writes them:
 * "nodekey:<64 lowercase hex>" for public keys, "privkey:<64 hex>" for
 * private ones, and the derper key file {"PrivateKey": "privkey:..."}.
 */
#ifndef HD_KEY_H
#define HD_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEY_LEN	    32
#define KEY_HEX_LEN 64

/* Writes 64 lowercase hex digits and a NUL into out (65 bytes). */
void key_to_hex(const uint8_t key[KEY_LEN], char out[KEY_HEX_LEN + 1]);
/* Writes "nodekey:" + hex + NUL into out (73 bytes). */
void key_to_nodekey(const uint8_t key[KEY_LEN], char out[8 + KEY_HEX_LEN + 1]);
/*
 * Short debug form "[ABCDE]": first 5 chars of standard base64 (8 bytes incl.
 * NUL). The all-zero key gives "", as Go prints it.
 */
void key_to_short(const uint8_t key[KEY_LEN], char out[8]);

/*
 * Parses exactly 64 hex digits (either case) of length len. With a non-NULL
 * prefix ("nodekey:", "privkey:") the text must start with it. Returns 0 or -1.
 */
int key_from_hex(const char *text, size_t len, const char *prefix, uint8_t out[KEY_LEN]);

/* Mesh key text: whitespace trimmed, then exactly 64 hex digits. Returns 0 or -1. */
int mesh_key_parse(const char *text, uint8_t out[KEY_LEN]);

/* Constant-time comparison of two keys (libsodium sodium_memcmp). */
bool key_equal_ct(const uint8_t a[KEY_LEN], const uint8_t b[KEY_LEN]);

/* Generates a clamped Curve25519 private key and its public key. */
void key_generate(uint8_t priv[KEY_LEN], uint8_t pub[KEY_LEN]);
/* Computes the public key of a private key (crypto_scalarmult_base). */
int key_public_from_private(const uint8_t priv[KEY_LEN], uint8_t pub[KEY_LEN]);

/*
 * Loads the server key from path, a JSON file {"PrivateKey": "privkey:<hex>"}
 * (other fields ignored). If the file does not exist, a new key is generated
 * and written atomically (temp file in the same directory, fsync, rename) with
 * mode 0600; the directory is created (0700) if missing. A file readable by
 * group or others is refused. On error returns -1 and writes a one-line reason
 * that names the path into err. *created tells whether a new key was made.
 */
int key_file_load_or_create(const char *path, uint8_t priv[KEY_LEN], uint8_t pub[KEY_LEN],
			    bool *created, char *err, size_t errlen);

/*
 * Reads a mesh key file: its content (trimmed) must be 64 hex digits. Refused if
 * group/world readable. Returns 0 or -1 with err set.
 */
int mesh_key_file_load(const char *path, uint8_t out[KEY_LEN], char *err, size_t errlen);

/*
 * Writes a new file of len bytes with mode 0600, atomically: a reader sees
 * either no file or all of it. The directory is created (0700) if missing.
 * Returns 0, 1 if the file appeared meanwhile (nothing written), or -1 with
 * err set.
 */
int private_file_create(const char *path, const char *text, size_t len, char *err, size_t errlen);

/*
 * A 32-byte secret kept as 64 hex digits (the mesh key file's form): loaded
 * if path exists (refused if group/world readable), else made at random and
 * written as private_file_create does. Returns 0 or -1 with err set.
 */
int secret_file_load_or_create(const char *path, uint8_t out[KEY_LEN], bool *created, char *err,
			       size_t errlen);

#endif
