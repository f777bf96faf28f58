/* names_zh.c - Chinese persons: a family name from the list (compound
 * ones built in), a one- or two-character given name of usual name
 * characters, context before or after, an "@" mention, a name repeated
 * nearby, a family name with a title (see names.h).
 */
#define _GNU_SOURCE 1   /* memmem */
#include "names_impl.h"

#include <string.h>

#include <utf8proc.h>

/* ---- lists ---- */

/* Before the name (叫, 我是, ...) or right after it (先生, 老师, ...). */
const char *const socfw_pii_names_def_ctx_zh[] = {
        "我是", "叫", "名叫", "姓名", "名字", "联系人", "收件人", "寄件人",
        "负责人", "作者", "主演", "导演", "演员", "歌手", "球星", "主持人",
        "记者", "先生", "女士", "小姐", "老师", "经理", "同学", "教授",
        "医生", "主任", "校长", "总裁", "董事长", "师傅", "阿姨", "同志",
        "书记", "部长", "局长", "市长", "姐姐", "哥哥", "妹妹", "弟弟",
        "姑娘", "表示", "说", "@", NULL};

/* Chinese words that introduce a name: strong context, always on. */
static const char *const zh_introduce[] = {
        "我是", "我叫", "名叫", "姓名", "名字是", "联系人", "收件人",
        "寄件人", "收货人", "负责人", "本人", NULL};

/* Titles right after a family name: the pair names a person. */
static const char *const zh_titles[] = {
        "先生", "女士", "小姐", "老师", "老板", "经理", "医生", "教授",
        "总", "师傅", "律师", "警官", NULL};

/* Compound family names, whatever the list holds. */
static const char *const zh_compound[] = {
        "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙",
        "慕容", "令狐", "长孙", "宇文", "司徒", "夏侯", "端木", "独孤",
        "南宫", "西门", "轩辕", "闻人", "申屠", "澹台", "呼延", "百里",
        NULL};

/* Characters common in Chinese given names. */
static const char zh_given_chars[] =
        "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉文建红志海国"
        "林峰鹏辉波宇浩凯健俊帆帅旭宁龙斌飞彬鑫晨晓欣怡婷雪琳晶颖慧佳嘉"
        "子梓涵轩睿博瑞泽楠鹤云雨雯菲萍燕莉倩茜琪琦瑶蕾薇蓉婉柔馨悦然思"
        "月冰丹青蓝露梅兰竹菊松柏翔宏亮光永长春荣富贵福禄庆安康乐喜兴盛"
        "德仁义礼智信忠孝诚良善美好真晗晏彤昊昕冉婧妍娅媛嫣姗珊瑛璐瑜璇"
        "琳琴瑾瑗玲珍珠宝金银铭锋锐钧键诗书画墨韵清源泉江河湖滨洲涵淼森"
        "杉桐楷榕树木秋冬夏春阳晖曦昭晴景易曼妮娇婵妙娴秀倩小大晋魏伦霖"
        "腾坚新民心车淇彬茂宪卫庄素晗叶凤婷泽麟厚雷壮敬同嘉炤羽于晏汉良"
        "天宁冠希诗波若希琦妃";

/* Characters that never stand in a given name: function words. */
static const char zh_stop_chars[] =
        "的了是在我你他她它们这那不有和就都也说要会个吗呢吧啊哦呀嘛么着"
        "过得地把被让给对从向跟与或而但还又很太最更已将从所以因为如果"
        "一二三四五六七八九十百千万亿几多少些每各某其之乎者以及于为";

/* Set the bits of a string's code points (BMP) in a bitmap. */
static void
char_bits(uint8_t *bits, const char *set)
{
        size_t n = strlen(set);
        for (size_t i = 0; i < n;) {
                utf8proc_int32_t cp;
                utf8proc_ssize_t k = utf8proc_iterate(
                        (const utf8proc_uint8_t *)set + i,
                        (utf8proc_ssize_t)(n - i), &cp);
                if (k <= 0)
                        return;
                if (cp < 65536)
                        bits[cp >> 3] |= (uint8_t)(1u << (cp & 7));
                i += (size_t)k;
        }
}

