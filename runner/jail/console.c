/* console.c - `mayfly exec -t`: a pseudo-terminal made inside the sandbox, from its own
 * devpts instance (so the job's /dev/pts shows it and nothing of the host's), whose
 * master travels to mayfly over a unix socket. --allow-host sends the egress proxy's
 * listening socket the same way. */
#include "jail/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "jail/internal.h"
#include "net/net.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/banned.h"

/* One byte and one fd: the message both ends of the console socket use. */
struct fd_msg {
	char byte;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov;
	struct msghdr msg;
};

static void fd_msg_init(struct fd_msg *m, char byte)
{
	memset(m, 0, sizeof(*m));
	m->byte = byte;
	m->iov = (struct iovec){ .iov_base = &m->byte, .iov_len = 1 };
	m->msg = (struct msghdr){ .msg_iov = &m->iov,
				  .msg_iovlen = 1,
				  .msg_control = m->u.buf,
				  .msg_controllen = sizeof(m->u.buf) };
}

static int send_fd(int sock, char byte, int fd)
{
	struct fd_msg m;
	struct cmsghdr *c;

	fd_msg_init(&m, byte);
	c = CMSG_FIRSTHDR(&m.msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &m.msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static int recv_fd(int sock, const char *what, int *ret_fd, struct err *err)
{
	struct fd_msg m;
	struct cmsghdr *c;
	ssize_t n;

	fd_msg_init(&m, 0);
	do
		n = recvmsg(sock, &m.msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_set(err, errno, "receive %s", what);
	c = CMSG_FIRSTHDR(&m.msg);
	if (n != 1 || !c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
		return err_set(err, EPROTO, "receive %s: no descriptor", what);
	memcpy(ret_fd, CMSG_DATA(c), sizeof(int));
	return 0;
}

int jail_console_open(int console_fd, char *ret_slave, size_t size, struct err *err)
{
	cleanup_close int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	int unlock = 0;
	unsigned n;
	int r;

	if (master < 0)
		return err_set(err, errno, "open '/dev/ptmx' in the sandbox");
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &n) < 0)
		return err_set(err, errno, "set up the pseudo-terminal");
	(void) snprintf(ret_slave, size, "/dev/pts/%u", n);
	r = send_fd(console_fd, 't', master);
	if (r < 0)
		return err_set(err, -r, "send the terminal to mayfly");
	return 0;
}

/* A socket listening on the sandbox's 127.0.0.1:port, sent to mayfly on fd. */
static int listen_and_send(int fd, unsigned port, char tag, const char *what, struct err *err)
{
	cleanup_close int lfd = -1;
	int r;

	r = net_listen_loopback(port, &lfd, err);
	if (r < 0)
		return err_wrap(err, "%s", what);
	r = send_fd(fd, tag, lfd);
	if (r < 0)
		return err_set(err, -r, "send the %s socket to mayfly", what);
	return 0;
}

int jail_egress_open(int egress_fd, struct err *err)
{
	return listen_and_send(egress_fd, NET_PROXY_PORT, 'e', "egress", err);
}

int jail_forward_open(int forward_fd, unsigned port, struct err *err)
{
	return listen_and_send(forward_fd, port, 'f', "database forward", err);
}

int jail_recv_forward(int forward_fd, int *ret_listen_fd, struct err *err)
{
	return recv_fd(forward_fd, "the forward's socket", ret_listen_fd, err);
}

int jail_recv_egress(int egress_fd, int *ret_listen_fd, struct err *err)
{
	return recv_fd(egress_fd, "the egress socket", ret_listen_fd, err);
}

int jail_console_attach(const char *slave, struct err *err)
{
	cleanup_close int fd = open(slave, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return err_set(err, errno, "open terminal '%s'", slave);
	if (ioctl(fd, TIOCSCTTY, 0) < 0)
		return err_set(err, errno, "make '%s' the controlling terminal", slave);
	for (int i = 0; i < 3; i++)
		if (dup2(fd, i) < 0)
			return err_set(err, errno, "set up standard stream %d", i);
	return 0;
}

int jail_recv_console(int console_fd, int *ret_master, struct err *err)
{
	return recv_fd(console_fd, "the terminal", ret_master, err);
}
