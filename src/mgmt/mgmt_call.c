// SPDX-License-Identifier: MIT
/*
 * What a command handler reports back through its call: status names,
 * errors, event subscription. Apart from the command table so that the
 * request parser can be linked (and fuzzed) without every handler.
 */
#include "mgmt_command.h"

#include <stdarg.h>
#include <stdio.h>

const char *mgmt_status_name(enum mgmt_status status)
{
	switch (status) {
	case MGMT_OK:
		return "ok";
	case MGMT_E_USAGE:
		return "usage";
	case MGMT_E_FAILED:
		return "failed";
	case MGMT_E_BUSY:
		return "busy";
	case MGMT_E_PROTOCOL:
		return "protocol";
	}
	return "failed";
}

int mgmt_error(struct mgmt_call *call, enum mgmt_status status, const char *fmt, ...)
{
	va_list ap;

	call->status = status;
	va_start(ap, fmt);
	vsnprintf(call->error, sizeof(call->error), fmt, ap);
	va_end(ap);
	return -1;
}

void mgmt_subscribe_events(struct mgmt_call *call)
{
	call->subscribe_events = true;
}