int
socfw_pii_names_zh_bit(const uint8_t *bits, uint32_t cp)
{
        return cp < 65536 && (bits[cp >> 3] >> (cp & 7) & 1);
}

#define has_bit socfw_pii_names_zh_bit

/* The first code point of a UTF-8 string, or -1. */
static int32_t
first_cp(const char *s, size_t n)
{
        utf8proc_int32_t c;
        utf8proc_ssize_t m = utf8proc_iterate((const utf8proc_uint8_t *)s,
                                              (utf8proc_ssize_t)n, &c);
        return m > 0 ? c : -1;
}

/* Mark a never-a-person word in the table. */
static int
add_not_name(socfw_pii_names *nm, const char *w)
{
        size_t n = strlen(w);
        int32_t c0 = first_cp(w, n);
        if (n < 2 || n > MAX_WORD || c0 < 0 || c0 >= 65536 ||
            !socfw_pii_names_is_han((uint32_t)c0))
                return 0;       /* the plugin refuses these (privacy.c) */
        entry *e = socfw_pii_names_upsert(nm, w, n);
        if (!e)
                return SOCFW_ENOMEM;
        e->flags |= F_ZHNOT;
        nm->zh_not1[c0 >> 3] |= (uint8_t)(1u << (c0 & 7));
        size_t chars = 0;
        for (size_t i = 0; i < n; i++)
                chars += ((unsigned char)w[i] & 0xC0) != 0x80;
        if (chars > nm->zh_notmax[c0])
                nm->zh_notmax[c0] = (uint8_t)(chars < 8 ? chars : 8);
        return 0;
}

/* ---- setup ---- */

int
socfw_pii_names_zh_setup(socfw_pii_names *nm)
{
        if (nm->opt.surnames_zh) {
                for (const char *const *w = zh_compound; *w; w++) {
                        entry *e = socfw_pii_names_upsert(nm, *w, strlen(*w));
                        if (!e)
                                return SOCFW_ENOMEM;
                        if (!(e->flags & F_ZH))
                                e->zh = 0.6f;
                        e->flags |= F_ZH;
                }
                /* traditional forms take their simplified form's prior */
                const char *tr = socfw_pii_names_zh_traditional;
                size_t n = strlen(tr);
                for (size_t i = 0; i + 6 <= n; i += 6) {
                        const entry *simp = socfw_pii_names_find(nm, tr + i + 3, 3);
                        if (!simp || !(simp->flags & F_ZH) ||
                            !memcmp(tr + i, tr + i + 3, 3))
                                continue;
                        float z = simp->zh;
                        entry *e = socfw_pii_names_upsert(nm, tr + i, 3);
                        if (!e)
                                return SOCFW_ENOMEM;
                        e->zh = z > e->zh ? z : e->zh;
                        e->flags |= F_ZH;
                }
                for (const char *const *w = socfw_pii_names_zh_def_not_names;
                     *w; w++)
                        if (add_not_name(nm, *w) < 0)
                                return SOCFW_ENOMEM;
                for (const char *const *w = nm->opt.not_names_zh; w && *w;
                     w++)
                        if (add_not_name(nm, *w) < 0)
                                return SOCFW_ENOMEM;
        }
        /* which characters can open a family name: most Han characters
         * then cost a bit test, not a hash lookup */
        for (size_t i = 0; i < nm->cap; i++) {
                const entry *e = &nm->tab[i];
                if (!e->key || !(e->flags & F_ZH))
                        continue;
                const char *k = nm->arena + e->key - 1;
                utf8proc_int32_t c0;
                utf8proc_ssize_t m = utf8proc_iterate(
                        (const utf8proc_uint8_t *)k, e->klen, &c0);
                if (m <= 0 || c0 >= 65536 || c0 < 0)
                        continue;
                if ((size_t)m == e->klen)
                        nm->zh_fam1[c0 >> 3] |= (uint8_t)(1u << (c0 & 7));
                else
                        nm->zh_fam2[c0 >> 3] |= (uint8_t)(1u << (c0 & 7));
        }
        char_bits(nm->zh_given, zh_given_chars);
        char_bits(nm->zh_stop, zh_stop_chars);
        char_bits(nm->zh_translit, socfw_pii_names_zh_translit_chars);
        return 0;
}

