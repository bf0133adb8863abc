/* SPDX-License-Identifier: MIT */
/* The outbound mesh's client threads (mesh_client.c; shared state: mesh_link.h). */
#ifndef HD_MESH_CLIENT_H
#define HD_MESH_CLIENT_H

#include <stddef.h>

#include "mesh_keys.h"
#include "relay.h"

/*
 * Starts one thread per mesh.with entry, after the workers. Returns 0
 * (also with no entries), or -1 logged (mesh.with without a mesh key).
 */
int mesh_start(struct relay *r);
/* Stops them and waits; before the workers stop, whose rings they use. */
void mesh_stop(struct relay *r);

/*
 * A copy of the keys homed on the mesh peers (link: a mesh.with index, or
 * -1 for all), for the management thread. *out is malloc'd (free it), *n
 * entries, in no order. 0, or -1 out of memory.
 */
int mesh_keys_snapshot(int link, struct mesh_key_info **out, size_t *n);

#endif
