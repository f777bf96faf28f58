/* names_zh_translit.c - transliterated foreign names in Chinese text
 * (安德鲁古德洛克, 毕加索, 玛丽·居里): a run of characters of the
 * transliteration tables (names_zh_lists.c), cut where a word that is
 * never a person stands (纽约, 曼联, 沙拉), is a name when a role or a
 * speech verb is next to it (球星, 总统, 说, 一句话) or a middle dot
 * joins its parts.  Without either, such a run is as often a place, a
 * brand or a dish, and is left alone.  See names.h.
 *
 * Linear: every character is tested once against a bitmap; a run is at
 * most MAX_RUN characters (longer ones are skipped whole), and the words
 * that cut it are looked up at each of its positions (up to 8 characters
 * each).
 */
#include "names_impl.h"

#include <string.h>

#define MAX_RUN 16      /* characters of a run                          */

/* Middle dots joining the parts of a foreign name. */
static int
is_dot(uint32_t cp)
{
        return cp == 0x00B7 || cp == 0x2022 || cp == 0x2027 ||
               cp == 0x30FB || cp == 0xFF65 || cp == 0x2219;
}

/* Score one segment [a, b) of a run's characters; emit when it passes. */
static int
segment(const socfw_pii_names *nm, const char *t, size_t len,
        const size_t *st, const size_t *en, const uint32_t *cps, size_t a,
        size_t b, socfw_pii_spans *out, found *fnd, size_t *n_fnd)
{
        /* the context: right before or after the run, or a role that
         * ends inside it (模特 + 安德鲁: 特 is a transliteration character)
         * or a word that starts inside its end (博士, 夫人, 坦言) */
        int ctx = 0;
        const char *const *cl = nm->translit_ctx_zh;
        for (size_t d = 0; d <= 2 && !ctx && a + d < b; d++)
                if (socfw_pii_names_zh_before(t, d ? en[a + d - 1] : st[a], cl)) {
                        ctx = 1;
                        a += d;
                }
        for (size_t d = 0; d <= 2 && !ctx && b >= a + d + 1; d++)
                if (socfw_pii_names_zh_after(t, len, d ? st[b - d] : en[b - 1], cl)) {
                        ctx = 1;
                        b -= d;
                }
        /* no dot at either end */
        while (a < b && is_dot(cps[a]))
                a++;
        while (b > a && is_dot(cps[b - 1]))
                b--;
        size_t chars = 0, dots = 0;
        int same = 1;
        for (size_t j = a; j < b; j++) {
                dots += is_dot(cps[j]) != 0;
                chars += !is_dot(cps[j]);
                if (!is_dot(cps[j]) && cps[j] != cps[a])
                        same = 0;
                /* a character three times running: 哈哈哈, not a name */
                if (j >= a + 2 && cps[j] == cps[j - 1] && cps[j] == cps[j - 2])
                        return 0;
        }
        if (chars < 3 || same)
                return 0;
        /* a repeated pair: 拉拉, 巴巴 (then 哈哈 ... already cut) */
        if (chars == 4 && !dots && cps[a] == cps[a + 2] &&
            cps[a + 1] == cps[a + 3])
                return 0;
        size_t s = st[a], e = en[b - 1];
        float z = -2.0f;
        if (dots)
                z += 2.5f;
        if (ctx)
                z += 2.6f;
        if (chars >= 4)
                z += 0.2f;
        float sc = socfw_pii_names_sigmoid(z);
        if (sc < nm->opt.threshold)
                return 0;
        return socfw_pii_names_accept(out, fnd, n_fnd, s, e, sc);
}

int
socfw_pii_names_scan_zh_translit(const socfw_pii_names *nm, const char *t,
                                 size_t len, socfw_pii_spans *out,
                                 found *fnd, size_t *n_fnd)
{
        size_t st[MAX_RUN], en[MAX_RUN];
        uint32_t cps[MAX_RUN];
        size_t i = 0;
        while (i < len) {
                uint32_t cp;
                size_t k = socfw_pii_names_cp_at(t, len, i, &cp);
                if (!socfw_pii_names_zh_bit(nm->zh_translit, cp)) {
                        i += k;
                        continue;
                }
                /* the run: transliteration characters, and dots between
                 * two of them */
                size_t n = 0, j = i;
                int too_long = 0;
                while (j < len) {
                        uint32_t c;
                        size_t m = socfw_pii_names_cp_at(t, len, j, &c);
                        if (is_dot(c)) {
                                uint32_t c2 = 0;
                                if (j + m >= len)
                                        break;
                                socfw_pii_names_cp_at(t, len, j + m, &c2);
                                if (!n || !socfw_pii_names_zh_bit(nm->zh_translit, c2))
                                        break;
                        } else if (!socfw_pii_names_zh_bit(nm->zh_translit, c)) {
                                break;
                        }
                        if (n == MAX_RUN)
                                too_long = 1;
                        if (!too_long) {
                                st[n] = j;
                                en[n] = j + m;
                                cps[n++] = c;
                        }
                        j += m;
                }
                if (!too_long && n >= 3) {
                        /* cut at never-a-person words */
                        size_t a = 0;
                        for (size_t p = 0; p < n;) {
                                size_t w = socfw_pii_names_zh_not_at(nm, t, len, st[p]);
                                if (!w) {
                                        p++;
                                        continue;
                                }
                                if (p > a && segment(nm, t, len, st, en, cps, a, p,
                                                     out, fnd, n_fnd) < 0)
                                        return SOCFW_ENOMEM;
                                size_t q = p;
                                while (q < n && st[q] < st[p] + w)
                                        q++;
                                p = a = q;
                        }
                        if (a < n && segment(nm, t, len, st, en, cps, a, n,
                                             out, fnd, n_fnd) < 0)
                                return SOCFW_ENOMEM;
                }
                i = j > i ? j : i + k;
        }
        return 0;
}
