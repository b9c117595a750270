/* http.h - a bounded HTTP client. Owns every use of libcurl, which it loads on first use
 * (dlopen), so a `mayfly exec` that makes no request does not pay for loading it. One
 * request per call, synchronous, thread-safe (each call has its own handle). Only http and
 * https; TLS peer and host verification always on; redirects are never followed (a 3xx is
 * returned to the caller, Location included); no proxy from the environment; the response
 * body is capped. Never logs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct err;

#define HTTP_MAX_RESPONSE_DEFAULT (8u << 20)  /* body bytes */
#define HTTP_MAX_HEADERS_BYTES	  (64u << 10) /* all response header lines together */
#define HTTP_TIMEOUT_MS_DEFAULT	  30000u

struct http_request {
	const char *method; /* "GET", "POST", ... (upper case token) */
	const char *url;    /* absolute http:// or https:// URL */
	/* "Name: value" lines, no CR/LF. Handed to libcurl as they are, without a copy of
	 * ours: a line holding a secret stays in the caller's (locked, wiped) memory. */
	const char *const *headers;
	size_t n_headers;
	const void *body; /* NULL for none */
	size_t body_len;
	const char *ca_file; /* PEM bundle to trust instead of the system's, or NULL */
	unsigned timeout_ms; /* whole request; 0 for HTTP_TIMEOUT_MS_DEFAULT */
	size_t max_body;     /* response body cap; 0 for HTTP_MAX_RESPONSE_DEFAULT */
};

struct http_response {
	int status;
	char **header_names; /* n_headers each, owned */
	char **header_values;
	size_t n_headers;
	char *body; /* body_len bytes and a NUL, owned */
	size_t body_len;
};

/* Make the request. On success *ret is filled (release with http_response_release()),
 * whatever the status. Errors: -ELIBACC libcurl missing, -EINVAL bad request (method,
 * header bytes, URL scheme), -EFBIG response larger than max_body, -ETIMEDOUT,
 * -ECONNREFUSED/-EHOSTUNREACH connection failed, -EPROTO TLS or protocol failure. The
 * message names the URL; it never carries a header value. */
int http_request(const struct http_request *req, struct http_response *ret, struct err *err);
void http_response_release(struct http_response *r);
/* Whether libcurl can be loaded (for tests and benchmarks to skip with a reason). */
bool http_available(struct err *err);
