/* SPDX-License-Identifier: MIT */
/* The release, for --version, `show status`, /debug/ and /debug/varz. */
#ifndef HD_VERSION_H
#define HD_VERSION_H

#define HD_VERSION "0.1.0"

#endif
