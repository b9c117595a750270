/* handle.c - one request: find the grant, check it, sign inline or start the upstream
 * request in a thread; build the answer; audit. */
#include "broker/internal.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "http/http.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

struct job {
	struct job *next; /* in the queue */
	struct broker_server *srv;
	size_t slot;
	unsigned gen;
	const struct broker_grant *g;
	struct broker_req req;
	struct broker_url url;
	uint64_t start_ms;
	/* results */
	char *response;
	int status;
	size_t bytes;
	char reason[ERR_MSG_MAX];
};

char *broker_error_json(const char *msg)
{
	struct json_w *w = json_w_new();

	json_w_obj_open(w, NULL);
	json_w_bool(w, "ok", false);
	json_w_str(w, "error", msg);
	json_w_obj_close(w);
	return json_w_done(w);
}

static const struct broker_grant *find_grant(const struct broker_server *s, const char *name)
{
	for (size_t i = 0; i < s->cfg->n_grants; i++)
		if (strcmp(broker_grant_name(s->cfg->grants[i]), name) == 0)
			return s->cfg->grants[i];
	return NULL;
}

static void not_granted(const struct broker_server *s, const char *name, struct err *err)
{
	char names[256] = "";
	size_t o = 0;

	for (size_t i = 0; i < s->cfg->n_grants && o < sizeof(names); i++)
		o += (size_t) snprintf(names + o, sizeof(names) - o, "%s%s", i ? ", " : "",
				       broker_grant_name(s->cfg->grants[i]));
	(void) err_set(err, EACCES, "'%.128s' is not granted to this sandbox (granted: %s)", name,
		       o ? names : "none");
}

/* Header values go back as JSON strings: bytes outside printable ASCII become '?', so
 * the answer is valid UTF-8 whatever the server sent. */
static void put_headers(struct json_w *w, const struct http_response *r)
{
	/* Framing headers describe what libcurl received, not the (scrubbed, decoded) body
	 * the job gets: replaced by the length it does get. */
	static const char *const framing[] = { "content-length", "transfer-encoding", "connection",
					       "keep-alive" };

	json_w_obj_open(w, "headers");
	for (size_t i = 0; i < r->n_headers; i++) {
		bool seen = false;
		for (size_t k = 0; k < ARRAY_SIZE(framing); k++)
			seen = seen || strcasecmp(r->header_names[i], framing[k]) == 0;
		for (size_t k = 0; k < i; k++)
			seen = seen || strcasecmp(r->header_names[k], r->header_names[i]) == 0;
		if (seen)
			continue;
		cleanup_free char *v = xstrdup(r->header_values[i]);
		for (size_t k = i + 1; k < r->n_headers; k++)
			if (strcasecmp(r->header_names[k], r->header_names[i]) == 0) {
				char *j = xasprintf("%s, %s", v, r->header_values[k]);
				free(v);
				v = j;
			}
		for (char *p = v; *p; p++)
			if ((unsigned char) *p < 0x20 || (unsigned char) *p >= 0x7f)
				*p = '?';
		cleanup_free char *name = xstrdup(r->header_names[i]);
		for (char *p = name; *p; p++) {
			if (*p >= 'A' && *p <= 'Z')
				*p = (char) (*p - 'A' + 'a');
			else if ((unsigned char) *p < 0x20 || (unsigned char) *p >= 0x7f)
				*p = '?';
		}
		json_w_str(w, name, v);
	}
	cleanup_free char *len = xasprintf("%zu", r->body_len);
	json_w_str(w, "content-length", len);
	json_w_obj_close(w);
}

static char *b64(const void *data, size_t len)
{
	size_t cap = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
	char *out = xmalloc(cap);

	(void) sodium_bin2base64(out, cap, data, len, sodium_base64_VARIANT_ORIGINAL);
	return out;
}

