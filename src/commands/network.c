/* guest-network-get-interfaces, guest-network-get-route. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctx.h"
#include "log.h"
#include "qga-schema-gen.h"
#include "sysinfo.h"

#define MAC_LEN			6
#define NETDEV_FIELDS		16	/* counters per /proc/net/dev line */
#define IPV6_HEX_LEN		32

static const char *const stat_names[NETDEV_FIELDS] = {
	/* /proc/net/dev order; NULL: not reported. */
	"rx-bytes", "rx-packets", "rx-errs", "rx-dropped", NULL, NULL, NULL,
	NULL, "tx-bytes", "tx-packets", "tx-errs", "tx-dropped", NULL, NULL,
	NULL, NULL,
};

/* /proc/net/dev as { name: statistics object }, or NULL when unreadable. */
static json_t *
read_netdev(void)
{
	char path[PATH_MAX];
	char *line = NULL;
	size_t cap = 0;
	json_t *all;
	FILE *f = NULL;

	if (sysinfo_proc_path(path, sizeof(path), "/net/dev") == 0)
		f = fopen(path, "re");
	if (f == NULL)
		return NULL;
	all = json_object();
	while (getline(&line, &cap, f) != -1) {
		char *name = line, *colon, *p, *end;
		long long v[NETDEV_FIELDS];
		json_t *st;
		int n;

		while (*name == ' ' || *name == '\t')
			name++;
		colon = strchr(name, ':');
		if (colon == NULL)
			continue;
		*colon = '\0';
		if (json_object_get(all, name) != NULL)
			continue;	/* the first line of a name is used */
		p = colon + 1;
		for (n = 0; n < NETDEV_FIELDS; n++) {
			v[n] = strtoll(p, &end, 10);
			if (end == p)
				break;
			p = end;
		}
		if (n < NETDEV_FIELDS)
			continue;
		st = json_object();
		for (n = 0; n < NETDEV_FIELDS; n++)
			if (stat_names[n] != NULL)
				json_object_set_new(st, stat_names[n],
				    json_integer(v[n]));
		json_object_set_new(all, name, st);
	}
	free(line);
	fclose(f);
	return all;
}

static int
popcount(const unsigned char *p, size_t n)
{
	int bits = 0;

	for (size_t i = 0; i < n; i++)
		bits += __builtin_popcount(p[i]);
	return bits;
}

