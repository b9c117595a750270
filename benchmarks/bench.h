/* bench.h - what every benchmark needs: a monotonic clock and order statistics. Header
 * only: each benchmark is one .c file linked with libmayfly. */
#pragma once

#include <stddef.h>
#include <stdlib.h>
#include <time.h>

static inline double bench_now_ms(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static inline double bench_now_us(void)
{
	return bench_now_ms() * 1e3;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;

	return (x > y) - (x < y);
}

/* The p-quantile (0 <= p <= 1, nearest rank) of v[0..n), which is sorted in place; 0 for
 * no samples. */
static inline double bench_pct(double *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), bench_cmp_double);
	return v[(size_t) (p * (double) (n - 1) + 0.5)];
}

/* The median of v[0..n) (the mean of the middle two for an even n), sorted in place. */
static inline double bench_median(double *v, size_t n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
