/* http.c - see http.h. */
#include "http/http.h"

/* The calls below go through pointers set by dlopen(); the type-checking macros of
 * <curl/typecheck-gcc.h> would hide the names we redirect. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/cleanup.h"
#include "util/err.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define HTTP_DL_FUNCTIONS(X)                                                                       \
	X(curl_global_init)                                                                        \
	X(curl_easy_init)                                                                          \
	X(curl_easy_setopt)                                                                        \
	X(curl_easy_perform)                                                                       \
	X(curl_easy_getinfo)                                                                       \
	X(curl_easy_cleanup)                                                                       \
	X(curl_easy_strerror)

#define HTTP_DL_DEFINE(f) static __typeof__(f) *dl_##f;
HTTP_DL_FUNCTIONS(HTTP_DL_DEFINE)

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char failure[256];

static void load(void)
{
	/* The OpenSSL flavour first (what the -dev package links), then GnuTLS. RTLD_NOW: a
	 * missing symbol shows now, not in the middle of a request. */
	static const char *const names[] = { "libcurl.so.4", "libcurl-gnutls.so.4" };
	void *h = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(names) && !h; i++)
		h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		(void) snprintf(failure, sizeof(failure),
				"load libcurl (%s): install it, e.g. 'apt-get install libcurl4'",
				dlerror());
		return;
	}
