/* SPDX-License-Identifier: MIT */
/*
 * The admission controller's answer, tailcfg.DERPAdmitClientResponse: a
 * JSON object whose "Allow" (matched case-insensitively, as Go's
 * encoding/json does) says whether the client may connect. Other fields
 * are skipped (validated); null leaves Allow false; any other type is an
 * error. As Go's json.Decoder reads one value, bytes after the object are
 * not looked at.
 */
#ifndef HD_ADMISSION_ANSWER_H
#define HD_ADMISSION_ANSWER_H

#include <stdbool.h>
#include <stddef.h>

/* Returns 0 with *allow set, or -1 when body is not such an object. */
int admission_answer_allows(const char *body, size_t len, bool *allow);

#endif
