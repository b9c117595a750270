/* json.c - see json.h. */
#include "util/json.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define AS_CJ(j) ((const cJSON *) (const void *) (j))

int json_parse(const char *text, size_t len, struct json **ret, struct err *err)
{
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, 0);

	if (!j) {
		size_t off = end && end >= text ? (size_t) (end - text) : 0;
		return err_set(err, EINVAL, "malformed JSON at byte %zu", off);
	}
	*ret = (struct json *) (void *) j;
	return 0;
}

struct json *json_free(struct json *j)
{
	cJSON_Delete((cJSON *) (void *) j);
	return NULL;
}

const struct json *json_get(const struct json *obj, const char *key)
{
	if (!obj || !cJSON_IsObject(AS_CJ(obj)))
		return NULL;
	return (const struct json *) (const void *) cJSON_GetObjectItemCaseSensitive(AS_CJ(obj),
										     key);
}

const char *json_str(const struct json *j)
{
	return j && cJSON_IsString(AS_CJ(j)) ? AS_CJ(j)->valuestring : NULL;
}

const char *json_get_str(const struct json *obj, const char *key)
{
	return json_str(json_get(obj, key));
}

bool json_get_i64(const struct json *obj, const char *key, int64_t *ret)
{
	const cJSON *v = AS_CJ(json_get(obj, key));

	if (!v || !cJSON_IsNumber(v))
		return false;
	*ret = (int64_t) v->valuedouble;
	return true;
}

bool json_get_bool(const struct json *obj, const char *key, bool *ret)
{
	const cJSON *v = AS_CJ(json_get(obj, key));

	if (!v || !cJSON_IsBool(v))
		return false;
	*ret = cJSON_IsTrue(v);
	return true;
}

size_t json_array_len(const struct json *arr)
{
	return arr && cJSON_IsArray(AS_CJ(arr)) ? (size_t) cJSON_GetArraySize(AS_CJ(arr)) : 0;
}

const struct json *json_array_at(const struct json *arr, size_t i)
{
	if (i >= json_array_len(arr))
		return NULL;
	return (const struct json *) (const void *) cJSON_GetArrayItem(AS_CJ(arr), (int) i);
}

bool json_is_object(const struct json *j)
{
	return j && cJSON_IsObject(AS_CJ(j));
}

size_t json_object_len(const struct json *obj)
{
	return obj && cJSON_IsObject(AS_CJ(obj)) ? (size_t) cJSON_GetArraySize(AS_CJ(obj)) : 0;
}

const struct json *json_member_at(const struct json *obj, size_t i, const char **ret_key)
{
	const cJSON *m;

	if (i >= json_object_len(obj))
		return NULL;
	m = cJSON_GetArrayItem(AS_CJ(obj), (int) i);
	if (m && ret_key)
		*ret_key = m->string;
	return (const struct json *) (const void *) m;
}

struct json_w {
	char *buf;
	size_t len, cap;
	bool need_comma;
};

static void put(struct json_w *w, const char *s, size_t n)
{
	if (w->len + n + 1 > w->cap) {
		w->cap = (w->len + n + 1) * 2;
		w->buf = xrealloc(w->buf, w->cap);
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static void put_str(struct json_w *w, const char *s)
{
	put(w, "\"", 1);
	for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
		char esc[8];
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char) *p;
			put(w, esc, 2);
		} else if (*p < 0x20 || *p == 0x7f) {
			(void) snprintf(esc, sizeof(esc), "\\u%04x", *p);
			put(w, esc, 6);
		} else
			put(w, (const char *) p, 1);
	}
	put(w, "\"", 1);
}

static void put_key(struct json_w *w, const char *key)
{
	if (w->need_comma)
		put(w, ",", 1);
	w->need_comma = true;
	if (key) {
		put_str(w, key);
		put(w, ":", 1);
	}
}

struct json_w *json_w_new(void)
{
	return xcalloc(1, sizeof(struct json_w));
}

void json_w_obj_open(struct json_w *w, const char *key)
{
	put_key(w, key);
	put(w, "{", 1);
	w->need_comma = false;
}

void json_w_obj_close(struct json_w *w)
{
	put(w, "}", 1);
	w->need_comma = true;
}

void json_w_arr_open(struct json_w *w, const char *key)
{
	put_key(w, key);
	put(w, "[", 1);
	w->need_comma = false;
}

void json_w_arr_close(struct json_w *w)
{
	put(w, "]", 1);
	w->need_comma = true;
}

void json_w_str(struct json_w *w, const char *key, const char *value)
{
	put_key(w, key);
	if (value)
		put_str(w, value);
	else
		put(w, "null", 4);
}

void json_w_i64(struct json_w *w, const char *key, int64_t value)
{
	char num[32];
	int n = snprintf(num, sizeof(num), "%" PRId64, value);

	put_key(w, key);
	put(w, num, (size_t) n);
}

void json_w_bool(struct json_w *w, const char *key, bool value)
{
	put_key(w, key);
	put(w, value ? "true" : "false", value ? 4 : 5);
}

char *json_w_done(struct json_w *w)
{
	char *r = w->buf ? w->buf : xstrdup("");
	free(w);
	return r;
}
