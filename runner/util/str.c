/* str.c - see str.h. */
#include "util/str.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/xalloc.h"
#include "util/banned.h"

bool str_startswith(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || strchr("!#$%&'*+-.^_`|~", *s)))
			return false;
	return true;
}

bool str_endswith(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

int str_copy(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		return -ENAMETOOLONG;
	memcpy(dst, src, n + 1);
	return 0;
}

int safe_atou64(const char *s, uint64_t *ret)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t) (*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t) (*s - '0');
	}
	*ret = v;
	return 0;
}

int safe_atou(const char *s, unsigned *ret)
{
	uint64_t v;
	int r = safe_atou64(s, &v);

	if (r < 0)
		return r;
	if (v > UINT_MAX)
		return -ERANGE;
	*ret = (unsigned) v;
	return 0;
}

int safe_atoi(const char *s, int *ret)
{
	unsigned v;
	bool neg = s && *s == '-';
	int r = safe_atou(neg ? s + 1 : s, &v);

	if (r < 0)
		return r;
	if (v > (unsigned) INT_MAX + (neg ? 1u : 0u))
		return -ERANGE;
	*ret = neg ? (int) (0u - v) : (int) v;
	return 0;
}

/* Parse "<digits>[.<digits>]" scaled by mult into *ret, exactly (no floating point). */
static int parse_fixed(const char *s, size_t len, uint64_t mult, uint64_t *ret)
{
	uint64_t whole = 0, frac = 0, div = 1;
	size_t i = 0;
	bool digits = false;

	for (; i < len && isdigit((unsigned char) s[i]); i++) {
		digits = true;
		if (whole > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		whole = whole * 10 + (uint64_t) (s[i] - '0');
	}
	if (i < len && s[i] == '.') {
		i++;
		for (; i < len && isdigit((unsigned char) s[i]); i++) {
			digits = true;
			if (div < 1000000000) {
				frac = frac * 10 + (uint64_t) (s[i] - '0');
				div *= 10;
			}
		}
	}
	if (!digits || i != len)
		return -EINVAL;
	if (mult && whole > UINT64_MAX / mult)
		return -ERANGE;
	*ret = whole * mult + frac * mult / div;
	return 0;
}

int str_parse_size(const char *s, uint64_t *ret_bytes, struct err *err)
{
	static const struct {
		char c;
		uint64_t mult;
	} units[] = {
		{ 'K', 1ULL << 10 }, { 'M', 1ULL << 20 }, { 'G', 1ULL << 30 }, { 'T', 1ULL << 40 }
	};
	size_t len = strlen(s);
	uint64_t mult = 1, v;
	int r;

	if (len > 0 && (s[len - 1] == 'B' || s[len - 1] == 'b')) {
		len--;
		if (len > 0 && s[len - 1] == 'i')
			len--;
	}
	if (len > 0 && isalpha((unsigned char) s[len - 1])) {
		char c = (char) toupper((unsigned char) s[len - 1]);
		bool found = false;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (units[i].c == c) {
				mult = units[i].mult;
				found = true;
			}
		if (!found)
			return err_set(err, EINVAL,
				       "size '%s': unknown unit '%c' (use K, M, G or T)", s,
				       s[len - 1]);
		len--;
	}
	r = parse_fixed(s, len, mult, &v);
	if (r < 0)
		return err_set(err, -r,
			       "size '%s': expected a number with an optional unit "
			       "such as 512M or 2G",
			       s);
	*ret_bytes = v;
	return 0;
}

int str_parse_duration(const char *s, uint64_t *ret_ms, struct err *err)
{
	uint64_t total = 0;
	const char *p = s;

	if (!*s)
		return err_set(err, EINVAL, "duration '': expected e.g. 90s, 10m or 1h30m");
	while (*p) {
		const char *start = p;
		uint64_t v, mult;

		while (isdigit((unsigned char) *p) || *p == '.')
			p++;
		size_t numlen = (size_t) (p - start);
		if (numlen == 0)
			goto bad;
		if (str_startswith(p, "ms")) {
			mult = 1;
			p += 2;
		} else if (*p == 's' || *p == '\0') {
			mult = 1000;
			p += *p ? 1 : 0;
		} else if (*p == 'm') {
			mult = 60 * 1000;
			p++;
		} else if (*p == 'h') {
			mult = 3600 * 1000;
			p++;
		} else if (*p == 'd') {
			mult = 24 * 3600 * 1000;
			p++;
		} else
			goto bad;
		if (parse_fixed(start, numlen, mult, &v) < 0 || total > UINT64_MAX - v)
			goto bad;
		total += v;
	}
	if (total == 0)
		return err_set(err, EINVAL, "duration '%s': must be greater than zero", s);
	*ret_ms = total;
	return 0;
bad:
	return err_set(err, EINVAL, "duration '%s': expected e.g. 90s, 10m or 1h30m", s);
}

int str_parse_cpus(const char *s, unsigned *ret_millicpus, struct err *err)
{
	uint64_t v;

	if (parse_fixed(s, strlen(s), 1000, &v) < 0 || v == 0 || v > 1000000)
		return err_set(err, EINVAL,
			       "cpus '%s': expected a positive number such as 1 "
			       "or 1.5",
			       s);
	*ret_millicpus = (unsigned) v;
	return 0;
}

void str_format_size(uint64_t b, char *buf, size_t size)
{
	static const char units[] = "BKMGT";
	double v = (double) b;
	size_t u = 0;

	while (v >= 1024 && u < sizeof(units) - 2) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		(void) snprintf(buf, size, "%lluB", (unsigned long long) b);
	else
		(void) snprintf(buf, size, "%.1f%c", v, units[u]);
}

void str_format_duration(uint64_t ms, char *buf, size_t size)
{
	uint64_t s = ms / 1000;

	if (ms < 1000)
		(void) snprintf(buf, size, "%llums", (unsigned long long) ms);
	else if (s < 60)
		(void) snprintf(buf, size, "%llus", (unsigned long long) s);
	else if (s < 3600)
		(void) snprintf(buf, size, "%llum%02llus", (unsigned long long) (s / 60),
				(unsigned long long) (s % 60));
	else
		(void) snprintf(buf, size, "%lluh%02llum", (unsigned long long) (s / 3600),
				(unsigned long long) (s % 3600 / 60));
}

char **strv_free(char **v)
{
	if (v) {
		for (char **p = v; *p; p++)
			free(*p);
		free(v);
	}
	return NULL;
}

size_t strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

void strv_push(char ***v, const char *s)
{
	size_t n = strv_len(*v);

	*v = xrealloc(*v, (n + 2) * sizeof(char *));
	(*v)[n] = xstrdup(s);
	(*v)[n + 1] = NULL;
}

char **strv_copy(char *const *v)
{
	char **r = xcalloc(strv_len(v) + 1, sizeof(char *));
	for (size_t i = 0; v && v[i]; i++)
		r[i] = xstrdup(v[i]);
	return r;
}

char *strv_join(char *const *v, const char *sep)
{
	size_t n = 1, sl = strlen(sep);
	char *r, *p;

	for (size_t i = 0; v && v[i]; i++)
		n += strlen(v[i]) + sl;
	r = p = xmalloc(n);
	*p = '\0';
	for (size_t i = 0; v && v[i]; i++) {
		size_t l = strlen(v[i]);
		if (i) {
			memcpy(p, sep, sl);
			p += sl;
		}
		memcpy(p, v[i], l);
		p += l;
	}
	*p = '\0';
	return r;
}