int
socfw_pii_names_zh_entry_ok(const char *w, size_t min, size_t max,
                            int han_only)
{
        if (!w)
                return 0;
        size_t len = strlen(w), n = 0;
        for (size_t i = 0; i < len;) {
                uint32_t cp;
                size_t k = socfw_pii_names_cp_at(w, len, i, &cp);
                if ((cp == 0xFFFD && k == 1) ||
                    (han_only && !socfw_pii_names_is_han(cp)))
                        return 0;
                i += k;
                n++;
        }
        return n >= min && n <= max;
}

size_t
socfw_pii_names_zh_not_at(const socfw_pii_names *nm, const char *t,
                          size_t len, size_t i)
{
        uint32_t cp;
        socfw_pii_names_cp_at(t, len, i, &cp);
        if (!has_bit(nm->zh_not1, cp))
                return 0;
        size_t ends[8];
        size_t n = 0, j = i, max = nm->zh_notmax[cp];
        while (n < max && j < len) {
                size_t k = socfw_pii_names_cp_at(t, len, j, &cp);
                if (cp >= 0x80 && !socfw_pii_names_is_han(cp))
                        break;          /* ASCII letters join: 卡拉OK */
                if (cp < 0x80 && !((cp | 32) >= 'a' && (cp | 32) <= 'z'))
                        break;
                j += k;
                ends[n++] = j;
        }
        for (size_t m = n; m >= 2; m--) {
                if (ends[m - 1] - i > MAX_WORD)
                        continue;
                const entry *e = socfw_pii_names_find(nm, t + i, ends[m - 1] - i);
                if (e && (e->flags & F_ZHNOT))
                        return ends[m - 1] - i;
        }
        return 0;
}

/* ---- the scan ---- */

/* Up to `max` Han code points from byte i: their byte ends in ends[]. */
static size_t
han_run(const char *t, size_t len, size_t i, size_t *ends, uint32_t *cps,
        size_t max)
{
        size_t n = 0;
        while (n < max && i < len) {
                uint32_t cp;
                size_t k = socfw_pii_names_cp_at(t, len, i, &cp);
                if (!socfw_pii_names_is_han(cp))
                        break;
                cps[n] = cp;
                i += k;
                ends[n++] = i;
        }
        return n;
}

int
socfw_pii_names_zh_after(const char *t, size_t len, size_t e,
                         const char *const *list)
{
        if (e >= len)
                return 0;
        for (; list && *list; list++) {
                const char *w = *list;
                if ((unsigned char)w[0] < 0x80 || w[0] != t[e])
                        continue;
                size_t m = 1;
                while (w[m] && e + m < len && t[e + m] == w[m])
                        m++;
                if (!w[m])
                        return 1;
        }
        return 0;
}

int
socfw_pii_names_zh_before(const char *t, size_t s, const char *const *list)
{
        size_t j = s;
        /* allow a colon or space between: "联系人：" */
        while (j > 0 && (t[j - 1] == ' ' || t[j - 1] == ':'))
                j--;
        if (j >= 3 && !memcmp(t + j - 3, "\xEF\xBC\x9A", 3))
                j -= 3;   /* full-width colon */
        if (j == 0)
                return 0;
        for (; list && *list; list++) {
                size_t k = strlen(*list);
                if (j >= k && k && (*list)[k - 1] == t[j - 1] &&
                    !memcmp(t + j - k, *list, k))
                        return 1;
        }
        return 0;
}

/* The Chinese family name at t[i] (compound first): its length in code
 * points (0: none) and prior. */
static size_t
family_at(const socfw_pii_names *nm, const char *t, size_t i,
          const size_t *ends, const uint32_t *cps, size_t n, size_t min_after,
          float *fz)
{
        for (size_t L = 2; L >= 1; L--) {
                if (n < L + min_after ||
                    !has_bit(L == 1 ? nm->zh_fam1 : nm->zh_fam2, cps[0]))
                        continue;
                const entry *e = socfw_pii_names_find(nm, t + i, ends[L - 1] - i);
                if (e && (e->flags & F_ZH)) {
                        *fz = e->zh;
                        return L;
                }
        }
        return 0;
}

