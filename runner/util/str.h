/* str.h - string helpers and the parsers of user-given numbers (sizes, durations, cpus).
 * Parsers reject anything they do not fully understand, with an error naming the input. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;

bool str_startswith(const char *s, const char *prefix);
bool str_endswith(const char *s, const char *suffix);
/* An RFC 9110 token (HTTP method or header name): non-empty, letters, digits and
 * !#$%&'*+-.^_`|~ only. */
bool str_is_token(const char *s);
/* Copy with truncation check: -ENAMETOOLONG if src does not fit (dst then untouched). */
int str_copy(char *dst, size_t size, const char *src);

/* Decimal unsigned integer, no sign, no spaces, no overflow. */
int safe_atou(const char *s, unsigned *ret);
int safe_atou64(const char *s, uint64_t *ret);
int safe_atoi(const char *s, int *ret);

/* "512", "64K", "2M", "2G", "1.5G", "1T" (binary units, optional trailing "B" or "iB")
 * to bytes. */
int str_parse_size(const char *s, uint64_t *ret_bytes, struct err *err);
/* "90", "90s", "10m", "1h30m", "2d", "500ms" to milliseconds; 0 rejected. */
int str_parse_duration(const char *s, uint64_t *ret_ms, struct err *err);
/* "1", "1.5", "0.25" to milli-cpus (1500); must be > 0. */
int str_parse_cpus(const char *s, unsigned *ret_millicpus, struct err *err);
/* Human forms for output: "2.0G", "1h30m". */
void str_format_size(uint64_t bytes, char *buf, size_t size);
void str_format_duration(uint64_t ms, char *buf, size_t size);

/* NULL-terminated string vectors. */
char **strv_free(char **v);
size_t strv_len(char *const *v);
/* Append a copy of s; *v may be NULL. */
void strv_push(char ***v, const char *s);
char **strv_copy(char *const *v);
/* Join with sep into a new string; quotes nothing. */
char *strv_join(char *const *v, const char *sep);
