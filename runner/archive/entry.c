/* entry.c - the rules for entry names, before libarchive sees them (defence in depth: its
 * SECURE_* flags check the same things, differently). */
#include "archive/internal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/banned.h"

static int refuse(const char **ret_why, const char *why)
{
	*ret_why = why;
	return -EINVAL;
}

int arc_check_name(const char *name, const char **ret_why)
{
	size_t len = strlen(name);
	const char *p = name;
	long depth = 0, ncomp = 0;
	bool dotdot = false, leaves = false;

	if (len == 0)
		return refuse(ret_why, "empty name; rebuild the image without it");
	if (len > ARC_MAX_PATH)
		return refuse(ret_why, "name longer than 4095 bytes; rebuild the image without it");
	for (size_t i = 0; i < len; i++)
		if ((unsigned char) name[i] < 0x20 || name[i] == 0x7f)
			return refuse(ret_why,
				      "control character in name; rebuild the image without it");
	if (name[0] == '/')
		return refuse(ret_why, "absolute path; rebuild the image with relative names "
				       "(tar -C ROOT -cf image.tar .)");
	/* "tar -C ROOT ." writes "./" and "./usr/...": one leading "./" is usual. */
	if (p[0] == '.' && p[1] == '/')
		p += 2;
	if (p[0] == '\0' || strcmp(p, ".") == 0)
		return 1;
	for (;;) {
		const char *e = strchrnul(p, '/');
		size_t n = (size_t) (e - p);

		if (n == 0)
			return refuse(ret_why,
				      "empty path component; rebuild the image without it");
		if (n == 1 && p[0] == '.')
			return refuse(ret_why, "'.' inside the path; rebuild the image without it");
		if (n > ARC_MAX_NAME)
			return refuse(ret_why, "a component longer than 255 bytes; rebuild the "
					       "image without it");
		if (++ncomp > ARC_MAX_DEPTH)
			return refuse(ret_why,
				      "more than 256 levels deep; rebuild the image without it");
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			dotdot = true;
			leaves = leaves || --depth < 0;
		} else {
			depth++;
		}
		/* A trailing "/" marks a directory. */
		if (*e == '\0' || (e[0] == '/' && e[1] == '\0'))
			break;
		p = e + 1;
	}
	if (leaves)
		return refuse(ret_why, "path leaves the image; rebuild the image without it");
	if (dotdot)
		return refuse(ret_why, "'..' in the path; rebuild the image without it");
	return 0;
}

const char *arc_printable(const char *name, char *buf, size_t size)
{
	size_t len = strlen(name), keep = size > 8 ? (size - 4) / 2 : 0;

	if (size == 0)
		return buf;
	if (len < size)
		(void) snprintf(buf, size, "%s", name);
	else
		(void) snprintf(buf, size, "%.*s...%s", (int) keep, name,
				name + len - (size - 4 - keep));
	for (char *s = buf; *s; s++)
		if ((unsigned char) *s < 0x20 || *s == 0x7f)
			*s = '?';
	return buf;
}
