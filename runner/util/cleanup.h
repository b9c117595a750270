/* cleanup.h - the one cleanup shape: owned resources are locals with a cleanup
 * attribute, initialised where declared; ownership leaves only through TAKE_PTR() and
 * TAKE_FD(). */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define CLEANUP(fn) __attribute__((cleanup(fn)))

static inline void freep(void *p)
{
	free(*(void **) p);
}

/* close() that keeps errno, for cleanup paths. */
static inline int safe_close(int fd)
{
	if (fd >= 0) {
		int saved = errno;
		(void) close(fd);
		errno = saved;
	}
	return -1;
}

static inline void closep(const int *fd)
{
	(void) safe_close(*fd);
}

static inline void fclosep(FILE **f)
{
	if (*f)
		(void) fclose(*f);
}

/* A child that must not outlive its owner: SIGKILL and reap. */
static inline void killp(const pid_t *pid)
{
	if (*pid > 0) {
		int saved = errno;
		(void) kill(*pid, SIGKILL);
		while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
			;
		errno = saved;
	}
}

#define cleanup_free   CLEANUP(freep)
#define cleanup_close  CLEANUP(closep)
#define cleanup_fclose CLEANUP(fclosep)
#define cleanup_pid    CLEANUP(killp)

/* DEFINE_CLEANUP(struct x *, x_free) makes x_freep for CLEANUP(x_freep). */
#define DEFINE_CLEANUP(type, fn)                                                                   \
	static inline void fn##p(type *p)                                                          \
	{                                                                                          \
		if (*p)                                                                            \
			(void) fn(*p);                                                             \
	}

DEFINE_CLEANUP(DIR *, closedir)

#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) take_ptr_tmp_ = (p);                                                 \
		(p) = NULL;                                                                        \
		take_ptr_tmp_;                                                                     \
	})

#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int take_fd_tmp_ = (fd);                                                           \
		(fd) = -1;                                                                         \
		take_fd_tmp_;                                                                      \
	})

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
