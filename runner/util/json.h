/* json.h - JSON for journals, --json output and (later) API bodies. Owns every use of
 * cJSON: a small writer that escapes correctly, and read access to parsed documents. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct json;   /* opaque parsed value (an object, array, string, ...) */
struct json_w; /* opaque writer */

/* Parse at most max bytes of text; on success *ret belongs to the caller (json_free). */
int json_parse(const char *text, size_t len, struct json **ret, struct err *err);
struct json *json_free(struct json *j);
/* Members of an object; NULL when missing or of another type. Borrowed. */
const char *json_get_str(const struct json *obj, const char *key);
bool json_get_i64(const struct json *obj, const char *key, int64_t *ret);
bool json_get_bool(const struct json *obj, const char *key, bool *ret);
const struct json *json_get(const struct json *obj, const char *key);
/* Arrays: count and borrowed items; strings: the value or NULL. */
size_t json_array_len(const struct json *arr);
const struct json *json_array_at(const struct json *arr, size_t i);
const char *json_str(const struct json *j);
/* Objects: the number of members and the i-th (borrowed; its key in *ret_key). Duplicate
 * keys stay separate members. */
bool json_is_object(const struct json *j);
size_t json_object_len(const struct json *obj);
const struct json *json_member_at(const struct json *obj, size_t i, const char **ret_key);

/* Writer: json_w_new(), then obj/arr open/close and key+value calls in order; the text
 * is compact, one line. json_w_done() returns the text (caller frees) and frees w. */
struct json_w *json_w_new(void);
void json_w_obj_open(struct json_w *w, const char *key); /* key NULL inside arrays */
void json_w_obj_close(struct json_w *w);
void json_w_arr_open(struct json_w *w, const char *key);
void json_w_arr_close(struct json_w *w);
void json_w_str(struct json_w *w, const char *key, const char *value);
void json_w_i64(struct json_w *w, const char *key, int64_t value);
void json_w_bool(struct json_w *w, const char *key, bool value);
char *json_w_done(struct json_w *w);

#include "util/cleanup.h"
DEFINE_CLEANUP(struct json *, json_free)
