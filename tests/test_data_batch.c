/* tests/test_data_batch.c - batch plans, bucketing, padding, truncation,
 * chunk windows. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/data.h"
#include "testutil.h"

static void
check_each_once(const socfw_batch_plan *p, size_t n)
{
        unsigned char *seen = calloc(n ? n : 1, 1);
        cr_assert_eq(p->n_items, n);
        cr_assert_eq(p->offsets[0], 0);
        cr_assert_eq(p->offsets[p->n_batches], n);
        for (size_t i = 0; i < n; i++) {
                cr_assert_lt(p->indices[i], n);
                cr_assert_eq(seen[p->indices[i]], 0, "item twice");
                seen[p->indices[i]] = 1;
        }
        free(seen);
}

Test(data_batch, bucketing_keeps_every_example_once)
{
        enum { N = 1003 };
        size_t lens[N];
        for (size_t i = 0; i < N; i++)
                lens[i] = (i * 7919) % 97 + 1;
        socfw_batch_plan *p, *q;
        socfw_error err = {0};
        cr_assert_eq(socfw_batch_plan_new(&p, lens, N, 16, 8, 1, 7, &err), 0);
        check_each_once(p, N);
        cr_assert_eq(p->n_batches, 63);
        /* the short batch is the only one below 16 */
        size_t short_batches = 0;
        double spread = 0;
        for (size_t b = 0; b < p->n_batches; b++) {
                size_t s = p->offsets[b], e = p->offsets[b + 1];
                if (e - s != 16)
                        short_batches++;
                size_t lo = SIZE_MAX, hi = 0;
                for (size_t i = s; i < e; i++) {
                        size_t l = lens[p->indices[i]];
                        lo = l < lo ? l : lo;
                        hi = l > hi ? l : hi;
                }
                spread += (double)(hi - lo);
        }
        cr_assert_eq(short_batches, 1);
        /* bucketing makes batches far more uniform than random ones */
        cr_assert_eq(socfw_batch_plan_new(&q, lens, N, 16, 0, 1, 7, &err), 0);
        check_each_once(q, N);
        double spread_random = 0;
        for (size_t b = 0; b < q->n_batches; b++) {
                size_t lo = SIZE_MAX, hi = 0;
                for (size_t i = q->offsets[b]; i < q->offsets[b + 1]; i++) {
                        size_t l = lens[q->indices[i]];
                        lo = l < lo ? l : lo;
                        hi = l > hi ? l : hi;
                }
                spread_random += (double)(hi - lo);
        }
        cr_assert_lt(spread * 4, spread_random, "bucketed %g random %g",
                     spread, spread_random);
        /* deterministic */
        socfw_batch_plan *p2;
        cr_assert_eq(socfw_batch_plan_new(&p2, lens, N, 16, 8, 1, 7, &err), 0);
        cr_assert_arr_eq(p->indices, p2->indices, N * sizeof(size_t));
        socfw_batch_plan_free(p);
        socfw_batch_plan_free(p2);
        socfw_batch_plan_free(q);
        socfw_batch_plan_free(NULL);
}

Test(data_batch, sequential_and_edge_sizes)
{
        socfw_batch_plan *p;
        socfw_error err = {0};
        cr_assert_eq(socfw_batch_plan_new(&p, NULL, 5, 2, 0, 0, 0, &err), 0);
        cr_assert_eq(p->n_batches, 3);
        size_t want_off[] = {0, 2, 4, 5};
        cr_assert_arr_eq(p->offsets, want_off, sizeof want_off);
        for (size_t i = 0; i < 5; i++)
                cr_assert_eq(p->indices[i], i);
        socfw_batch_plan_free(p);
        cr_assert_eq(socfw_batch_plan_new(&p, NULL, 0, 4, 0, 1, 1, &err), 0);
        cr_assert_eq(p->n_batches, 0);
        socfw_batch_plan_free(p);
        cr_assert_eq(socfw_batch_plan_new(&p, NULL, 3, 0, 0, 0, 0, &err),
                     SOCFW_EINVAL);
        socfw_error_clear(&err);
        cr_assert_eq(socfw_batch_plan_new(&p, NULL, 3, 2, 4, 1, 0, &err),
                     SOCFW_EINVAL);
}