static void run_job(struct job *j)
{
	const struct broker_server *s = j->srv;
	cleanup_free char *url = broker_url_format(&j->url);
	cleanup_free const char **hdrs = xcalloc(j->req.n_headers + 1, sizeof(char *));
	char *line = grant_header_line(j->g);
	const struct broker_scrub *scrub = &j->g->scrub;
	struct http_response resp = { 0 };
	struct err err = { 0 };
	int r;

	for (size_t i = 0; i < j->req.n_headers; i++)
		hdrs[i] = j->req.headers[i];
	hdrs[j->req.n_headers] = line;
	const struct http_request hr = {
		.method = j->req.method,
		.url = url,
		.headers = hdrs,
		.n_headers = j->req.n_headers + 1,
		.body = j->req.body,
		.body_len = j->req.body_len,
		.ca_file = s->cfg->ca_file,
		.timeout_ms = s->lim.upstream_ms,
		.max_body = s->lim.max_response,
	};
	r = http_request(&hr, &resp, &err);
	broker_secure_free(line);
	/* SECURITY: the server may echo the secret (an API that reflects its request): every
	 * form of it is replaced before anything reaches the job. */
	(void) grant_open(j->g);
	if (r < 0) {
		char *m = xstrdup(err.msg);
		size_t ml = strlen(m);
		(void) broker_scrub_apply(scrub, &m, &ml);
		(void) snprintf(j->reason, sizeof(j->reason), "upstream: %s", m);
		j->response = broker_error_json(j->reason);
		free(m);
	} else {
		struct json_w *w = json_w_new();
		cleanup_free char *body_b64 = NULL;
		for (size_t i = 0; i < resp.n_headers; i++) {
			size_t l = strlen(resp.header_values[i]);
			(void) broker_scrub_apply(scrub, &resp.header_values[i], &l);
		}
		(void) broker_scrub_apply(scrub, &resp.body, &resp.body_len);
		body_b64 = b64(resp.body, resp.body_len);
		json_w_obj_open(w, NULL);
		json_w_bool(w, "ok", true);
		json_w_i64(w, "status", resp.status);
		put_headers(w, &resp);
		json_w_str(w, "body_b64", body_b64);
		json_w_obj_close(w);
		j->response = json_w_done(w);
		j->status = resp.status;
		j->bytes = resp.body_len;
		http_response_release(&resp);
	}
	grant_close(j->g);
	/* A pointer is 8 bytes: one atomic write to the pipe. */
	void *p = j;
	(void) !write(s->wake[1], &p, sizeof(p));
}

/* Upstream requests run on up to BROKER_MAX_JOBS threads, made when first needed and kept:
 * a new thread per request would pay for TLS library per-thread state every time. */
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cond = PTHREAD_COND_INITIALIZER;
static struct job *q_head, *q_tail;
static unsigned n_threads, n_idle;

static void *worker(void *arg)
{
	for (;;) {
		struct job *j;
		(void) pthread_mutex_lock(&q_lock);
		while (!q_head) {
			n_idle++;
			(void) pthread_cond_wait(&q_cond, &q_lock);
			n_idle--;
		}
		j = q_head;
		q_head = j->next;
		if (!q_head)
			q_tail = NULL;
		(void) pthread_mutex_unlock(&q_lock);
		run_job(j);
	}
	return arg;
}

