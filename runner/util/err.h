/* err.h - the one error shape. A function that can fail returns int (>= 0 success,
 * negative errno failure) and takes struct err *err last; the lowest level names the
 * operation and object, each level up prepends what it was doing. Being a fixed buffer,
 * reporting can neither fail nor allocate. Never put a secret in a message. */
#pragma once

#define ERR_MSG_MAX 512

struct err {
	int code;	       /* positive errno, 0 when clear */
	char msg[ERR_MSG_MAX]; /* context chain, lowercase, no final period */
};

/* Record errno-style code (positive or negative; 0 becomes EIO) and a message; returns
 * -code so callers write `return err_set(err, errno, "open '%s'", p);`. */
int err_set(struct err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prepend "context: " to the message; returns -err->code. */
int err_wrap(struct err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void err_clear(struct err *err);
/* The strerror text is appended by err_set already; this is for callers that need the
 * raw code (e.g. to pick an exit status). */
static inline int err_code(const struct err *err)
{
	return err->code;
}
