// SPDX-License-Identifier: MIT
/*
 * Load generator and sink for perf/wg_bench.sh.
 *
 *   wg_gen send IFNAME DSTMAC SRC_IP:PORT DST_IP:PORT PAYLOAD SECONDS
 *       Sends well-formed WireGuard transport messages of PAYLOAD bytes
 *       (UDP payload, at least 32) as fast as it can for SECONDS, as
 *       prebuilt Ethernet frames through an AF_PACKET socket that bypasses
 *       the qdisc: a kernel UDP socket would cap the offered rate below what
 *       the XDP paths forward. Prints "sent N".
 *   wg_gen sink IP:PORT SECONDS
 *       Binds the port and never reads, so forwarded datagrams end there
 *       without ICMP errors; the bench counts them at the interface.
 */
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH	  64
#define MAX_FRAME 1600

static int parse_ep(const char *text, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(text, ':');

	if (!colon || (size_t)(colon - text) >= sizeof(host))
		return -1;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static uint16_t csum(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A frame with complete checksums, as a NIC would deliver it. */
static size_t build_frame(uint8_t *f, const uint8_t smac[6], const uint8_t dmac[6],
			  const struct sockaddr_in *src, const struct sockaddr_in *dst,
			  size_t payload)
{
	struct ethhdr *eth = (struct ethhdr *)f;
	struct iphdr *ip = (struct iphdr *)(eth + 1);
	struct udphdr *udp = (struct udphdr *)(ip + 1);
	uint8_t *msg = (uint8_t *)(udp + 1);
	uint32_t sum = 0;

	memcpy(eth->h_dest, dmac, 6);
	memcpy(eth->h_source, smac, 6);
	eth->h_proto = htons(ETH_P_IP);
	*ip = (struct iphdr){ .version = 4, .ihl = 5, .ttl = 64, .protocol = IPPROTO_UDP };
	ip->tot_len = htons((uint16_t)(sizeof(*ip) + sizeof(*udp) + payload));
	ip->frag_off = htons(0x4000);
	ip->saddr = src->sin_addr.s_addr;
	ip->daddr = dst->sin_addr.s_addr;
	ip->check = htons(csum(ip, sizeof(*ip), 0));
	udp->source = src->sin_port;
	udp->dest = dst->sin_port;
	udp->len = htons((uint16_t)(sizeof(*udp) + payload));
	memset(msg, 0, payload);
	msg[0] = 4; /* transport, receiver index 0x01020304 */
	msg[4] = 1, msg[5] = 2, msg[6] = 3, msg[7] = 4;
	for (size_t i = 16; i < payload; i++)
		msg[i] = (uint8_t)i;
	sum += ntohs((uint16_t)(ip->saddr & 0xffff)) + ntohs((uint16_t)(ip->saddr >> 16));
	sum += ntohs((uint16_t)(ip->daddr & 0xffff)) + ntohs((uint16_t)(ip->daddr >> 16));
	sum += IPPROTO_UDP + (uint32_t)(sizeof(*udp) + payload);
	uint16_t c = csum(udp, sizeof(*udp) + payload, sum);
	udp->check = htons(c ? c : 0xffff);
	return sizeof(*eth) + sizeof(*ip) + sizeof(*udp) + payload;
}

static int do_send(char **argv)
{
	static uint8_t frame[MAX_FRAME];
	struct sockaddr_in src, dst;
	uint8_t smac[6], dmac[6];
	struct ifreq ifr = { 0 };
	size_t payload = strtoul(argv[6], NULL, 10);
	double seconds = atof(argv[7]);
	int one = 1;

	if (sscanf(argv[3], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &dmac[0], &dmac[1], &dmac[2], &dmac[3],
		   &dmac[4], &dmac[5]) != 6 ||
	    parse_ep(argv[4], &src) < 0 || parse_ep(argv[5], &dst) < 0 || payload < 32 ||
	    payload > MAX_FRAME - 42) {
		fprintf(stderr, "wg_gen: bad arguments\n");
		return 2;
	}
	int fd = socket(AF_PACKET, SOCK_RAW, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[2]);
	if (fd < 0 || ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		perror("wg_gen: AF_PACKET");
		return 1;
	}
	memcpy(smac, ifr.ifr_hwaddr.sa_data, 6);
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	struct sockaddr_ll ll = {
		.sll_family = AF_PACKET,
		.sll_ifindex = (int)if_nametoindex(argv[2]),
		.sll_halen = 6,
	};
	memcpy(ll.sll_addr, dmac, 6);
	size_t len = build_frame(frame, smac, dmac, &src, &dst, payload);

	struct iovec iov = { .iov_base = frame, .iov_len = len };
	struct mmsghdr msgs[BATCH];
	for (int i = 0; i < BATCH; i++)
		msgs[i].msg_hdr = (struct msghdr){
			.msg_name = &ll, .msg_namelen = sizeof(ll), .msg_iov = &iov, .msg_iovlen = 1
		};
	uint64_t sent = 0;
	double end = now_s() + seconds;
	while (now_s() < end) {
		for (int k = 0; k < 16; k++) {
			int n = sendmmsg(fd, msgs, BATCH, 0);
			if (n > 0)
				sent += (uint64_t)n;
		}
	}
	printf("sent %llu\n", (unsigned long long)sent);
	return 0;
}

static int do_sink(char **argv)
{
	struct sockaddr_in sa;
	int small = 4096;

	if (parse_ep(argv[2], &sa) < 0)
		return 2;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("wg_gen: sink bind");
		return 1;
	}
	sleep((unsigned)atoi(argv[3]));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 8 && strcmp(argv[1], "send") == 0)
		return do_send(argv);
	if (argc == 4 && strcmp(argv[1], "sink") == 0)
		return do_sink(argv);
	fprintf(stderr, "usage: wg_gen send IFNAME DSTMAC SRC_IP:PORT DST_IP:PORT PAYLOAD SECONDS\n"
			"       wg_gen sink IP:PORT SECONDS\n");
	return 2;
}