#define HTTP_DL_RESOLVE(f)                                                                         \
	if (!failure[0] && !(dl_##f = (__typeof__(f) *) dlsym(h, #f)))                             \
		(void) snprintf(failure, sizeof(failure), "libcurl lacks '%s'", #f);
	HTTP_DL_FUNCTIONS(HTTP_DL_RESOLVE)
	if (!failure[0] && dl_curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		(void) snprintf(failure, sizeof(failure), "initialise libcurl failed");
}

static int http_load(struct err *err)
{
	(void) pthread_once(&once, load);
	if (failure[0])
		return err_set(err, ELIBACC, "%s", failure);
	return 0;
}

bool http_available(struct err *err)
{
	return http_load(err) >= 0;
}

struct sink {
	struct http_response *r;
	size_t max_body, cap, header_bytes;
	bool too_big, headers_too_big;
};

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
	struct sink *s = userdata;
	size_t len = size * n;

	if (len > s->max_body - s->r->body_len) {
		s->too_big = true;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	if (s->r->body_len + len + 1 > s->cap) {
		s->cap = (s->r->body_len + len + 1) * 2;
		if (s->cap > s->max_body + 1)
			s->cap = s->max_body + 1;
		s->r->body = xrealloc(s->r->body, s->cap);
	}
	memcpy(s->r->body + s->r->body_len, data, len);
	s->r->body_len += len;
	s->r->body[s->r->body_len] = '\0';
	return len;
}

static void drop_headers(struct http_response *r)
{
	for (size_t i = 0; i < r->n_headers; i++) {
		free(r->header_names[i]);
		free(r->header_values[i]);
	}
	free(r->header_names);
	free(r->header_values);
	r->header_names = r->header_values = NULL;
	r->n_headers = 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *userdata)
{
	struct sink *s = userdata;
	size_t len = size * n, k;
	const char *colon;

	s->header_bytes += len;
	if (s->header_bytes > HTTP_MAX_HEADERS_BYTES) {
		s->headers_too_big = true;
		return 0;
	}
	/* A new status line starts a new header block (after a 100 Continue). */
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		drop_headers(s->r);
		return len;
	}
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	colon = memchr(data, ':', len);
	if (!colon || colon == data)
		return size * n; /* the empty line that ends the block, or junk */
	k = s->r->n_headers++;
	s->r->header_names = xrealloc(s->r->header_names, s->r->n_headers * sizeof(char *));
	s->r->header_values = xrealloc(s->r->header_values, s->r->n_headers * sizeof(char *));
	s->r->header_names[k] = xstrndup(data, (size_t) (colon - data));
	colon++;
	while (colon < data + len && (*colon == ' ' || *colon == '\t'))
		colon++;
	s->r->header_values[k] = xstrndup(colon, (size_t) (data + len - colon));
	return size * n;
}

static int curl_errno(CURLcode c)
{
	switch (c) {
	case CURLE_OPERATION_TIMEDOUT:
		return ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
		return EHOSTUNREACH;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return EINVAL;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CONNECT_ERROR:
		return EPROTO;
	default:
		return EIO;
	}
}

void http_response_release(struct http_response *r)
{
	if (!r)
		return;
	drop_headers(r);
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}

static void release_curl(CURL **c)
{
	if (*c)
		dl_curl_easy_cleanup(*c);
}

int http_request(const struct http_request *req, struct http_response *ret, struct err *err)
{
	CLEANUP(release_curl) CURL *c = NULL;
	CLEANUP(http_response_release) struct http_response r = { 0 };
	cleanup_free struct curl_slist *nodes = NULL;
	struct sink s = { .r = &r };
	char ebuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode cc;
	int e;

	e = http_load(err);
	if (e < 0)
		return e;
	if (!req->method || !str_is_token(req->method))
		return err_set(err, EINVAL, "http: method is not a token");
	if (!req->url ||
	    (strncasecmp(req->url, "http://", 7) != 0 && strncasecmp(req->url, "https://", 8) != 0))
		return err_set(err, EINVAL, "http: only http:// and https:// URLs");
	/* The list libcurl reads, pointing at the caller's lines: no copy of a secret here. */
	if (req->n_headers > 0) {
		nodes = xcalloc(req->n_headers, sizeof(*nodes));
		for (size_t i = 0; i < req->n_headers; i++) {
			if (strpbrk(req->headers[i], "\r\n") || !strchr(req->headers[i], ':'))
				return err_set(err, EINVAL, "http %s: header %zu is malformed",
					       req->url, i + 1);
			nodes[i].data = (char *) req->headers[i];
			nodes[i].next = i + 1 < req->n_headers ? &nodes[i + 1] : NULL;
		}
	}
	s.max_body = req->max_body ? req->max_body : HTTP_MAX_RESPONSE_DEFAULT;
	c = dl_curl_easy_init();
	if (!c)
		return err_set(err, ENOMEM, "http: curl_easy_init failed");
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (dl_curl_easy_setopt(c, opt, val) != CURLE_OK)                                  \
			return err_set(err, EINVAL, "http: setting %s failed", #opt);              \
	} while (0)
	SET(CURLOPT_URL, req->url);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_PROXY, ""); /* never a proxy from http_proxy and friends */
	SET(CURLOPT_NOPROXY, "*");
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_NETRC, (long) CURL_NETRC_IGNORED);
	SET(CURLOPT_ERRORBUFFER, ebuf);
	SET(CURLOPT_TIMEOUT_MS,
	    (long) (req->timeout_ms ? req->timeout_ms : HTTP_TIMEOUT_MS_DEFAULT));
	SET(CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) s.max_body);
	SET(CURLOPT_ACCEPT_ENCODING, NULL); /* bytes as sent: the cap is on what we hold */
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, &s);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, &s);
	if (req->ca_file)
		SET(CURLOPT_CAINFO, req->ca_file);
	if (nodes)
		SET(CURLOPT_HTTPHEADER, nodes);
	if (strcmp(req->method, "HEAD") == 0)
		SET(CURLOPT_NOBODY, 1L);
	else if (strcmp(req->method, "GET") != 0)
		SET(CURLOPT_CUSTOMREQUEST, req->method);
	if (req->body) {
		SET(CURLOPT_POSTFIELDS, req->body);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
	}
#undef SET
	cc = dl_curl_easy_perform(c);
	if (s.too_big || cc == CURLE_FILESIZE_EXCEEDED)
		return err_set(err, EFBIG, "http %s: response body larger than %zu bytes", req->url,
			       s.max_body);
	if (s.headers_too_big)
		return err_set(err, EFBIG, "http %s: response headers larger than %u bytes",
			       req->url, HTTP_MAX_HEADERS_BYTES);
	if (cc != CURLE_OK)
		return err_set(err, curl_errno(cc), "http %s: %s", req->url,
			       ebuf[0] ? ebuf : dl_curl_easy_strerror(cc));
	(void) dl_curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	r.status = (int) status;
	if (!r.body)
		r.body = xcalloc(1, 1);
	*ret = r;
	r = (struct http_response){ 0 };
	return 0;
}
