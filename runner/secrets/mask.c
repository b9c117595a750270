/* mask.c - the output masker. Every value becomes a set of byte patterns (the value, its
 * hex, base64 and base64url at each of the three alignments it can have inside a longer
 * encoded text, its URL- and JSON-escaped forms), kept in one sodium_malloc() arena. The
 * scan looks up each pair of adjacent bytes in a 64 Kbit table of the patterns' first two
 * bytes and compares only where a pattern may start; the longest pattern matching at the
 * leftmost position is replaced. The stream's tail that is a proper prefix of a pattern is
 * held back until more output (or the end) decides it. */
#include "secrets/secrets.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "secrets/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define CHUNK (64 * 1024)

struct pattern {
	size_t off; /* in arena */
	size_t len;
};

struct secret_masker {
	unsigned char *arena; /* sodium_malloc: every pattern's bytes */
	size_t arena_len, arena_cap;
	unsigned char *scratch; /* sodium_malloc: one value's forms while they are made */
	size_t scratch_cap;
	struct pattern *pats;
	size_t n;
	size_t maxlen;
	uint64_t pair[65536 / 64]; /* first two bytes of some pattern */
	size_t *bucket[256];	   /* pattern indices by first byte, longest first */
	size_t nbucket[256];
	unsigned char *buf; /* sodium_malloc: held-back tail + one chunk */
	size_t buf_cap;
	size_t held;
};

struct secret_masker *secret_masker_new(void)
{
	if (sodium_init() < 0)
		abort();
	return xcalloc(1, sizeof(struct secret_masker));
}

struct secret_masker *secret_masker_free(struct secret_masker *m)
{
	if (!m)
		return NULL;
	if (m->arena)
		sodium_free(m->arena);
	if (m->buf)
		sodium_free(m->buf);
	if (m->scratch)
		sodium_free(m->scratch);
	for (size_t i = 0; i < 256; i++)
		free(m->bucket[i]);
	free(m->pats);
	free(m);
	return NULL;
}

static void *smalloc(size_t n)
{
	void *p = sodium_malloc(n ? n : 1);
	if (!p)
		abort();
	return p;
}

/* The forms of one value, in the masker's scratch buffer. */
struct cands {
	unsigned char *buf;
	size_t used, cap;
	size_t off[16];
	size_t len[16];
	size_t n;
};

static unsigned char *cand_begin(struct cands *c, size_t max)
{
	if (c->used + max > c->cap)
		abort(); /* sized by secret_masker_add() */
	return c->buf + c->used;
}

/* Keep the form just written at cand_begin() unless it is a duplicate or too short. */
static void cand_end(struct cands *c, size_t len)
{
	const unsigned char *p = c->buf + c->used;

	if (len < SECRET_MIN_LEN || c->n == ARRAY_SIZE(c->off))
		return;
	for (size_t i = 0; i < c->n; i++)
		if (c->len[i] == len && memcmp(c->buf + c->off[i], p, len) == 0)
			return;
	c->off[c->n] = c->used;
	c->len[c->n++] = len;
	c->used += len;
}

static void add_hex(struct cands *c, const unsigned char *v, size_t n, bool upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	unsigned char *p = cand_begin(c, 2 * n);

	for (size_t i = 0; i < n; i++) {
		p[2 * i] = (unsigned char) digits[v[i] >> 4];
		p[2 * i + 1] = (unsigned char) digits[v[i] & 15];
	}
	cand_end(c, 2 * n);
}

/* The base64 characters that depend on v alone when v starts `align` bytes into a 3-byte
 * group: character i covers bits [6i, 6i+6) of the prefix-and-value bit string. */
static void add_b64(struct cands *c, const unsigned char *v, size_t n, unsigned align,
		    const char *alphabet)
{
	size_t bits_from = 8 * (size_t) align, bits_to = 8 * ((size_t) align + n);
	size_t first = (bits_from + 5) / 6, last = bits_to / 6; /* chars [first, last) */
	unsigned char *p = cand_begin(c, last - first);
	size_t k = 0;

	for (size_t i = first; i < last; i++) {
		unsigned idx = 0;
		for (size_t b = 6 * i; b < 6 * i + 6; b++) {
			size_t byte = b / 8 - align;
			idx = (idx << 1) | ((v[byte] >> (7 - b % 8)) & 1);
		}
		p[k++] = (unsigned char) alphabet[idx];
	}
	cand_end(c, k);
}

static bool url_unreserved(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

static void add_url(struct cands *c, const unsigned char *v, size_t n, bool upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	unsigned char *p = cand_begin(c, 3 * n);
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (url_unreserved(v[i]))
			p[k++] = v[i];
		else {
			p[k++] = '%';
			p[k++] = (unsigned char) digits[v[i] >> 4];
			p[k++] = (unsigned char) digits[v[i] & 15];
		}
	}
	cand_end(c, k);
}

