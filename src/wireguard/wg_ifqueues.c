// SPDX-License-Identifier: MIT
/*
 * How many RX queues an interface has now, for wireguard.queues. The
 * driver's channel counts (ETHTOOL_GCHANNELS, what `ethtool -l` prints) are
 * the truth: a NIC may have allocated more queues than it uses. Drivers
 * without channel support (some virtual ones) are counted from sysfs, whose
 * rx-N directories follow the queues in use; what has neither has one.
 */
#include "wg_ifqueues.h"

#include <dirent.h>
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wg_text.h"

static int channels_of(const char *ifname)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc;

	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (char *)&ch;
	rc = ioctl(fd, SIOCETHTOOL, &ifr);
	close(fd);
	if (rc < 0)
		return -1;
	/* Combined channels carry RX; rx_count adds RX-only ones after them. */
	int n = (int)(ch.combined_count + ch.rx_count);
	return n > 0 ? n : -1;
}

static int sysfs_rx_queues(const char *ifname)
{
	char path[96];
	struct dirent *e;
	int n = 0;

	snprintf(path, sizeof(path), "/sys/class/net/%s/queues", ifname);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += strncmp(e->d_name, "rx-", 3) == 0;
	closedir(d);
	return n > 0 ? n : -1;
}

int wg_ifqueues_count(const char *ifname)
{
	int n = channels_of(ifname);

	if (n < 0)
		n = sysfs_rx_queues(ifname);
	return n > 0 ? n : 1;
}

int wg_ifqueues_pick(const struct wg_queue_spec *spec, const char *ifname, uint64_t *mask,
		     char *err, size_t errlen)
{
	int have = wg_ifqueues_count(ifname);
	uint64_t all = have >= WG_MAX_QUEUES ? ~0ull : (1ull << have) - 1;

	if (spec->all) {
		*mask = all;
		return 0;
	}
	if (spec->mask & ~all) {
		int q = 63 - __builtin_clzll(spec->mask);
		return wg_err(err, errlen,
			      "%s has %d RX queue%s; wireguard.queues asks for queue %d", ifname,
			      have, have == 1 ? "" : "s", q);
	}
	*mask = spec->mask;
	return 0;
}