/* The interface's hardware address, "" when it has none we can get. */
static void
hw_addr(int sock, const char *name, char out[3 * MAC_LEN])
{
	struct ifreq ifr;
	const unsigned char *m;

	out[0] = '\0';
	memset(&ifr, 0, sizeof(ifr));
	if (strlen(name) >= sizeof(ifr.ifr_name))
		return;
	strcpy(ifr.ifr_name, name);
	if (ioctl(sock, SIOCGIFHWADDR, &ifr) < 0) {
		if (errno != EADDRNOTAVAIL)
			qga_log(QGA_LOG_WARNING, "failed to get MAC address of %s: %s",
			    name, strerror(errno));
		return;
	}
	m = (const unsigned char *)ifr.ifr_hwaddr.sa_data;
	snprintf(out, 3 * MAC_LEN, "%02x:%02x:%02x:%02x:%02x:%02x",
	    m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* The address entry of ifa, or NULL when it is not IPv4/IPv6. */
static json_t *
ip_entry(const struct ifaddrs *ifa, struct qga_error *err)
{
	char text[INET6_ADDRSTRLEN];
	const void *addr, *mask = NULL;
	size_t masklen;
	int fam;

	if (ifa->ifa_addr == NULL)
		return NULL;
	fam = ifa->ifa_addr->sa_family;
	if (fam == AF_INET) {
		addr = &((const struct sockaddr_in *)(const void *)ifa->ifa_addr)->sin_addr;
		if (ifa->ifa_netmask)
			mask = &((const struct sockaddr_in *)(const void *)
			    ifa->ifa_netmask)->sin_addr;
		masklen = sizeof(struct in_addr);
	} else if (fam == AF_INET6) {
		addr = &((const struct sockaddr_in6 *)(const void *)ifa->ifa_addr)->sin6_addr;
		if (ifa->ifa_netmask)
			mask = &((const struct sockaddr_in6 *)(const void *)
			    ifa->ifa_netmask)->sin6_addr;
		masklen = sizeof(struct in6_addr);
	} else {
		return NULL;
	}
	if (inet_ntop(fam, addr, text, sizeof(text)) == NULL) {
		qga_error_set_errno(err, errno, "inet_ntop failed");
		return NULL;
	}
	return json_pack("{s:s,s:s,s:i}", "ip-address", text,
	    "ip-address-type", fam == AF_INET ? "ipv4" : "ipv6",
	    "prefix", mask ? popcount(mask, masklen) : 0);
}

json_t *
qmp_guest_network_get_interfaces(struct qga_ctx *ctx, struct qga_error *err)
{
	struct ifaddrs *ifap = NULL;
	struct sysinfo_list list;
	json_t *byname = NULL, *netdev = NULL;
	int sock = -1;

	(void)ctx;
	if (getifaddrs(&ifap) < 0) {
		qga_error_set_errno(err, errno, "getifaddrs failed");
		return NULL;
	}
	sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0) {
		qga_error_set_errno(err, errno, "failed to create socket");
		freeifaddrs(ifap);
		return NULL;
	}
	sysinfo_list_init(&list, "guest-network-get-interfaces");
	byname = json_object();
	/* One entry per name, in first-seen order; addresses in order. */
	for (struct ifaddrs *ifa = ifap; ifa != NULL; ifa = ifa->ifa_next) {
		json_t *info = json_object_get(byname, ifa->ifa_name), *ip, *addrs;

		if (info == NULL) {
			char mac[3 * MAC_LEN];

			info = json_pack("{s:s}", "name", ifa->ifa_name);
			hw_addr(sock, ifa->ifa_name, mac);
			if (mac[0] != '\0')
				json_object_set_new(info, "hardware-address",
				    json_string(mac));
			json_incref(info);
			if (!sysinfo_list_add(&list, info)) {
				json_decref(info);
				continue;
			}
			json_object_set_new(byname, ifa->ifa_name, info);
		}
		ip = ip_entry(ifa, err);
		if (qga_error_isset(err))
			break;
		if (ip == NULL)
			continue;
		addrs = json_object_get(info, "ip-addresses");
		if (addrs == NULL) {
			addrs = json_array();
			json_object_set_new(info, "ip-addresses", addrs);
		}
		/* Growing an entry already counted: charge the budget too. */
		list.bytes += json_dumpb(ip, NULL, 0, JSON_ENSURE_ASCII) + 2;
		json_array_append_new(addrs, ip);
		/* Statistics come with the first address, as in qemu-ga. */
		if (json_object_get(info, "statistics") == NULL) {
			json_t *st;

			if (netdev == NULL)
				netdev = read_netdev();
			st = json_object_get(netdev, ifa->ifa_name);
			if (st != NULL) {
				json_object_set(info, "statistics", st);
				list.bytes += json_dumpb(st, NULL, 0,
				    JSON_ENSURE_ASCII) + 16;
			}
		}
		if (list.bytes > SYSINFO_REPLY_BUDGET) {
			qga_log(QGA_LOG_WARNING, "guest-network-get-interfaces: "
			    "reply truncated to stay under %u bytes",
			    SYSINFO_REPLY_BUDGET);
			json_array_remove(addrs, json_array_size(addrs) - 1);
			break;
		}
	}
	json_decref(byname);
	json_decref(netdev);
	close(sock);
	freeifaddrs(ifap);
	if (qga_error_isset(err)) {
		json_decref(list.array);
		return NULL;
	}
	return list.array;
}

/* /proc/net/route keeps addresses as the hex of the in-memory u32. */
static void
ipv4_text(unsigned int v, char out[INET_ADDRSTRLEN])
{
	snprintf(out, INET_ADDRSTRLEN, "%u.%u.%u.%u", v & 0xff, (v >> 8) & 0xff,
	    (v >> 16) & 0xff, (v >> 24) & 0xff);
}

static bool
ipv6_text(const char *hex, char out[INET6_ADDRSTRLEN])
{
	struct in6_addr a;

	if (strlen(hex) != IPV6_HEX_LEN)
		return false;
	for (int i = 0; i < 16; i++)
		if (sscanf(hex + 2 * i, "%2hhx", &a.s6_addr[i]) != 1)
			return false;
	return inet_ntop(AF_INET6, &a, out, INET6_ADDRSTRLEN) != NULL;
}

static json_t *
route4(const char *line)
{
	char iface[IFNAMSIZ + 1], dst[INET_ADDRSTRLEN], gw[INET_ADDRSTRLEN],
	    mask[INET_ADDRSTRLEN];
	unsigned int d, g, m, flags;
	int refcnt, use, metric, mtu, window, irtt;

	if (sscanf(line, "%16s %X %X %X %d %d %d %X %d %d %d", iface, &d, &g,
	    &flags, &refcnt, &use, &metric, &m, &mtu, &window, &irtt) != 11)
		return NULL;
	ipv4_text(d, dst);
	ipv4_text(g, gw);
	ipv4_text(m, mask);
	return json_pack("{s:s,s:s,s:s,s:s,s:i,s:I,s:i,s:i,s:i,s:i,s:i,s:i}",
	    "iface", iface, "destination", dst, "gateway", gw, "mask", mask,
	    "metric", metric, "flags", (json_int_t)flags, "refcnt", refcnt,
	    "use", use, "mtu", mtu, "window", window, "irtt", irtt,
	    "version", 4);
}

static json_t *
route6(const char *line)
{
	char iface[IFNAMSIZ + 1], dh[IPV6_HEX_LEN + 1], sh[IPV6_HEX_LEN + 1],
	    nh[IPV6_HEX_LEN + 1];
	char dst[INET6_ADDRSTRLEN], src[INET6_ADDRSTRLEN], hop[INET6_ADDRSTRLEN];
	char dlen[16], slen[16];
	unsigned int dl, sl, metric, refcnt, use, flags;

	if (sscanf(line, "%32s %x %32s %x %32s %x %x %x %x %16s", dh, &dl, sh,
	    &sl, nh, &metric, &refcnt, &use, &flags, iface) != 10)
		return NULL;
	if (!ipv6_text(dh, dst) || !ipv6_text(sh, src) || !ipv6_text(nh, hop))
		return NULL;
	snprintf(dlen, sizeof(dlen), "%d", (int)dl);
	snprintf(slen, sizeof(slen), "%d", (int)sl);
	/* The hex counters are read into ints by qemu-ga: 0xffffffff is -1. */
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:I,s:i,s:i,s:i}",
	    "iface", iface, "destination", dst, "source", src, "nexthop", hop,
	    "desprefixlen", dlen, "srcprefixlen", slen, "metric", (int)metric,
	    "flags", (json_int_t)flags, "refcnt", (int)refcnt, "use", (int)use,
	    "version", 6);
}

json_t *
qmp_guest_network_get_route(struct qga_ctx *ctx, struct qga_error *err)
{
	static const char *const files[] = { "/net/route", "/net/ipv6_route" };
	struct sysinfo_list list;
	char *line = NULL;
	size_t cap = 0;

	(void)ctx;
	sysinfo_list_init(&list, "guest-network-get-route");
	for (int i = 0; i < 2; i++) {
		char path[PATH_MAX];
		bool v6 = i == 1, header = !v6;
		FILE *f = NULL;

		if (sysinfo_proc_path(path, sizeof(path), "%s", files[i]) == 0)
			f = fopen(path, "re");
		if (f == NULL) {
			/* qemu-ga goes on with the other file, but the error
			 * set here turns the whole reply into an error. */
			qga_error_set_errno(err, errno, "open(\"%s\")", path);
			continue;
		}
		while (getline(&line, &cap, f) != -1) {
			json_t *r;

			if (header) {
				header = false;
				continue;
			}
			r = v6 ? route6(line) : route4(line);
			if (r != NULL)
				sysinfo_list_add(&list, r);
		}
		fclose(f);
	}
	free(line);
	if (qga_error_isset(err)) {
		json_decref(list.array);
		return NULL;
	}
	return list.array;
}