static void add_json(struct cands *c, const unsigned char *v, size_t n)
{
	unsigned char *p = cand_begin(c, 6 * n);
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = v[i];
		const char *esc = ch == '"'    ? "\\\""
				  : ch == '\\' ? "\\\\"
				  : ch == '\n' ? "\\n"
				  : ch == '\r' ? "\\r"
				  : ch == '\t' ? "\\t"
				  : ch == '\b' ? "\\b"
				  : ch == '\f' ? "\\f"
					       : NULL;
		if (esc) {
			p[k++] = (unsigned char) esc[0];
			p[k++] = (unsigned char) esc[1];
		} else if (ch < 0x20) {
			char u[7];
			(void) snprintf(u, sizeof(u), "\\u%04x", ch);
			memcpy(p + k, u, 6);
			k += 6;
		} else
			p[k++] = ch;
	}
	cand_end(c, k);
}

static int cmp_len_desc(const void *a, const void *b, void *arg)
{
	const struct pattern *pats = arg;
	size_t x = pats[*(const size_t *) a].len, y = pats[*(const size_t *) b].len;
	return x < y ? 1 : x > y ? -1 : 0;
}

static void index_patterns(struct secret_masker *m)
{
	memset(m->pair, 0, sizeof(m->pair));
	for (size_t b = 0; b < 256; b++) {
		free(m->bucket[b]);
		m->bucket[b] = NULL;
		m->nbucket[b] = 0;
	}
	for (size_t i = 0; i < m->n; i++) {
		const unsigned char *p = m->arena + m->pats[i].off;
		unsigned pr = (unsigned) p[0] << 8 | p[1];
		m->pair[pr / 64] |= 1ULL << (pr % 64);
		m->bucket[p[0]] =
			xrealloc(m->bucket[p[0]], (m->nbucket[p[0]] + 1) * sizeof(size_t));
		m->bucket[p[0]][m->nbucket[p[0]]++] = i;
	}
	for (size_t b = 0; b < 256; b++)
		if (m->nbucket[b] > 1)
			qsort_r(m->bucket[b], m->nbucket[b], sizeof(size_t), cmp_len_desc, m->pats);
}

/* Forms of a value of len bytes: raw 1 + hex 2x2 + base64 6x(4/3) + URL 2x3 + JSON 6, under
 * 26 bytes per byte; the longest is the JSON form, at most 6 per byte. */
#define FORMS_MAX(len) (26 * (len) + 64)
#define FORM_MAX(len)  (6 * (len))

static unsigned char *regrow(unsigned char *old, size_t keep, size_t cap)
{
	unsigned char *p = smalloc(cap);

	if (old) {
		memcpy(p, old, keep);
		sodium_free(old);
	}
	return p;
}

/* Room for values of `more` bytes in all, the longest max_len, before they are added: each
 * sodium_malloc() costs guard pages and an mlock (milliseconds on a busy host), so the
 * buffers grow once per lease rather than once per form. */
static void reserve(struct secret_masker *m, size_t more, size_t max_len)
{
	if (m->arena_len + FORMS_MAX(more) > m->arena_cap) {
		m->arena_cap = 2 * (m->arena_len + FORMS_MAX(more));
		m->arena = regrow(m->arena, m->arena_len, m->arena_cap);
	}
	if (FORMS_MAX(max_len) > m->scratch_cap) {
		m->scratch_cap = FORMS_MAX(max_len);
		m->scratch = regrow(m->scratch, 0, m->scratch_cap);
	}
	if (FORM_MAX(max_len) + CHUNK > m->buf_cap) {
		m->buf_cap = FORM_MAX(max_len) + CHUNK;
		m->buf = regrow(m->buf, m->held, m->buf_cap);
	}
}

