/* SPDX-License-Identifier: MIT */
/*
 * The AF_XDP port backend (port.h): one XSK bound to one queue of one
 * interface, copy mode (what veth and most virtual NICs offer), need_wakeup,
 * its own UMEM.
 */
#ifndef HD_PORT_XSK_H
#define HD_PORT_XSK_H

#include <stddef.h>

#include "port.h"

/* Creates the XSK on one RX/TX queue of ifindex. NULL with the reason in err. */
struct port *port_xsk_open(int ifindex, const char *ifname, uint16_t queue, char *err,
			   size_t errlen);

#endif