/* A kinship tail (哥, 姐, 爷爷 ...) at byte e: its length in bytes, or 0. */
static size_t
kin_at(const char *t, size_t len, size_t e)
{
        for (const char *const *w = socfw_pii_names_zh_kin; *w; w++) {
                size_t k = strlen(*w);
                if (e + k <= len && !memcmp(t + e, *w, k))
                        return k;
        }
        return 0;
}

/* The score (before the sigmoid) of a screen name of n characters cps[]
 * whose first fam are a family name of prior fz.  Two rules:
 *   - by default a family name is enough: 0.1 + 1.5 fz;
 *   - with nicknames on (SOCFW_PII_NAMES_NICK, which brings the stricter
 *     screen names with it) the given part counts too: -0.4 + 1.5 fz,
 *     +0.4 for each usual name character and -0.4 for each other one
 *     (others are allowed: 董其峰, 曾一智), and -2 when a one-character
 *     family name is doubled (@戴戴). */
static float
mention_z(const socfw_pii_names *nm, const uint32_t *cps, size_t n,
          size_t fam, float fz)
{
        if (!(nm->opt.evidence & SOCFW_PII_NAMES_NICK))
                return 0.1f + 1.5f * fz;
        int usual = 0, other = 0;
        for (size_t j = fam; j < n; j++) {
                usual += has_bit(nm->zh_given, cps[j]);
                other += !has_bit(nm->zh_given, cps[j]);
        }
        float z = -0.4f + 1.5f * fz + 0.4f * (float)usual -
                  0.4f * (float)other;
        if (fam == 1 && cps[1] == cps[0])
                z -= 2.0f;
        return z;
}

/* "@名字:" - a user name is a person's name when it starts with a family
 * name and the rest looks like a given name (accounts such as "@美食频道"
 * or "@淘宝网" do not; mention_z scores it).  Returns the bytes consumed
 * after '@' (0: not a name), or SOCFW_ENOMEM. */
static long
mention(const socfw_pii_names *nm, const char *t, size_t len, size_t i,
        socfw_pii_spans *out, found *fnd, size_t *n_fnd)
{
        size_t ends[6];
        uint32_t cps[6];
        size_t n = han_run(t, len, i + 1, ends, cps, 5);
        size_t ne = n ? ends[n - 1] : 0;
        uint32_t after = 0;
        if (ne < len)
                socfw_pii_names_cp_at(t, len, ne, &after);
        if (n < 2 || n > 4 || socfw_pii_names_is_han(after))
                return 0;
        float fz = 0;
        size_t fam = family_at(nm, t, i + 1, ends, cps, n, 1, &fz);
        if (!fam || socfw_pii_names_zh_not_at(nm, t, len, i + 1))
                return 0;
        float sc = socfw_pii_names_sigmoid(mention_z(nm, cps, n, fam, fz));
        if (sc < nm->opt.threshold)
                return 0;
        if (socfw_pii_names_accept(out, fnd, n_fnd, i + 1, ne, sc) < 0)
                return SOCFW_ENOMEM;
        return (long)(ne - i);
}

/* Nicknames: 阿 + a family name or a given-name character (阿袁, 阿明),
 * with a kinship tail kept (阿明哥).  Returns the end of the span, or 0. */
static size_t
nickname(const socfw_pii_names *nm, const char *t, size_t len, size_t i,
         const size_t *ends, const uint32_t *cps, size_t n, float *score)
{
        if (n < 2 || cps[0] != 0x963F /* 阿 */)
                return 0;
        const entry *e = socfw_pii_names_find(nm, t + ends[0], ends[1] - ends[0]);
        float fz = e && (e->flags & F_ZH) ? e->zh : 0.0f;
        int given = has_bit(nm->zh_given, cps[1]);
        if ((!fz && !given) || has_bit(nm->zh_stop, cps[1]) ||
            socfw_pii_names_zh_not_at(nm, t, len, i))
                return 0;
        size_t kin = kin_at(t, len, ends[1]);
        uint32_t next = 0;
        if (ends[1] < len)
                socfw_pii_names_cp_at(t, len, ends[1], &next);
        int ends_word = !socfw_pii_names_is_han(next) ||
                        has_bit(nm->zh_stop, next);
        float z;
        if (kin)
                z = 0.2f + 1.0f * fz;                   /* 阿明哥 */
        else if (ends_word)
                z = -0.6f + 1.2f * fz + (given ? 0.4f : 0.0f);  /* 阿晨 */
        else
                z = -1.8f + 2.0f * fz;                  /* 阿袁收到 */
        *score = socfw_pii_names_sigmoid(z);
        return ends[1] + kin;
}

