// SPDX-License-Identifier: MIT
#include "admission_answer.h"

#include "json_reader.h"

int admission_answer_allows(const char *body, size_t len, bool *allow)
{
	struct json_in in = { .s = body, .len = len };
	bool first = true;
	char name[JSON_NAME_MAX + 1];
	struct json_str key = { .buf = name, .cap = sizeof(name) };
	*allow = false;
	json_skip_ws(&in);
	if (json_enter(&in, '{') < 0)
		return -1;
	for (;;) {
		int r = json_object_next(&in, &first, &key);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		json_skip_ws(&in);
		if (json_name_matches(&key, "ALLOW")) {
			if (json_peek(&in) == 't') {
				if (json_literal(&in, "true") < 0)
					return -1;
				*allow = true;
				continue;
			}
			if (json_peek(&in) == 'f') {
				if (json_literal(&in, "false") < 0)
					return -1;
				*allow = false;
				continue;
			}
			if (json_peek(&in) == 'n') {
				if (json_literal(&in, "null") < 0)
					return -1;
				continue;
			}
			return -1;
		}
		if (json_skip_value(&in) < 0)
			return -1;
	}
	/* Go's Decoder reads one value: what follows it is not looked at. */
	return 0;
}
