/* loopback.c - see net.h: `lo`, and the egress proxy's listening socket on it. An ioctl
 * on a datagram socket is all `lo` needs: the kernel assigns 127.0.0.1/8 and ::1 itself
 * when the interface goes up. */
#include "net/net.h"

#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/err.h"
#include "util/banned.h"

int net_loopback_up(struct err *err)
{
	cleanup_close int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;

	if (fd < 0)
		return err_set(err, errno, "socket for 'lo'");
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		return err_set(err, errno, "get flags of 'lo'");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		return err_set(err, errno, "bring up 'lo'");
	return 0;
}

int net_listen_loopback(unsigned port, int *ret_fd, struct err *err)
{
	cleanup_close int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t) port),
				  .sin_addr = { htonl(INADDR_LOOPBACK) } };

	if (fd < 0)
		return err_set(err, errno, "socket to listen on 127.0.0.1:%u", port);
	if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
		return err_set(err, errno, "bind 127.0.0.1:%u", port);
	if (listen(fd, SOMAXCONN) < 0)
		return err_set(err, errno, "listen on 127.0.0.1:%u", port);
	*ret_fd = TAKE_FD(fd);
	return 0;
}
