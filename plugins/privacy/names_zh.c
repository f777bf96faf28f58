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

static int
has_bit(const uint8_t *bits, uint32_t cp)
{
        return cp < 65536 && (bits[cp >> 3] >> (cp & 7) & 1);
}

/* ---- setup ---- */

int
socfw_pii_names_zh_setup(socfw_pii_names *nm)
{
        if (nm->opt.surnames_zh)
                for (const char *const *w = zh_compound; *w; w++) {
                        entry *e = socfw_pii_names_upsert(nm, *w, strlen(*w));
                        if (!e)
                                return SOCFW_ENOMEM;
                        if (!(e->flags & F_ZH))
                                e->zh = 0.6f;
                        e->flags |= F_ZH;
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

static int
zh_phrase_after(const char *t, size_t len, size_t e, const char *const *list)
{
        for (; list && *list; list++) {
                size_t k = strlen(*list);
                if ((unsigned char)(*list)[0] < 0x80)
                        continue;
                if (e + k <= len && !memcmp(t + e, *list, k))
                        return 1;
        }
        return 0;
}

static int
zh_phrase_before(const char *t, size_t s, const char *const *list)
{
        for (; list && *list; list++) {
                size_t k = strlen(*list);
                size_t j = s;
                /* allow a colon or space between: "联系人：" */
                while (j > 0 && (t[j - 1] == ' ' || t[j - 1] == ':'))
                        j--;
                if (j >= 3 && !memcmp(t + j - 3, "\xEF\xBC\x9A", 3))
                        j -= 3;   /* full-width colon */
                if (j >= k && !memcmp(t + j - k, *list, k))
                        return 1;
        }
        return 0;
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
                size_t ends[6];
                uint32_t cps[6];
                /* "@名字:" - a user name is a person's name when it starts
                 * with a family name (accounts such as "@美食频道" do not) */
                if (cp == '@') {
                        size_t n = han_run(t, len, i + 1, ends, cps, 5);
                        size_t ne = n ? ends[n - 1] : 0;
                        uint32_t after = 0;
                        if (ne < len)
                                socfw_pii_names_cp_at(t, len, ne, &after);
                        const entry *f1 = n >= 2 ? socfw_pii_names_find(nm, t + i + 1,
                                                        ends[0] - i - 1) : NULL;
                        const entry *f2 = n >= 3 ? socfw_pii_names_find(nm, t + i + 1,
                                                        ends[1] - i - 1) : NULL;
                        float fz = f2 && (f2->flags & F_ZH) ? f2->zh :
                                   f1 && (f1->flags & F_ZH) ? f1->zh : -1.0f;
                        if (n >= 2 && n <= 4 && !socfw_pii_names_is_han(after) && fz >= 0 &&
                            (ev & SOCFW_PII_NAMES_CONTEXT) &&
                            (ev & SOCFW_PII_NAMES_LISTS)) {
                                float sc = socfw_pii_names_sigmoid(0.1f + 1.5f * fz);
                                if (sc >= nm->opt.threshold &&
                                    socfw_pii_names_emit(out, i + 1, ne, sc) < 0)
                                        return SOCFW_ENOMEM;
                                if (sc >= nm->opt.threshold &&
                                    *n_fnd < MAX_PROPAGATE) {
                                        fnd[*n_fnd].s = i + 1;
                                        fnd[*n_fnd].e = ne;
                                        fnd[*n_fnd].score = sc;
                                        (*n_fnd)++;
                                }
                                i = ne;
                                continue;
                        }
                        i += k;
                        continue;
                }
                size_t n = han_run(t, len, i, ends, cps, 4);
                /* family name: compound first */
                size_t fam = 0;
                float fz = 0.0f;
                for (size_t L = 2; L >= 1 && !fam; L--) {
                        if (n < L + 1 ||
                            !has_bit(L == 1 ? nm->zh_fam1 : nm->zh_fam2,
                                     cps[0]))
                                continue;
                        const entry *e = socfw_pii_names_find(nm, t + i, ends[L - 1] - i);
                        if (e && (e->flags & F_ZH)) {
                                fam = L;
                                fz = e->zh;
                        }
                }
                if (!fam || !(ev & SOCFW_PII_NAMES_LISTS)) {
                        i += k;
                        continue;
                }
                /* given name: one or two characters, never function words */
                float best = 0.0f;
                size_t best_len = 0;
                for (size_t g = 1; g <= 2 && fam + g <= n; g++) {
                        int stop = 0, usual = 0;
                        for (size_t j = fam; j < fam + g; j++) {
                                stop |= has_bit(nm->zh_stop, cps[j]);
                                usual += has_bit(nm->zh_given, cps[j]);
                        }
                        if (stop)
                                break;
                        size_t s = i, e = ends[fam + g - 1];
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
                        }
                        if (g == 2)     /* most given names have two */
                                z += 0.5f;
                        if (ev & SOCFW_PII_NAMES_CONTEXT) {
                                if (zh_phrase_before(t, s, zh_introduce))
                                        z += 2.5f;
                                else if (zh_phrase_before(t, s, nm->ctx_zh))
                                        z += 1.0f;
                                if (zh_phrase_after(t, len, e, nm->ctx_zh))
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
                /* a family name and a title: 张先生, 贾老板 */
                if ((!best_len || best < nm->opt.threshold) &&
                    (ev & SOCFW_PII_NAMES_CONTEXT)) {
                        size_t e0 = ends[fam - 1];
                        for (const char *const *tt = zh_titles; *tt; tt++) {
                                size_t tl = strlen(*tt);
                                if (e0 + tl <= len && !memcmp(t + e0, *tt, tl)) {
                                        float sc = socfw_pii_names_sigmoid(-1.6f + 1.5f * fz);
                                        if (sc >= nm->opt.threshold) {
                                                if (socfw_pii_names_emit(out, i, e0 + tl, sc) < 0)
                                                        return SOCFW_ENOMEM;
                                                i = e0 + tl;
                                                goto next;
                                        }
                                        break;
                                }
                        }
                }
                if (best_len && best >= nm->opt.threshold) {
                        size_t e = ends[fam + best_len - 1];
                        if (socfw_pii_names_emit(out, i, e, best) < 0)
                                return SOCFW_ENOMEM;
                        if (*n_fnd < MAX_PROPAGATE) {
                                fnd[*n_fnd].s = i;
                                fnd[*n_fnd].e = e;
                                fnd[*n_fnd].score = best;
                                (*n_fnd)++;
                        }
                        i = e;
                        continue;
                }
                i += k;
        next:;
        }
        return 0;
}