static int submit(struct job *j)
{
	int r = 0;

	(void) pthread_mutex_lock(&q_lock);
	if (n_idle == 0 && n_threads < BROKER_MAX_JOBS) {
		pthread_t t;
		pthread_attr_t attr;
		(void) pthread_attr_init(&attr);
		(void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		r = pthread_create(&t, &attr, worker, NULL);
		(void) pthread_attr_destroy(&attr);
		if (r == 0)
			n_threads++;
		else if (n_threads > 0)
			r = 0; /* the others will get to it */
	}
	if (r == 0) {
		j->next = NULL;
		if (q_tail)
			q_tail->next = j;
		else
			q_head = j;
		q_tail = j;
		(void) pthread_cond_signal(&q_cond);
	}
	(void) pthread_mutex_unlock(&q_lock);
	return r;
}

static void job_free(struct job *j)
{
	broker_req_release(&j->req);
	broker_url_release(&j->url);
	free(j->response);
	free(j);
}

void broker_job_done(struct broker_server *s, void *p)
{
	struct job *j = p;
	struct broker_conn *c = j->slot < s->n_conns ? &s->conns[j->slot] : NULL;
	const struct broker_audit a = {
		.pid = c && c->gen == j->gen ? c->pid : 0,
		.verb = "http",
		.name = j->req.name,
		.method = j->req.method,
		.host = j->url.host,
		.port = j->url.port,
		.path = j->url.path,
		.status = j->status,
		.bytes = j->bytes,
		.start_ms = j->start_ms,
		.allowed = true,
		.reason = j->reason[0] ? j->reason : (c && c->gen == j->gen ? "" : "client gone"),
	};

	bool logged = broker_audit_write(s, &a);
	s->jobs--;
	if (c && c->gen == j->gen && c->fd >= 0) {
		c->busy = false;
		c->last_ms = broker_now_ms();
		broker_conn_reply(c, broker_audited(logged, TAKE_PTR(j->response)));
	}
	job_free(j);
}

static char *dry_run_answer(const struct broker_grant *g, const struct broker_req *req,
			    const char *url)
{
	struct json_w *w = json_w_new();

	json_w_obj_open(w, NULL);
	json_w_bool(w, "ok", true);
	json_w_bool(w, "dry_run", true);
	json_w_i64(w, "status", 200);
	json_w_obj_open(w, "headers");
	json_w_obj_close(w);
	json_w_str(w, "body_b64", "");
	json_w_obj_open(w, "would_send");
	json_w_str(w, "method", req->method);
	json_w_str(w, "url", url);
	json_w_arr_open(w, "headers");
	for (size_t i = 0; i < req->n_headers; i++)
		json_w_str(w, NULL, req->headers[i]);
	cleanup_free char *inj = xasprintf("%s: ***", grant_header_name(g));
	json_w_str(w, NULL, inj);
	json_w_arr_close(w);
	json_w_i64(w, "body_bytes", (int64_t) req->body_len);
	json_w_obj_close(w);
	json_w_obj_close(w);
	return json_w_done(w);
}

static void refuse(struct broker_server *s, struct broker_conn *c, struct broker_audit *a,
		   const struct err *err)
{
	a->reason = err->msg;
	(void) broker_audit_write(s, a);
	broker_conn_reply(c, broker_error_json(err->msg));
}

void broker_handle(struct broker_server *s, size_t i, const char *line, size_t len)
{
	struct broker_conn *c = &s->conns[i];
	CLEANUP(broker_req_release) struct broker_req req = { 0 };
	struct broker_audit a = { .pid = c->pid, .start_ms = broker_now_ms() };
	const struct broker_grant *g;
	struct err err = { 0 };
	int r;

	r = broker_request_parse(line, len, s->lim.max_body, &req, &err);
	if (r < 0) {
		(void) err_wrap(&err, "bad request");
		return refuse(s, c, &a, &err);
	}
	a.verb = req.verb == REQ_SIGN ? "sign" : "http";
	a.name = req.name;
	g = find_grant(s, req.name);
	if (!g) {
		not_granted(s, req.name, &err);
		return refuse(s, c, &a, &err);
	}
	if (req.verb == REQ_SIGN) {
		struct broker_sign_result res;
		struct json_w *w;
		a.method = req.alg;
		a.bytes = req.payload_len;
		r = broker_sign(g, &req, &res, &err);
		if (r < 0)
			return refuse(s, c, &a, &err);
		w = json_w_new();
		json_w_obj_open(w, NULL);
		json_w_bool(w, "ok", true);
		json_w_str(w, "alg", req.alg);
		json_w_str(w, "signature_hex", res.signature_hex);
		if (res.public_key_hex[0])
			json_w_str(w, "public_key_hex", res.public_key_hex);
		json_w_obj_close(w);
		a.allowed = true;
		broker_conn_reply(c, broker_audited(broker_audit_write(s, &a), json_w_done(w)));
		return;
	}
	/* http */
	struct broker_url url = { 0 };
	a.method = req.method;
	r = broker_http_check(g, &req, &url, &err);
	if (r < 0) {
		/* The audit names what was asked for, as far as it parsed. */
		struct broker_url asked = { 0 };
		struct err ignored = { 0 };
		if (broker_url_parse(req.url, &asked, &ignored) == 0) {
			a.host = asked.host;
			a.port = asked.port;
			a.path = asked.path;
		}
		a.reason = err.msg;
		(void) broker_audit_write(s, &a);
		broker_url_release(&asked);
		broker_conn_reply(c, broker_error_json(err.msg));
		return;
	}
	if (s->cfg->dry_run) {
		cleanup_free char *u = broker_url_format(&url);
		a.host = url.host;
		a.port = url.port;
		a.path = url.path;
		a.allowed = true;
		a.dry_run = true;
		a.bytes = req.body_len;
		a.reason = "dry run: not sent";
		broker_conn_reply(
			c, broker_audited(broker_audit_write(s, &a), dry_run_answer(g, &req, u)));
		broker_url_release(&url);
		return;
	}
	if (s->jobs >= BROKER_MAX_JOBS) {
		broker_url_release(&url);
		(void) err_set(&err, EBUSY, "%d upstream requests are already running; retry",
			       BROKER_MAX_JOBS);
		return refuse(s, c, &a, &err);
	}
	struct job *j = xcalloc(1, sizeof(*j));
	j->srv = s;
	j->slot = i;
	j->gen = c->gen;
	j->g = g;
	j->req = req;
	req = (struct broker_req){ 0 };
	j->url = url;
	j->start_ms = a.start_ms;
	r = submit(j);
	if (r != 0) {
		req = j->req;
		j->req = (struct broker_req){ 0 };
		job_free(j);
		(void) err_set(&err, r, "start a thread for the request");
		return refuse(s, c, &a, &err);
	}
	s->jobs++;
	c->busy = true;
}