int secret_masker_add(struct secret_masker *m, const void *value, size_t len, struct err *err)
{
	static const char std[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	static const char url[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *v = value;
	struct cands c = { 0 };

	if (len < SECRET_MIN_LEN || len > SECRET_MAX_LEN)
		return err_set(err, EMSGSIZE, "a value of %zu bytes cannot be masked (%d to %d)",
			       len, SECRET_MIN_LEN, SECRET_MAX_LEN);
	reserve(m, len, len);
	c.cap = m->scratch_cap;
	c.buf = m->scratch;
	memcpy(cand_begin(&c, len), v, len);
	cand_end(&c, len);
	add_hex(&c, v, len, false);
	add_hex(&c, v, len, true);
	for (unsigned a = 0; a < 3; a++) {
		add_b64(&c, v, len, a, std);
		add_b64(&c, v, len, a, url);
	}
	add_url(&c, v, len, true);
	add_url(&c, v, len, false);
	add_json(&c, v, len);
	/* Drop what the masker has already. */
	bool keep[ARRAY_SIZE(c.off)] = { false };
	for (size_t i = 0; i < c.n; i++) {
		keep[i] = true;
		for (size_t j = 0; j < m->n && keep[i]; j++)
			keep[i] = !(m->pats[j].len == c.len[i] &&
				    memcmp(m->arena + m->pats[j].off, c.buf + c.off[i], c.len[i]) ==
					    0);
	}
	m->pats = xrealloc(m->pats, (m->n + c.n) * sizeof(*m->pats));
	for (size_t i = 0; i < c.n; i++) {
		if (!keep[i])
			continue;
		memcpy(m->arena + m->arena_len, c.buf + c.off[i], c.len[i]);
		m->pats[m->n++] = (struct pattern){ m->arena_len, c.len[i] };
		m->arena_len += c.len[i];
		if (c.len[i] > m->maxlen)
			m->maxlen = c.len[i];
	}
	sodium_memzero(c.buf, c.used);
	index_patterns(m);
	return 0;
}

int secret_masker_add_lease(struct secret_masker *m, const struct secret_lease *l, struct err *err)
{
	for (size_t i = 0; i < secret_lease_count(l); i++) {
		const struct secret_value *v = secret_lease_value(l, i);
		const struct secret_value *part = secret_lease_part(l, i);
		int r = secret_masker_add(m, v->data, v->len, err);
		if (r == 0 && part)
			r = secret_masker_add(m, part->data, part->len, err);
		if (r < 0)
			return err_wrap(err, "mask '%s'", secret_lease_name(l, i));
	}
	return 0;
}

/* Scan b[0, len): write what is decided, return how many bytes (a tail) stay undecided. */
static int scan(struct secret_masker *m, const unsigned char *b, size_t len, bool final,
		secret_mask_out_fn *out, void *userdata, size_t *ret_held)
{
	size_t i = 0, from = 0;
	int r;

	while (i < len) {
		if (len - i >= 2) {
			unsigned pr = (unsigned) b[i] << 8 | b[i + 1];
			if (!(m->pair[pr / 64] & (1ULL << (pr % 64)))) {
				i++;
				continue;
			}
		} else if (m->nbucket[b[i]] == 0) {
			i++;
			continue;
		}
		size_t match = 0;
		bool partial = false;
		for (size_t k = 0; k < m->nbucket[b[i]]; k++) {
			const struct pattern *p = &m->pats[m->bucket[b[i]][k]];
			const unsigned char *pb = m->arena + p->off;
			if (len - i >= p->len) {
				if (memcmp(b + i, pb, p->len) == 0) {
					match = p->len;
					break; /* longest first: nothing longer matched */
				}
			} else if (!final && memcmp(b + i, pb, len - i) == 0) {
				partial = true;
				break;
			}
		}
		if (partial) {
			if (i > from && (r = out(userdata, b + from, i - from)) < 0)
				return r;
			*ret_held = len - i;
			return 0;
		}
		if (match) {
			if (i > from && (r = out(userdata, b + from, i - from)) < 0)
				return r;
			if ((r = out(userdata, SECRET_MASK, strlen(SECRET_MASK))) < 0)
				return r;
			i += match;
			from = i;
			continue;
		}
		i++;
	}
	if (len > from && (r = out(userdata, b + from, len - from)) < 0)
		return r;
	*ret_held = 0;
	return 0;
}

int secret_masker_feed(struct secret_masker *m, const void *data, size_t len,
		       secret_mask_out_fn *out, void *userdata)
{
	const unsigned char *d = data;

	if (m->n == 0)
		return len ? out(userdata, data, len) : 0;
	while (len > 0) {
		size_t take = len < CHUNK ? len : CHUNK, held = 0;
		int r;

		memcpy(m->buf + m->held, d, take);
		r = scan(m, m->buf, m->held + take, false, out, userdata, &held);
		if (r < 0)
			return r;
		memmove(m->buf, m->buf + m->held + take - held, held);
		m->held = held;
		d += take;
		len -= take;
	}
	return 0;
}

int secret_masker_flush(struct secret_masker *m, secret_mask_out_fn *out, void *userdata)
{
	size_t held = 0;
	int r;

	if (m->held == 0)
		return 0;
	r = scan(m, m->buf, m->held, true, out, userdata, &held);
	sodium_memzero(m->buf, m->held);
	m->held = 0;
	return r;
}