Test(data_batch, pad_right_and_left_with_mask)
{
        const int32_t a[] = {5, 6, 7}, b[] = {8}, c[] = {1, 2, 3, 4, 5};
        const int32_t *seqs[] = {a, b, c};
        size_t lens[] = {3, 1, 5};
        socfw_padded_batch *p;
        socfw_error err = {0};
        cr_assert_eq(socfw_batch_pad(&p, seqs, lens, 3, 4, 0, 0, &err), 0);
        cr_assert_eq(p->B, 3);
        cr_assert_eq(p->T, 4);
        const int32_t want[] = {5, 6, 7, 0, 8, 0, 0, 0, 1, 2, 3, 4};
        const float wmask[] = {1, 1, 1, 0, 1, 0, 0, 0, 1, 1, 1, 1};
        cr_assert_arr_eq(p->ids, want, sizeof want);
        for (int i = 0; i < 12; i++)
                cr_assert_float_eq(p->mask[i], wmask[i], 0);
        cr_assert_eq(p->lengths[2], 4);
        socfw_padded_batch_free(p);
        cr_assert_eq(socfw_batch_pad(&p, seqs, lens, 2, 0, -1, 1, &err), 0);
        cr_assert_eq(p->T, 3);
        const int32_t wl[] = {5, 6, 7, -1, -1, 8};
        cr_assert_arr_eq(p->ids, wl, sizeof wl);
        cr_assert_float_eq(p->mask[3], 0, 0);
        cr_assert_float_eq(p->mask[5], 1, 0);
        socfw_padded_batch_free(p);
        socfw_padded_batch_free(NULL);
}

struct trunc_case {
        socfw_truncate_policy pol;
        size_t max_len, head;
        int32_t want[8];
        size_t n;
};

Test(data_batch, truncation_policies)
{
        const int32_t in[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
        static const struct trunc_case cases[] = {
                {SOCFW_TRUNCATE_HEAD, 4, 0, {1, 2, 3, 4}, 4},
                {SOCFW_TRUNCATE_TAIL, 4, 0, {7, 8, 9, 10}, 4},
                {SOCFW_TRUNCATE_HEAD_TAIL, 5, 2, {1, 2, 8, 9, 10}, 5},
                {SOCFW_TRUNCATE_HEAD_TAIL, 3, 9, {1, 2, 3}, 3},
                {SOCFW_TRUNCATE_HEAD_TAIL, 3, 0, {8, 9, 10}, 3},
                {SOCFW_TRUNCATE_TAIL, 0, 0, {0}, 0},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                int32_t out[10] = {0};
                size_t n = socfw_truncate(in, 10, out, cases[i].max_len,
                                          cases[i].pol, cases[i].head);
                cr_assert_eq(n, cases[i].n, "case %zu", i);
                cr_assert_arr_eq(out, cases[i].want, n * sizeof(int32_t),
                                 "case %zu", i);
        }
        int32_t out[16];
        cr_assert_eq(socfw_truncate(in, 3, out, 8, SOCFW_TRUNCATE_TAIL, 0), 3);
        cr_assert_arr_eq(out, in, 3 * sizeof(int32_t));
        cr_assert_eq(socfw_truncate_policy_parse("head+tail"),
                     SOCFW_TRUNCATE_HEAD_TAIL);
        cr_assert_eq(socfw_truncate_policy_parse("middle"), -1);
}

struct chunk_case {
        size_t n, window, stride, count;
        size_t starts[8];
};

Test(data_batch, chunk_windows_overlap_and_cover)
{
        static const struct chunk_case cases[] = {
                {10, 4, 2, 4, {0, 2, 4, 6}},
                {11, 4, 3, 4, {0, 3, 6, 7}},
                {3, 4, 2, 1, {0}},
                {4, 4, 2, 1, {0}},
                {9, 4, 4, 3, {0, 4, 5}},
                {0, 4, 2, 1, {0}},
                {10, 0, 2, 0, {0}},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                size_t starts[8];
                size_t c = socfw_chunk_windows(cases[i].n, cases[i].window,
                                               cases[i].stride, starts, 8);
                cr_assert_eq(c, cases[i].count, "case %zu: %zu", i, c);
                cr_assert_arr_eq(starts, cases[i].starts, c * sizeof(size_t),
                                 "case %zu", i);
                /* every token is covered */
                for (size_t t = 0; c && t < cases[i].n; t++) {
                        int hit = 0;
                        for (size_t k = 0; k < c; k++)
                                hit |= t >= starts[k] &&
                                       t < starts[k] + cases[i].window;
                        cr_assert(hit, "case %zu token %zu", i, t);
                }
        }
        cr_assert_eq(socfw_chunk_windows(1000, 10, 5, NULL, 0), 199);
}
