/* console.c - `mayfly exec -t`: a pseudo-terminal made inside the sandbox, from its own
 * devpts instance (so the job's /dev/pts shows it and nothing of the host's), whose
 * master travels to mayfly over a unix socket. */
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
	m->msg = (struct msghdr){ .msg_iov = &m->iov, .msg_iovlen = 1, .msg_control = m->u.buf,
				  .msg_controllen = sizeof(m->u.buf) };
}

int jail_console_open(int console_fd, char *ret_slave, size_t size, struct err *err)
{
	cleanup_close int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	struct fd_msg m;
	struct cmsghdr *c;
	int unlock = 0;
	unsigned n;

	if (master < 0)
		return err_set(err, errno, "open '/dev/ptmx' in the sandbox");
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &n) < 0)
		return err_set(err, errno, "set up the pseudo-terminal");
	(void) snprintf(ret_slave, size, "/dev/pts/%u", n);
	fd_msg_init(&m, 't');
	c = CMSG_FIRSTHDR(&m.msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &master, sizeof(int));
	if (sendmsg(console_fd, &m.msg, MSG_NOSIGNAL) < 0)
		return err_set(err, errno, "send the terminal to mayfly");
	return 0;
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
	struct fd_msg m;
	struct cmsghdr *c;
	ssize_t n;
	int fd;

	fd_msg_init(&m, 0);
	do
		n = recvmsg(console_fd, &m.msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_set(err, errno, "receive the terminal");
	c = CMSG_FIRSTHDR(&m.msg);
	if (n != 1 || !c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
		return err_set(err, EPROTO, "receive the terminal: no descriptor");
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	*ret_master = fd;
	return 0;
}
