/* client.c - the job's side of the socket: one request line, one answer line. */
#include "broker/internal.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/json.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* An answer carries at most an 8 MiB body in base64 and 64 KiB of headers, escaped. */
#define MAX_ANSWER (16u << 20)

static const char *socket_of(const char *path)
{
	const char *env = getenv("MAYFLY_BROKER_SOCKET");

	return path ? path : env && *env ? env : BROKER_SOCKET_INSIDE;
}

int broker_client_raw(const char *socket_path, const char *request, char **ret_response,
		      struct err *err)
{
	const char *path = socket_of(socket_path);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	cleanup_close int fd = -1;
	cleanup_free char *buf = NULL;
	size_t len = 0, cap = 0;

	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(err, ENAMETOOLONG, "broker socket '%s': path too long", path);
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(err, errno, "socket");
	if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
		return err_set(err, errno,
			       "connect to the broker at '%s' (is a grant given to this sandbox? "
			       "MAYFLY_BROKER_SOCKET names another socket)",
			       path);
	{
		cleanup_free char *line = xasprintf("%s\n", request);
		size_t off = 0, n = strlen(line);
		/* No SIGPIPE: a broker that refused us already hung up, and its answer says why. */
		while (off < n) {
			ssize_t w = send(fd, line + off, n - off, MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
				break;
			if (w < 0)
				return err_set(err, errno, "send the request to the broker");
			off += (size_t) w;
		}
	}
	for (;;) {
		ssize_t n;
		if (len + 65536 + 1 > cap) {
			cap = (len + 65536 + 1) * 2;
			buf = xrealloc(buf, cap);
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(err, errno, "read the broker's answer");
		if (n == 0)
			return err_set(err, EPIPE, "the broker hung up without an answer");
		len += (size_t) n;
		buf[len] = '\0';
		char *nl = memchr(buf, '\n', len);
		if (nl) {
			*nl = '\0';
			break;
		}
		if (len > MAX_ANSWER)
			return err_set(err, EFBIG, "the broker's answer is larger than %u bytes",
				       MAX_ANSWER);
	}
	*ret_response = TAKE_PTR(buf);
	return 0;
}

/* Send a request built by w; parse the answer; an {"ok":false} is -EACCES. */
static int call(const char *socket_path, struct json_w *w, struct json **ret, struct err *err)
{
	cleanup_free char *req = json_w_done(w), *resp = NULL;
	CLEANUP(json_freep) struct json *j = NULL;
	const struct json *ok;
	int r;

	r = broker_client_raw(socket_path, req, &resp, err);
	if (r < 0)
		return r;
	if (!resp)
		return err_set(err, EPROTO, "the broker gave no answer");
	r = json_parse(resp, strlen(resp), &j, err);
	if (r < 0)
		return err_wrap(err, "the broker's answer");
	ok = json_get(j, "ok");
	if (!ok || json_get_str(j, "error")) {
		const char *e = json_get_str(j, "error");
		/* The broker's reason already ends in its errno text: add none of ours. */
		err->code = EACCES;
		(void) snprintf(err->msg, sizeof(err->msg), "the broker refused: %s",
				e ? e : "(no reason given)");
		return -EACCES;
	}
	*ret = TAKE_PTR(j);
	return 0;
}

static char *b64(const void *data, size_t len)
{
	size_t cap = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
	char *out = xmalloc(cap);

	(void) sodium_bin2base64(out, cap, data, len, sodium_base64_VARIANT_ORIGINAL);
	return out;
}

int broker_client_sign(const char *socket_path, const char *name, const char *alg,
		       const void *payload, size_t len, struct broker_sign_result *ret,
		       struct err *err)
{
	struct json_w *w = json_w_new();
	CLEANUP(json_freep) struct json *j = NULL;
	cleanup_free char *p = b64(payload, len);
	struct broker_sign_result res = { 0 };
	const char *sig, *pk;
	int r;

	json_w_obj_open(w, NULL);
	json_w_str(w, "verb", "sign");
	json_w_str(w, "name", name);
	if (alg)
		json_w_str(w, "alg", alg);
	json_w_str(w, "payload_b64", p);
	json_w_obj_close(w);
	r = call(socket_path, w, &j, err);
	if (r < 0)
		return r;
	sig = json_get_str(j, "signature_hex");
	pk = json_get_str(j, "public_key_hex");
	if (!sig || str_copy(res.signature_hex, sizeof(res.signature_hex), sig) < 0 ||
	    (pk && str_copy(res.public_key_hex, sizeof(res.public_key_hex), pk) < 0))
		return err_set(err, EPROTO, "the broker's answer has no valid signature_hex");
	*ret = res;
	return 0;
}

int broker_client_http(const char *socket_path, const struct broker_http_call *call_,
		       struct broker_http_result *ret, struct err *err)
{
	struct json_w *w = json_w_new();
	CLEANUP(json_freep) struct json *j = NULL;
	struct broker_http_result res = { 0 };
	const struct json *h;
	const char *body;
	int64_t status;
	int r;

	json_w_obj_open(w, NULL);
	json_w_str(w, "verb", "http");
	json_w_str(w, "name", call_->name);
	json_w_str(w, "method", call_->method);
	json_w_str(w, "url", call_->url);
	json_w_obj_open(w, "headers");
	for (size_t i = 0; i < call_->n_headers; i++) {
		const char *line = call_->headers[i], *colon = strchr(line, ':');
		if (!colon) {
			free(json_w_done(w));
			return err_set(err, EINVAL, "header '%.64s': expected 'Name: value'", line);
		}
		cleanup_free char *k = xstrndup(line, (size_t) (colon - line));
		const char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		json_w_str(w, k, v);
	}
	json_w_obj_close(w);
	if (call_->body) {
		cleanup_free char *b = b64(call_->body, call_->body_len);
		json_w_str(w, "body_b64", b);
	}
	json_w_obj_close(w);
	r = call(socket_path, w, &j, err);
	if (r < 0)
		return r;
	if (!json_get_i64(j, "status", &status))
		return err_set(err, EPROTO, "the broker's answer has no status");
	res.status = (int) status;
	h = json_get(j, "headers");
	for (size_t i = 0; i < json_object_len(h); i++) {
		const char *k = NULL;
		const char *v = json_str(json_member_at(h, i, &k));
		if (k && v) {
			cleanup_free char *l = xasprintf("%s: %s", k, v);
			strv_push(&res.headers, l);
		}
	}
	body = json_get_str(j, "body_b64");
	if (body) {
		size_t tl = strlen(body), cap = tl / 4 * 3 + 3, n = 0;
		res.body = xmalloc(cap + 1);
		if (sodium_base642bin((unsigned char *) res.body, cap, body, tl, NULL, &n, NULL,
				      sodium_base64_VARIANT_ORIGINAL) != 0) {
			broker_http_result_release(&res);
			return err_set(err, EPROTO, "the broker's body_b64 is not base64");
		}
		res.body[n] = '\0';
		res.body_len = n;
	} else
		res.body = xcalloc(1, 1);
	*ret = res;
	return 0;
}

void broker_http_result_release(struct broker_http_result *r)
{
	r->headers = strv_free(r->headers);
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}