int
socfw_pii_names_scan_zh(const socfw_pii_names *nm, const char *t, size_t len,
                        const socfw_pii_spans *tg, socfw_pii_spans *out,
                        found *fnd, size_t *n_fnd)
{
        unsigned ev = nm->opt.evidence;
        size_t tlo = 0;
        size_t i = 0;
        while (i < len) {
                uint32_t cp;
                size_t k = socfw_pii_names_cp_at(t, len, i, &cp);
                if (!socfw_pii_names_is_han(cp) && cp != '@') {
                        i += k;
                        continue;
                }
                /* most characters open neither a family name nor a
                 * nickname: one bit test each */
                if (cp != '@' && cp != 0x963F /* 阿 */ &&
                    !has_bit(nm->zh_fam1, cp) && !has_bit(nm->zh_fam2, cp)) {
                        i += k;
                        continue;
                }
                size_t ends[6];
                uint32_t cps[6];
                if (cp == '@') {
                        long m = 0;
                        if ((ev & SOCFW_PII_NAMES_CONTEXT) &&
                            (ev & SOCFW_PII_NAMES_LISTS))
                                m = mention(nm, t, len, i, out, fnd, n_fnd);
                        if (m < 0)
                                return SOCFW_ENOMEM;
                        i += m > 0 ? (size_t)m : k;
                        continue;
                }
                size_t n = han_run(t, len, i, ends, cps, 4);
                /* a place, brand or word that is never a person starts
                 * here: 南宁, 淘宝, 美丽 (its later characters are stopped
                 * by the word-start test below) */
                if ((ev & SOCFW_PII_NAMES_LISTS) &&
                    socfw_pii_names_zh_not_at(nm, t, len, i)) {
                        i += k;
                        continue;
                }
                if (ev & SOCFW_PII_NAMES_NICK) {
                        float sc = 0;
                        size_t e = nickname(nm, t, len, i, ends, cps, n, &sc);
                        if (e && sc >= nm->opt.threshold) {
                                if (socfw_pii_names_accept(out, fnd, n_fnd,
                                                           i, e, sc) < 0)
                                        return SOCFW_ENOMEM;
                                i = e;
                                continue;
                        }
                }
                /* family name: compound first */
                float fz = 0.0f;
                size_t fam = family_at(nm, t, i, ends, cps, n, 1, &fz);
                /* a rare family name that is a function word (是, 和)
                 * is the word */
                if (!fam || !(ev & SOCFW_PII_NAMES_LISTS) ||
                    (fam == 1 && fz < 0.6f && has_bit(nm->zh_stop, cp))) {
                        i += k;
                        continue;
                }
                /* ... not the end of a word that starts before it
                 * (红包飞新年, 容易安安静静, 女王清新) */
                {
                        uint32_t pc;
                        size_t pk = socfw_pii_names_cp_before(t, len, i, &pc);
                        if (pk && socfw_pii_names_is_han(pc) &&
                            socfw_pii_names_zh_not_at(nm, t, len, i - pk) > pk) {
                                i += k;
                                continue;
                        }
                }
                /* given name: one or two characters, never function words */
                float best = 0.0f;
                size_t best_len = 0;
                /* a given name that is or starts a word: 熊孩子, 贺新春,
                 * 全宇宙 (the word at the given name's start, once) */
                size_t gw = fam < n ? socfw_pii_names_zh_not_at(
                                              nm, t, len, ends[fam - 1])
                                    : 0;
                for (size_t g = 1; g <= 2 && fam + g <= n; g++) {
                        int stop = 0, usual = 0;
                        for (size_t j = fam; j < fam + g; j++) {
                                stop |= has_bit(nm->zh_stop, cps[j]);
                                usual += has_bit(nm->zh_given, cps[j]);
                        }
                        if (stop)
                                break;
                        size_t s = i, e = ends[fam + g - 1];
                        if (gw && gw >= e - ends[fam - 1])
                                break;
                        /* "魏晨魏晨": the name repeated, not 魏 + 晨魏 */
                        if (g == 2 && ends[fam] + (ends[fam - 1] - i) <= len &&
                            !memcmp(t + ends[fam], t + i, ends[fam - 1] - i))
                                break;
                        float z = -3.6f + 1.5f * fz + 0.9f * (float)usual;
                        if (!usual)
                                z -= 1.0f;
                        /* the same name again nearby: "徐妍徐妍", a post
                         * that names someone twice (a bounded window keeps
                         * the scan linear) */
                        {
                                size_t w0 = s > 600 ? s - 600 : 0;
                                size_t w1 = e + 600 < len ? e + 600 : len;
                                if (memmem(t + e, w1 - e, t + s, e - s) ||
                                    memmem(t + w0, s - w0, t + s, e - s))
                                        z += 1.0f;
                                /* chanted: 魏晨魏晨魏晨 (a common family
                                 * name and usual given characters only:
                                 * 好好好, 太长太长 are emphasis) */
                                if (fz >= 0.7f && usual == (int)g &&
                                    cps[fam] != cps[0] &&
                                    e + (e - s) <= len &&
                                    !memcmp(t + e, t + s, e - s))
                                        z += 1.0f;
                        }
                        if (g == 2)     /* most given names have two */
                                z += 0.5f;
                        if (ev & SOCFW_PII_NAMES_CONTEXT) {
                                if (socfw_pii_names_zh_before(t, s, zh_introduce))
                                        z += 2.5f;
                                else if (socfw_pii_names_zh_before(t, s, nm->ctx_zh))
                                        z += 1.0f;
                                if (socfw_pii_names_zh_after(t, len, e, nm->ctx_zh))
                                        z += 1.0f;
                        }
                        if ((ev & SOCFW_PII_NAMES_TAGGER) && tg) {
                                float ts = socfw_pii_names_tagger_score(tg, s, e, &tlo);
                                z += ts >= 0 ? 1.0f + 4.0f * (ts - 0.5f) : -1.0f;
                        }
                        float sc = socfw_pii_names_sigmoid(z);
                        if (sc > best + 0.02f) {
                                best = sc;
                                best_len = g;
                        }
                }
                /* a family name and a title: 张先生, 贾老板; with
                 * nicknames also a kinship word: 毛爷爷, 王姐 */
                if ((!best_len || best < nm->opt.threshold) &&
                    (ev & SOCFW_PII_NAMES_CONTEXT)) {
                        size_t e0 = ends[fam - 1];
                        size_t tl = 0;
                        for (const char *const *tt = zh_titles; *tt && !tl; tt++) {
                                size_t m = strlen(*tt);
                                if (e0 + m <= len && !memcmp(t + e0, *tt, m))
                                        tl = m;
                        }
                        if (!tl && (ev & SOCFW_PII_NAMES_NICK))
                                tl = kin_at(t, len, e0);
                        if (tl) {
                                /* emitted, not remembered: the scan finds
                                 * every family name + title itself */
                                float sc = socfw_pii_names_sigmoid(-1.3f + 1.5f * fz);
                                if (sc >= nm->opt.threshold) {
                                        if (socfw_pii_names_emit(out, i, e0 + tl, sc) < 0)
                                                return SOCFW_ENOMEM;
                                        i = e0 + tl;
                                        continue;
                                }
                        }
                }
                if (best_len && best >= nm->opt.threshold) {
                        size_t e = ends[fam + best_len - 1];
                        if (socfw_pii_names_accept(out, fnd, n_fnd, i, e,
                                                   best) < 0)
                                return SOCFW_ENOMEM;
                        i = e;
                        continue;
                }
                i += k;
        }
        if (ev & SOCFW_PII_NAMES_TRANSLIT)
                return socfw_pii_names_scan_zh_translit(nm, t, len, out, fnd,
                                                        n_fnd);
        return 0;
}
