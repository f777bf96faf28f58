/* recognizers.c - PII patterns (PCRE2), validators and context scoring.
 *
 * Every pattern is written so that matching stays linear: repetition is
 * bounded and possessive where a backtrack could only re-split the same
 * characters, every pattern starts with a look-behind that stops a match
 * from starting inside a run it could have started earlier, and a PCRE2
 * match limit bounds whatever is left.  Patterns are compiled with
 * PCRE2_UTF | PCRE2_MATCH_INVALID_UTF: invalid UTF-8 never matches and
 * never makes a match fail.
 */
#include "recognizers.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* ---- the validated candidate ---- */

typedef struct {
        const char *text;
        size_t len;
        size_t s, e;            /* match (validators may shrink it) */
        float score;            /* set by the validator             */
        int strong;             /* format alone is convincing       */
} cand;

typedef int (*validator)(cand *c);

/* ---- small helpers ---- */

static int
is_digit(int c)
{
        return c >= '0' && c <= '9';
}

static int
is_alpha(int c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_alnum(int c)
{
        return is_digit(c) || is_alpha(c);
}

static int
lower(int c)
{
        return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/* Digits of text[s..e) into out (at most cap); returns the count (may
 * exceed cap, then only cap were stored). */
static size_t
collect_digits(const char *t, size_t s, size_t e, char *out, size_t cap)
{
        size_t n = 0;
        for (size_t i = s; i < e; i++)
                if (is_digit((unsigned char)t[i])) {
                        if (n < cap)
                                out[n] = t[i];
                        n++;
                }
        return n;
}

static int
num(const char *d, size_t n)
{
        int v = 0;
        for (size_t i = 0; i < n; i++)
                v = v * 10 + (d[i] - '0');
        return v;
}

/* ---- checksums ---- */

int
socfw_pii_luhn_ok(const char *s, size_t len)
{
        int sum = 0, k = 0;
        for (size_t i = len; i-- > 0;) {
                if (!is_digit((unsigned char)s[i]))
                        continue;
                int d = s[i] - '0';
                if (k++ & 1) {
                        d *= 2;
                        if (d > 9)
                                d -= 9;
                }
                sum += d;
        }
        return k > 0 && sum % 10 == 0;
}

char
socfw_pii_cn_id_check_char(const char *first17)
{
        static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3,
                                  7, 9, 10, 5, 8, 4, 2};
        static const char map[11] = {'1', '0', 'X', '9', '8', '7',
                                     '6', '5', '4', '3', '2'};
        int sum = 0;
        for (int i = 0; i < 17; i++) {
                if (!is_digit((unsigned char)first17[i]))
                        return '?';
                sum += (first17[i] - '0') * w[i];
        }
        return map[sum % 11];
}

static int
leap(int y)
{
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
valid_date(int y, int m, int d)
{
        static const int mdays[12] = {31, 28, 31, 30, 31, 30,
                                      31, 31, 30, 31, 30, 31};
        if (m < 1 || m > 12 || d < 1)
                return 0;
        int n = mdays[m - 1] + (m == 2 && leap(y));
        return d <= n;
}

static int
current_year(void)
{
        time_t now = time(NULL);
        struct tm tm;
        if (!gmtime_r(&now, &tm))
                return 2100;
        return tm.tm_year + 1900;
}

static int
cn_province_ok(int p)
{
        static const unsigned char ok[] = {11, 12, 13, 14, 15, 21, 22, 23,
                                           31, 32, 33, 34, 35, 36, 37, 41,
                                           42, 43, 44, 45, 46, 50, 51, 52,
                                           53, 54, 61, 62, 63, 64, 65, 71,
                                           81, 82};
        for (size_t i = 0; i < sizeof ok; i++)
                if (ok[i] == p)
                        return 1;
        return 0;
}

int
socfw_pii_cn_id_ok(const char *s, size_t len)
{
        if (len != 18)
                return 0;
        for (int i = 0; i < 17; i++)
                if (!is_digit((unsigned char)s[i]))
                        return 0;
        if (!cn_province_ok(num(s, 2)))
                return 0;
        int y = num(s + 6, 4), m = num(s + 10, 2), d = num(s + 12, 2);
        if (y < 1900 || y > current_year() || !valid_date(y, m, d))
                return 0;
        char c = s[17] == 'x' ? 'X' : s[17];
        return c == socfw_pii_cn_id_check_char(s);
}

static const struct {
        char cc[3];
        unsigned char len;
} iban_lengths[] = {
        {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28},
        {"BA", 20}, {"BE", 16}, {"BG", 22}, {"BH", 22}, {"BR", 29},
        {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24},
        {"DE", 22}, {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29},
        {"ES", 24}, {"FI", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22},
        {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28},
        {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23},
        {"IS", 26}, {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20},
        {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20},
        {"LV", 21}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19},
        {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NL", 18}, {"NO", 15},
        {"PK", 24}, {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29},
        {"RO", 24}, {"RS", 22}, {"SA", 24}, {"SC", 31}, {"SE", 24},
        {"SI", 19}, {"SK", 24}, {"SM", 27}, {"ST", 25}, {"SV", 28},
        {"TL", 23}, {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VA", 22},
        {"VG", 24}, {"XK", 20},
};

static int
iban_country_length(int a, int b)
{
        a = a >= 'a' ? a - 32 : a;
        b = b >= 'a' ? b - 32 : b;
        for (size_t i = 0; i < sizeof iban_lengths / sizeof iban_lengths[0];
             i++)
                if (iban_lengths[i].cc[0] == a && iban_lengths[i].cc[1] == b)
                        return iban_lengths[i].len;
        return 0;
}

/* mod 97 of the rearranged IBAN given as compact alnum chars. */
static int
iban_mod97_ok(const char *c, size_t n)
{
        if (n < 5)
                return 0;
        unsigned r = 0;
        for (size_t k = 0; k < n; k++) {
                int ch = (unsigned char)c[(k + 4) % n];
                if (is_digit(ch)) {
                        r = (r * 10 + (unsigned)(ch - '0')) % 97;
                } else if (is_alpha(ch)) {
                        unsigned v = (unsigned)(lower(ch) - 'a' + 10);
                        r = (r * 100 + v) % 97;
                } else {
                        return 0;
                }
        }
        return r == 1;
}

int
socfw_pii_iban_ok(const char *s, size_t len)
{
        char c[40];
        size_t n = 0;
        for (size_t i = 0; i < len; i++) {
                if (s[i] == ' ')
                        continue;
                if (!is_alnum((unsigned char)s[i]) || n >= sizeof c)
                        return 0;
                c[n++] = s[i];
        }
        if (n < 15 || !is_alpha((unsigned char)c[0]) ||
            !is_alpha((unsigned char)c[1]) || !is_digit((unsigned char)c[2]) ||
            !is_digit((unsigned char)c[3]))
                return 0;
        if ((size_t)iban_country_length(c[0], c[1]) != n)
                return 0;
        return iban_mod97_ok(c, n);
}

/* ---- validators ---- */

static int
v_email(cand *c)
{
        const char *t = c->text + c->s;
        size_t n = c->e - c->s;
        const char *at = memchr(t, '@', n);
        if (!at)
                return 0;
        size_t local = (size_t)(at - t);
        if (local == 0 || local > 64 || t[0] == '.' || at[-1] == '.')
                return 0;
        for (size_t i = 1; i < local; i++)
                if (t[i] == '.' && t[i - 1] == '.')
                        return 0;
        /* domain labels: no leading/trailing hyphen; TLD letters */
        const char *d = at + 1, *end = t + n;
        while (d < end) {
                const char *dot = memchr(d, '.', (size_t)(end - d));
                const char *le = dot ? dot : end;
                if (le == d || d[0] == '-' || le[-1] == '-')
                        return 0;
                d = dot ? dot + 1 : end;
        }
        c->score = 0.85f;
        c->strong = 1;
        return 1;
}

static int
host_ok(const char *h, size_t n)
{
        if (n == 0)
                return 0;
        if (h[0] == '[')
                return n > 2 && h[n - 1] == ']';
        if (n == 9 && strncmp(h, "localhost", 9) == 0)
                return 1;
        int dots = 0;
        size_t last = 0;
        for (size_t i = 0; i < n; i++) {
                if (h[i] == '.') {
                        if (i == last || h[i - 1] == '-')
                                return 0;
                        dots++;
                        last = i + 1;
                } else if (!is_alnum((unsigned char)h[i]) && h[i] != '-') {
                        return 0;
                }
        }
        if (!dots || last >= n)
                return 0;
        int alpha_tld = 1, all_digit = 1;
        for (size_t i = last; i < n; i++) {
                if (!is_alpha((unsigned char)h[i]))
                        alpha_tld = 0;
                if (!is_digit((unsigned char)h[i]) && h[i] != '.')
                        all_digit = 0;
        }
        for (size_t i = 0; i < n; i++)
                if (!is_digit((unsigned char)h[i]) && h[i] != '.')
                        all_digit = 0;
        return (alpha_tld && n - last >= 2) || all_digit;
}

static int
v_url(cand *c)
{
        const char *t = c->text;
        /* trim trailing punctuation; keep a ')' that closes a '(' */
        while (c->e > c->s) {
                char ch = t[c->e - 1];
                if (ch == '.' || ch == ',' || ch == ';' || ch == ':' ||
                    ch == '!' || ch == '?' || ch == ']' || ch == '*') {
                        c->e--;
                        continue;
                }
                if (ch == ')') {
                        int open = 0;
                        for (size_t i = c->s; i < c->e; i++)
                                open += t[i] == '(' ? 1 : t[i] == ')' ? -1 : 0;
                        if (open < 0) {
                                c->e--;
                                continue;
                        }
                }
                break;
        }
        size_t h = c->s;
        int www = 0;
        if (lower((unsigned char)t[h]) == 'w') {
                www = 1;
        } else {
                const char *p = memchr(t + h, ':', c->e - h);
                if (!p)
                        return 0;
                h = (size_t)(p - t) + 3;
        }
        size_t he = h;
        while (he < c->e && t[he] != '/' && t[he] != '?' && t[he] != '#')
                he++;
        /* drop user info and port */
        size_t hs = h;
        for (size_t i = h; i < he; i++)
                if (t[i] == '@')
                        hs = i + 1;
        size_t hend = he;
        if (hs < he && t[hs] != '[')
                for (size_t i = hs; i < he; i++)
                        if (t[i] == ':') {
                                hend = i;
                                break;
                        }
        if (!host_ok(t + hs, hend - hs))
                return 0;
        c->score = www ? 0.55f : 0.6f;
        c->strong = 1;
        return 1;
}

static int
v_ipv4(cand *c)
{
        const char *t = c->text;
        size_t i = c->s;
        for (int k = 0; k < 4; k++) {
                size_t b = i;
                int v = 0;
                while (i < c->e && is_digit((unsigned char)t[i]))
                        v = v * 10 + (t[i++] - '0');
                size_t n = i - b;
                if (n == 0 || n > 3 || v > 255 || (n > 1 && t[b] == '0'))
                        return 0;
                i++;    /* the dot */
        }
        c->score = 0.7f;
        c->strong = 1;
        return 1;
}

static int
v_ipv6(cand *c)
{
        char buf[64];
        size_t n = c->e - c->s;
        if (n >= sizeof buf)
                return 0;
        memcpy(buf, c->text + c->s, n);
        buf[n] = '\0';
        unsigned char addr[16];
        if (inet_pton(AF_INET6, buf, addr) != 1)
                return 0;
        int colons = 0;
        for (size_t i = 0; i < n; i++)
                colons += buf[i] == ':';
        c->score = colons >= 4 ? 0.7f : 0.45f;
        c->strong = colons >= 4;
        return 1;
}

static int
v_ssn(cand *c)
{
        char d[16];
        if (collect_digits(c->text, c->s, c->e, d, sizeof d) != 9)
                return 0;
        int area = num(d, 3), group = num(d + 3, 2), serial = num(d + 5, 4);
        if (area == 0 || area == 666 || area >= 900 || group == 0 ||
            serial == 0)
                return 0;
        size_t n = c->e - c->s;
        char sep = n == 11 ? c->text[c->s + 3] : 0;
        c->score = sep == '-' ? 0.55f : sep == ' ' ? 0.4f : 0.3f;
        return 1;
}

/* Known issuer prefixes and lengths. */
static int
card_brand_ok(const char *d, size_t n)
{
        int p1 = d[0] - '0', p2 = num(d, 2), p3 = num(d, 3), p4 = num(d, 4);
        int p6 = num(d, 6);
        if (p1 == 4)
                return n == 13 || n == 16 || n == 19;
        if (p2 >= 51 && p2 <= 55)
                return n == 16;
        if (p4 >= 2221 && p4 <= 2720)
                return n == 16;
        if (p2 == 34 || p2 == 37)
                return n == 15;
        if (p4 == 2131 || p4 == 1800)
                return n == 15;
        if ((p3 >= 300 && p3 <= 305) || p3 == 309 || p2 == 36 || p2 == 38 ||
            p2 == 39)
                return n >= 14 && n <= 19;
        if (p2 == 35)   /* JCB 3528-3589, and the rest of 35 in practice */
                return n >= 16 && n <= 19;
        if (p4 >= 2200 && p4 <= 2204)
                return n >= 16 && n <= 19;
        if (p4 == 6011 || (p3 >= 644 && p3 <= 649) || p2 == 65 ||
            (p6 >= 622126 && p6 <= 622925) || p2 == 62)
                return n >= 16 && n <= 19;
        if (p2 == 50 || (p2 >= 56 && p2 <= 69) || p4 == 604)  /* Maestro */
                return n >= 12 && n <= 19;
        return 0;
}

static int
v_card(cand *c)
{
        char d[24];
        size_t n = collect_digits(c->text, c->s, c->e, d, sizeof d);
        if (n < 12 || n > 19)
                return 0;
        if (!card_brand_ok(d, n) || !socfw_pii_luhn_ok(d, n))
                return 0;
        int sep = (c->e - c->s) != n;
        c->score = n == 12 ? 0.45f : sep ? 0.7f : 0.6f;
        return 1;
}

static int
v_cn_id(cand *c)
{
        if (!socfw_pii_cn_id_ok(c->text + c->s, c->e - c->s))
                return 0;
        c->score = 0.85f;
        c->strong = 1;
        return 1;
}

static int
v_iban(cand *c)
{
        const char *t = c->text;
        int want = iban_country_length((unsigned char)t[c->s],
                                       (unsigned char)t[c->s + 1]);
        if (!want)
                return 0;
        char buf[40];
        size_t n = 0, i = c->s;
        int upper = 0, lowr = 0;
        while (i < c->e && n < (size_t)want) {
                unsigned char ch = (unsigned char)t[i++];
                if (ch == ' ')
                        continue;
                upper += ch >= 'A' && ch <= 'Z';
                lowr += ch >= 'a' && ch <= 'z';
                buf[n++] = (char)ch;
        }
        if (n != (size_t)want || (upper && lowr))
                return 0;
        /* what follows must not continue the code */
        if (i < c->len && is_alnum((unsigned char)t[i]))
                return 0;
        if (!iban_mod97_ok(buf, n))
                return 0;
        c->e = i;
        c->score = 0.8f;
        c->strong = 1;
        return 1;
}

static int
v_handle(cand *c)
{
        c->score = 0.6f;
        return 1;
}

static int
v_street(cand *c)
{
        c->score = 0.6f;
        return 1;
}

/* Phone numbers: classify the shape, then score. */
static int
v_phone(cand *c)
{
        const char *t = c->text;
        size_t s = c->s, e = c->e;
        /* split off an extension */
        size_t xe = e;
        for (size_t i = s; i < e; i++)
                if (t[i] == 'x' || t[i] == 'e' || t[i] == '#') {
                        xe = i;
                        break;
                }
        size_t me = xe;
        while (me > s && t[me - 1] == ' ')
                me--;
        char d[24];
        size_t nd = collect_digits(t, s, me, d, sizeof d);
        if (nd < 7 || nd > 15)
                return 0;

        /* groups of digits and the separators between them */
        int groups[16], ng = 0, seps = 0, dots = 0, parens = 0;
        int cur = 0;
        for (size_t i = s; i < me; i++) {
                char ch = t[i];
                if (is_digit((unsigned char)ch)) {
                        cur++;
                        continue;
                }
                if (cur) {
                        if (ng < 16)
                                groups[ng] = cur;
                        ng++;
                        cur = 0;
                }
                if (ch == '.')
                        dots++;
                if (ch == '(')
                        parens++;
                if (ch == ' ' || ch == '-' || ch == '.')
                        seps++;
        }
        if (cur) {
                if (ng < 16)
                        groups[ng] = cur;
                ng++;
        }
        if (ng > 16)
                return 0;
        /* dates (2023-10-05, 05.10.2023) and dotted quads are not phones */
        if (ng == 3 && ((groups[0] == 4 && groups[1] <= 2 && groups[2] <= 2) ||
                        (groups[0] <= 2 && groups[1] <= 2 &&
                         (groups[2] == 4 || groups[2] == 2)))) {
                int y = groups[0] == 4 ? num(d, 4) : 0;
                if (groups[0] == 4 ? (y >= 1900 && y <= 2100) : 1)
                        return 0;
        }
        if (ng == 4 && dots == 3 && groups[0] <= 3 && groups[1] <= 3 &&
            groups[2] <= 3 && groups[3] <= 3)
                return 0;
        /* all digits equal: filler, not a number */
        int same = 1;
        for (size_t i = 1; i < nd; i++)
                if (d[i] != d[0])
                        same = 0;
        if (same)
                return 0;

        int intl = t[s] == '+' || (t[s] == '0' && t[s + 1] == '0');
        const char *p = d;
        size_t n = nd;
        if (intl && t[s] == '0') {
                p += 2;
                n -= 2;
        }
        float score = 0.3f;
        /* Chinese mobile, optionally +86 / 0086 */
        const char *m = p;
        size_t mn = n;
        if (intl && mn == 13 && m[0] == '8' && m[1] == '6') {
                m += 2;
                mn -= 2;
        }
        int cn_mobile = mn == 11 && m[0] == '1' && m[1] >= '3' && m[1] <= '9' &&
                        (!intl || m != p) &&
                        (ng == 1 || (ng == 3 && groups[0] == 3 &&
                                     groups[1] == 4) ||
                         (intl && ng == 2) ||
                         (intl && ng == 4 && groups[1] == 3 &&
                          groups[2] == 4));
        /* North American: [1] NXX NXX XXXX */
        const char *a = p;
        size_t an = n;
        if (an == 11 && a[0] == '1') {
                a++;
                an--;
        }
        int nanp = an == 10 && a[0] >= '2' && a[3] >= '2' && (!intl || an != n);
        if (nanp && ng > 1) {
                /* groups must be 3-3-4 (after an optional leading 1) */
                int gi = ng == 4 || (ng == 3 && groups[0] == 1) ? 1 : 0;
                if (ng - gi == 3 && groups[gi] == 3 && groups[gi + 1] == 3 &&
                    groups[gi + 2] == 4)
                        nanp = 2;
                else if (ng - gi != 1)
                        nanp = 0;
        }
        /* UK national: 0 and ten digits, 07700 900123, 020 7946 0958,
         * 0161 496 0000 */
        int uk = !intl && nd == 11 && d[0] == '0' &&
                 (d[1] == '1' || d[1] == '2' || d[1] == '3' || d[1] == '7' ||
                  d[1] == '8') &&
                 (ng == 1 || (ng == 2 && groups[0] == 5) ||
                  (ng == 2 && groups[0] == 4) ||
                  (ng == 3 && ((groups[0] == 3 && groups[1] == 4) ||
                               (groups[0] == 4 && groups[1] == 3) ||
                               (groups[0] == 5 && groups[1] == 3))));
        /* Chinese landline: 0AA[A]-NNNNNNN[N] */
        int cn_land = !intl && ng == 2 && d[0] == '0' && d[1] != '0' &&
                      (groups[0] == 3 || groups[0] == 4) &&
                      (groups[1] == 7 || groups[1] == 8) &&
                      t[s + (size_t)groups[0]] == '-';

        if (cn_mobile)
                score = intl ? 0.7f : 0.55f;
        else if (intl && n >= 8)
                score = 0.55f;
        else if (nanp == 2 || (nanp && parens))
                score = 0.55f;
        else if (nanp)
                score = 0.4f;
        else if (cn_land)
                score = 0.5f;
        else if (uk)
                score = ng > 1 ? 0.5f : 0.4f;
        c->score = score;
        c->strong = score >= 0.55f;
        (void)seps;
        return 1;
}

/* ---- context ---- */

/* Find an ASCII/UTF-8 word in a lowercased window; ASCII words must not be
 * part of a longer ASCII word. */
static int
has_word(const char *w, size_t wn, const char *word)
{
        size_t k = strlen(word);
        int ascii = (unsigned char)word[0] < 0x80;
        size_t i = 0;
        while (i + k <= wn) {
                const char *hit = memchr(w + i, word[0], wn - k + 1 - i);
                if (!hit)
                        return 0;
                i = (size_t)(hit - w);
                if (memcmp(w + i, word, k) == 0 &&
                    (!ascii || ((i == 0 || !is_alpha((unsigned char)w[i - 1])) &&
                                (i + k == wn ||
                                 !is_alpha((unsigned char)w[i + k])))))
                        return 1;
                i++;
        }
        return 0;
}

/* Does one of `words` label the number that follows the window directly:
 * "order #123", "order no. 123", "订单号：123", but not "order, call me on
 * +1 ..."?  Between the word and the end of the window only punctuation,
 * spaces, digits and the fillers no/nr/num/number/id/# may stand. */
static int
labels_number(const char *w, size_t wn, const char *const *words)
{
        static const char *const fillers[] = {"no", "nr", "num", "number",
                                              "id", NULL};
        for (; words && *words; words++) {
                const char *word = *words;
                size_t k = strlen(word);
                int ascii = (unsigned char)word[0] < 0x80;
                for (size_t i = wn >= k ? wn - k + 1 : 0; i-- > 0;) {
                        if (memcmp(w + i, word, k) != 0 ||
                            (ascii && i > 0 && is_alpha((unsigned char)w[i - 1])) ||
                            (ascii && i + k < wn &&
                             is_alpha((unsigned char)w[i + k])))
                                continue;
                        /* the tail after the word: no other words */
                        size_t j = i + k;
                        int ok = 1;
                        while (j < wn && ok) {
                                if (!is_alpha((unsigned char)w[j])) {
                                        j++;
                                        continue;
                                }
                                size_t e = j;
                                while (e < wn && is_alpha((unsigned char)w[e]))
                                        e++;
                                int filler = 0;
                                for (size_t f = 0; fillers[f] && !filler; f++)
                                        filler = strlen(fillers[f]) == e - j &&
                                                 !memcmp(w + j, fillers[f],
                                                         e - j);
                                ok = filler;
                                j = e;
                        }
                        if (ok)
                                return 1;
                        break; /* only the nearest occurrence counts */
                }
        }
        return 0;
}

static int
has_any(const char *w, size_t wn, const char *const *words)
{
        for (; words && *words; words++)
                if (has_word(w, wn, *words))
                        return 1;
        return 0;
}

static const char *const ctx_email[] = {"email", "e-mail", "mail", "contact",
                                        "邮箱", "邮件", NULL};
static const char *const ctx_phone[] = {
        "phone", "tel", "telephone", "call", "mobile", "cell", "fax", "desk",
        "office", "contact", "whatsapp", "sms", "text me", "reach me",
        "number", "电话", "手机", "联系", "致电", "号码", "座机",
        "热线", "微信", NULL};
static const char *const ctx_card[] = {"card", "credit", "debit", "visa",
                                       "mastercard", "amex", "payment",
                                       "pay", "卡号", "信用卡", "银行卡",
                                       "卡", NULL};
static const char *const ctx_cn_id[] = {"身份证", "证件", "id card",
                                        "identity", "id number", "id no",
                                        "身份", NULL};
static const char *const ctx_iban[] = {"iban", "account", "bank", "transfer",
                                       "账户", "账号", NULL};
static const char *const ctx_ssn[] = {"ssn", "social security", "social sec",
                                      "ss#", NULL};
static const char *const ctx_ip[] = {"ip", "server", "host", "address",
                                     "addr", "login", "connected", "地址",
                                     NULL};
static const char *const ctx_url[] = {"website", "site", "link", "url",
                                      "网址", "链接", NULL};
static const char *const ctx_handle[] = {"follow", "twitter", "instagram",
                                         "dm", "weibo", "微博", "关注", NULL};
static const char *const ctx_street[] = {"address", "live", "located",
                                         "地址", "住址", NULL};

/* Words right before a number that say it is something else. */
static const char *const neg_number[] = {
        "order", "invoice", "tracking", "isbn", "version", "ver", "build",
        "release", "ref", "sku", "serial", "timestamp", "unix", "epoch",
        "ts", "订单", "单号", "版本", "快递", "运单", NULL};
/* Before a phone-shaped number: words naming another kind of number
 * ("card number 4111 ...", "account no. 1234567890") veto the phone
 * reading - a 15-digit card number that fails Luhn is still no phone. */
static const char *const neg_phone[] = {
        "order", "invoice", "tracking", "isbn", "version", "ver", "build",
        "release", "ref", "sku", "serial", "timestamp", "unix", "epoch",
        "ts", "card", "credit card", "debit card", "account", "acct",
        "iban", "passport", "licence", "license", "ssn", "routing", "policy",
        "membership", "member", "customer", "transaction", "订单", "单号",
        "版本", "快递", "运单", "卡号", "账号", "身份证", NULL};
static const char *const neg_ip[] = {"version", "ver", "build", "release",
                                     "firmware", "update", "upgrade", "patch",
                                     "sdk", "版本", NULL};

/* Characters right before a number that make it a price or an id. */
static int
money_or_id_before(const char *t, size_t s)
{
        size_t i = s;
        while (i > 0 && t[i - 1] == ' ' && s - i < 2)
                i--;
        if (i == 0)
                return 0;
        unsigned char ch = (unsigned char)t[i - 1];
        if (ch == '#')
                return 2;
        if (ch == '$' || ch == 'v' || ch == 'V')
                return 1;
        /* ¥ U+00A5, ￥ U+FFE5, € U+20AC, £ U+00A3 */
        if (i >= 2 && (unsigned char)t[i - 2] == 0xC2 &&
            (ch == 0xA5 || ch == 0xA3))
                return 1;
        if (i >= 3 && (((unsigned char)t[i - 3] == 0xEF &&
                        (unsigned char)t[i - 2] == 0xBF && ch == 0xA5) ||
                       ((unsigned char)t[i - 3] == 0xE2 &&
                        (unsigned char)t[i - 2] == 0x82 && ch == 0xAC)))
                return 1;
        return 0;
}

/* ---- the pattern table ---- */

typedef struct {
        socfw_pii_type type;
        const char *re;
        uint32_t flags;
        validator validate;
        const char *const *context;
        const char *const *negative;
        int money_check;
        float boost;            /* added when a context word is near */
        /* Optional prefilter: the first position >= pos of a "trigger"
         * that every match contains within `back` bytes of its start (an
         * '@' for e-mail), and in *from the one byte a match around it can
         * start at (the patterns' look-behinds forbid starting inside a
         * run).  Such patterns are compiled anchored and tried only there,
         * so text without triggers costs one byte loop instead of a regex
         * attempt per position, and no attempt scans ahead. */
        size_t (*trigger)(const char *t, size_t pos, size_t len,
                          size_t *from);
} pattern_def;

static size_t
trig_at(const char *t, size_t pos, size_t len, size_t *from)
{
        const char *p = memchr(t + pos, '@', len - pos);
        if (!p)
                return len;
        *from = (size_t)(p - t);
        return *from;
}

/* '@' of an e-mail: the match can only start where the run of local-part
 * characters before it starts (the pattern's look-behind says so). */
static int
is_local_char(int c)
{
        return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' ||
               c == '-';
}

static size_t
trig_email(const char *t, size_t pos, size_t len, size_t *from)
{
        for (;;) {
                const char *p = memchr(t + pos, '@', len - pos);
                if (!p)
                        return len;
                size_t at = (size_t)(p - t), s = at;
                while (s > 0 && at - s <= 64 &&
                       is_local_char((unsigned char)t[s - 1]))
                        s--;
                if (s < at && at - s <= 64) {
                        *from = s < pos ? pos : s;
                        return at;
                }
                pos = at + 1;
        }
}

static int
is_hex(int c)
{
        return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* the first ':' of an IPv6 address; it starts after the hex digits (at most
 * four) before it */
static size_t
trig_colon(const char *t, size_t pos, size_t len, size_t *from)
{
        const char *p = memchr(t + pos, ':', len - pos);
        if (!p)
                return len;
        size_t c = (size_t)(p - t), s = c;
        while (s > pos && c - s < 4 && is_hex((unsigned char)t[s - 1]))
                s--;
        *from = s;
        return c;
}

/* "://" or the dot of "www." */
static size_t
trig_url(const char *t, size_t pos, size_t len, size_t *from)
{
        const char *colon = memchr(t + pos, ':', len - pos);
        size_t climit = colon ? (size_t)(colon - t) : len;
        size_t i = pos;
        for (;;) {
                const char *d = memchr(t + i, '.', climit - i);
                if (!d)
                        break;
                i = (size_t)(d - t);
                if (i >= pos + 3 && lower((unsigned char)t[i - 1]) == 'w' &&
                    lower((unsigned char)t[i - 2]) == 'w' &&
                    lower((unsigned char)t[i - 3]) == 'w') {
                        *from = i - 3;
                        return i;
                }
                i++;
        }
        while (colon) {
                size_t c = (size_t)(colon - t);
                if (c + 2 < len && t[c + 1] == '/' && t[c + 2] == '/') {
                        size_t st = c;  /* the scheme: http, https, ftp */
                        while (st > pos && c - st < 5 &&
                               is_alpha((unsigned char)t[st - 1]))
                                st--;
                        *from = st;
                        return c;
                }
                /* a "www." between this colon and the next one */
                const char *next = memchr(t + c + 1, ':', len - c - 1);
                size_t lim = next ? (size_t)(next - t) : len;
                for (size_t j = c + 1; j < lim; j++) {
                        const char *d = memchr(t + j, '.', lim - j);
                        if (!d)
                                break;
                        j = (size_t)(d - t);
                        if (j >= c + 4 && lower((unsigned char)t[j - 1]) == 'w' &&
                            lower((unsigned char)t[j - 2]) == 'w' &&
                            lower((unsigned char)t[j - 3]) == 'w') {
                                *from = j - 3;
                                return j;
                        }
                }
                colon = next;
        }
        return len;
}

/* a digit right after two letters and before a digit: where an IBAN's
 * check digits start.  Stepping by two still sees one of the two check
 * digits. */
static size_t
trig_iban(const char *t, size_t pos, size_t len, size_t *from)
{
        for (size_t i = pos + 2; i < len; i += 2) {
                if (!is_digit((unsigned char)t[i]))
                        continue;
                for (size_t c = i - 1; c <= i; c++)
                        if (c >= pos + 2 && c + 1 < len &&
                            is_digit((unsigned char)t[c]) &&
                            is_digit((unsigned char)t[c + 1]) &&
                            is_alpha((unsigned char)t[c - 1]) &&
                            is_alpha((unsigned char)t[c - 2])) {
                                *from = c - 2;
                                return c;
                        }
        }
        return len;
}

#define NOTW "(?<![A-Za-z0-9_"

static const pattern_def patterns[] = {
        {SOCFW_PII_EMAIL_ADDRESS,
         "(?<![A-Za-z0-9._%+\\-@])[A-Za-z0-9][A-Za-z0-9._%+\\-]{0,63}+@"
         "(?:[A-Za-z0-9\\-]{1,63}+\\.){1,8}[A-Za-z]{2,24}+"
         "(?![A-Za-z0-9\\-_@])",
         0, v_email, ctx_email, NULL, 0, 0.35f, trig_email},
        {SOCFW_PII_URL,
         "(?<![A-Za-z0-9_@.\\-/])(?:(?i:https?|ftp)://|(?i:www)\\.)"
         "[A-Za-z0-9\\-._~:/?#\\[\\]@!$&()*+,;=%]{1,2048}+",
         0, v_url, ctx_url, NULL, 0, 0.35f, trig_url},
        {SOCFW_PII_IP_ADDRESS,
         NOTW ".\\-])(?:\\d{1,3}+\\.){3}\\d{1,3}+(?![A-Za-z0-9_]|\\.\\d)",
         0, v_ipv4, ctx_ip, neg_ip, 0, 0.35f, NULL},
        {SOCFW_PII_IP_ADDRESS,
         NOTW ":.])(?=[0-9A-Fa-f]{0,4}+:[0-9A-Fa-f]{0,4}+:)"
         "[0-9A-Fa-f:]{2,39}+(?:\\.\\d{1,3}+){0,3}+"
         "(?![A-Za-z0-9_:]|\\.\\d)",
         0, v_ipv6, ctx_ip, neg_ip, 0, 0.35f, trig_colon},
        {SOCFW_PII_CN_ID,
         NOTW "])[1-8]\\d{16}+[\\dXx](?![A-Za-z0-9_])",
         0, v_cn_id, ctx_cn_id, NULL, 0, 0.45f, NULL},
        {SOCFW_PII_CREDIT_CARD,
         NOTW ".,$\\-])(?:\\d{12,19}+|\\d{4}([ \\-])\\d{4}\\1\\d{4}\\1"
         "\\d{1,4}(?:\\1\\d{1,3})?|\\d{4}([ \\-])\\d{6}\\2\\d{4,5})"
         "(?![A-Za-z0-9_]|[.,]\\d)",
         0, v_card, ctx_card, neg_number, 1, 0.4f, NULL},
        {SOCFW_PII_IBAN_CODE,
         NOTW "])[A-Za-z]{2}\\d{2}(?:[ ]?+[A-Za-z0-9]){11,30}+",
         0, v_iban, ctx_iban, NULL, 0, 0.4f, trig_iban},
        {SOCFW_PII_US_SSN,
         NOTW ".\\-])\\d{3}([\\- ]?)\\d{2}\\1\\d{4}"
         "(?![A-Za-z0-9_]|[.\\-]\\d)",
         0, v_ssn, ctx_ssn, neg_number, 1, 0.45f, NULL},
        {SOCFW_PII_PHONE_NUMBER,
         NOTW "+#@/.\\-])(?=[0-9+(][0-9+() .\\-]{6})(?:(?:\\+|00)\\d{1,3}+[ .\\-]?+)?(?:\\(0\\)[ ]?+)?"
         "(?:\\(\\d{1,5}+\\)[ .\\-]?+)?\\d{1,12}+(?:[ .\\-]\\d{1,12}+){0,6}+"
         "(?:[ ]?+(?:x|ext\\.?|\\#)[ ]?+\\d{1,6}+)?"
         "(?![A-Za-z0-9_@]|[.:/\\-]\\d)",
         0, v_phone, ctx_phone, neg_phone, 1, 0.35f, NULL},
        {SOCFW_PII_HANDLE,
         "(?<![A-Za-z0-9_@.\\-/])@(?:[A-Za-z_]|\\p{Han})[\\p{L}\\p{N}_]{0,29}+"
         "(?![\\p{L}\\p{N}_@]|\\.[A-Za-z0-9])",
         0, v_handle, ctx_handle, NULL, 0, 0.35f, trig_at},
        {SOCFW_PII_STREET_ADDRESS,
         NOTW "])\\d{1,6}+[A-Za-z]?(?:[ ]{1,3}+(?:[A-Z][A-Za-z'\\-]{0,20}+"
         "\\.?|\\d{1,3}+(?:st|nd|rd|th))){1,4}[ ]{1,3}+"
         "(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|"
         "Court|Ct|Way|Place|Pl|Terrace|Parkway|Pkwy|Highway|Hwy|Square|Sq|"
         "Circle|Cir|Trail|Crescent|Close|Alley)\\b\\.?"
         "(?:,?[ ]{1,3}+(?:Apt\\.?|Suite|Unit|\\#)[ ]?+\\d{1,5}+[A-Za-z]?)?",
         0, v_street, ctx_street, NULL, 0, 0.35f, NULL},
};

#define N_PATTERNS (sizeof patterns / sizeof patterns[0])

struct socfw_pii_recognizer {
        socfw_pii_options opt;
        pcre2_code *code[N_PATTERNS];
        pcre2_match_context *mctx;
};

socfw_pii_options
socfw_pii_options_default(void)
{
        socfw_pii_options o = {
                .types = SOCFW_PII_PATTERN_TYPES,
                .threshold = 0.5f,
                .context_before = 48,
                .context_after = 24,
                .keep_overlaps = 0,
        };
        return o;
}

void
socfw_pii_recognizer_free(socfw_pii_recognizer *rec)
{
        if (!rec)
                return;
        for (size_t i = 0; i < N_PATTERNS; i++)
                pcre2_code_free(rec->code[i]);
        pcre2_match_context_free(rec->mctx);
        free(rec);
}

int
socfw_pii_recognizer_new(socfw_pii_recognizer **out,
                         const socfw_pii_options *opt, socfw_error *err)
{
        int rc = 0;
        *out = NULL;
        socfw_pii_recognizer *rec = calloc(1, sizeof *rec);
        if (!rec)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "privacy: out of memory");
        rec->opt = opt ? *opt : socfw_pii_options_default();
        if (!(rec->opt.threshold >= 0.0f && rec->opt.threshold <= 1.0f)) {
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "privacy: threshold %g is outside "
                                     "[0, 1]", (double)rec->opt.threshold);
                goto out;
        }
        if (rec->opt.context_before > 1024)
                rec->opt.context_before = 1024;
        if (rec->opt.context_after > 1024)
                rec->opt.context_after = 1024;
        rec->mctx = pcre2_match_context_create(NULL);
        if (!rec->mctx) {
                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                     "privacy: out of memory");
                goto out;
        }
        pcre2_set_match_limit(rec->mctx, 1000000);
        pcre2_set_depth_limit(rec->mctx, 10000);
        for (size_t i = 0; i < N_PATTERNS; i++) {
                if (!(rec->opt.types & SOCFW_PII_BIT(patterns[i].type)))
                        continue;
                int ec;
                PCRE2_SIZE eo;
                rec->code[i] = pcre2_compile(
                        (PCRE2_SPTR)patterns[i].re, PCRE2_ZERO_TERMINATED,
                        PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NO_UTF_CHECK |
                                /* anchored at the trigger; no "required
                                 * character" scan ahead, which would cost
                                 * the rest of the text on every attempt */
                                (patterns[i].trigger ? PCRE2_ANCHORED |
                                                       PCRE2_NO_START_OPTIMIZE
                                                     : 0) |
                                patterns[i].flags,
                        &ec, &eo, NULL);
                if (!rec->code[i]) {
                        PCRE2_UCHAR msg[256];
                        pcre2_get_error_message(ec, msg, sizeof msg);
                        rc = socfw_error_set(err, SOCFW_EINTERNAL,
                                             "privacy: pattern for %s does "
                                             "not compile at offset %zu: %s",
                                             socfw_pii_type_name(
                                                     patterns[i].type),
                                             (size_t)eo, (char *)msg);
                        goto out;
                }
                /* JIT where available; the interpreter otherwise */
                (void)pcre2_jit_compile(rec->code[i], PCRE2_JIT_COMPLETE);
        }
        *out = rec;
        rec = NULL;
out:
        socfw_pii_recognizer_free(rec);
        return rc;
}

/* Lowercased copy of text[a..b) into w (ASCII only). */
static size_t
window(const char *t, size_t a, size_t b, char *w)
{
        for (size_t i = a; i < b; i++)
                w[i - a] = (char)lower((unsigned char)t[i]);
        return b - a;
}

static float
score_context(const socfw_pii_recognizer *rec, const pattern_def *p,
              const cand *c, int *reject)
{
        char w[2100];
        const char *t = c->text;
        size_t a = c->s > rec->opt.context_before ?
                           c->s - rec->opt.context_before : 0;
        size_t b = c->e + rec->opt.context_after < c->len ?
                           c->e + rec->opt.context_after : c->len;
        *reject = 0;
        int before = p->money_check ? money_or_id_before(t, c->s) : 0;
        if (before == 1) {
                *reject = 1;
                return 0.0f;
        }
        if (p->negative) {
                size_t na = c->s > 24 ? c->s - 24 : 0;
                size_t n = window(t, na, c->s, w);
                if (labels_number(w, n, p->negative)) {
                        *reject = 1;
                        return 0.0f;
                }
        }
        size_t n = window(t, a, c->s, w);
        n += window(t, c->e, b, w + n);
        int ctx = has_any(w, n, p->context);
        /* "#1234...": an id number, unless the context says otherwise */
        if (before == 2 && !ctx) {
                *reject = 1;
                return 0.0f;
        }
        return ctx ? p->boost : 0.0f;
}

int
socfw_pii_recognizer_scan(const socfw_pii_recognizer *rec, const char *text,
                          size_t len, socfw_pii_spans *out, socfw_error *err)
{
        int rc = 0;
        if (!rec || !out || (!text && len))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "privacy: scan needs a recognizer, "
                                       "a text and a span list");
        size_t first_new = out->n;
        pcre2_match_data *md = pcre2_match_data_create(8, NULL);
        if (!md)
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "privacy: out of memory");
        if (!text)
                text = "";
        for (size_t pi = 0; pi < N_PATTERNS; pi++) {
                const pattern_def *p = &patterns[pi];
                if (!rec->code[pi])
                        continue;
                size_t pos = 0;
                while (pos < len) {
                        size_t from = pos;
                        size_t trig = len;
                        if (p->trigger) {
                                trig = p->trigger(text, pos, len, &from);
                                if (trig >= len)
                                        break;
                        }
                        int m = pcre2_match(rec->code[pi], (PCRE2_SPTR)text,
                                            len, from, 0, md, rec->mctx);
                        if (m == PCRE2_ERROR_NOMATCH && p->trigger) {
                                pos = trig + 1;
                                while (pos < len &&
                                       ((unsigned char)text[pos] & 0xC0) ==
                                               0x80)
                                        pos++;
                                continue;
                        }
                        if (m == PCRE2_ERROR_NOMATCH)
                                break;
                        if (m < 0) {
                                PCRE2_UCHAR msg[256];
                                pcre2_get_error_message(m, msg, sizeof msg);
                                rc = socfw_error_set(
                                        err, SOCFW_EINTERNAL,
                                        "privacy: matching %s at byte %zu "
                                        "failed: %s",
                                        socfw_pii_type_name(p->type), pos,
                                        (char *)msg);
                                goto out;
                        }
                        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
                        cand c = {.text = text, .len = len,
                                  .s = ov[0], .e = ov[1]};
                        size_t next = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
                        if (p->validate(&c) && c.e > c.s) {
                                int reject;
                                float boost = score_context(rec, p, &c,
                                                            &reject);
                                float score = c.score + boost;
                                if (score > 1.0f)
                                        score = 1.0f;
                                if (!reject && score >= rec->opt.threshold) {
                                        socfw_pii_span s = {
                                                .start = c.s, .end = c.e,
                                                .type = p->type,
                                                .score = score,
                                                .source =
                                                    SOCFW_PII_SOURCE_PATTERN,
                                        };
                                        rc = socfw_pii_spans_push(out, &s);
                                        if (rc < 0) {
                                                socfw_error_set(
                                                    err, rc,
                                                    "privacy: too many "
                                                    "spans");
                                                goto out;
                                        }
                                }
                                if (c.e < next && c.e > ov[0])
                                        next = c.e;
                        }
                        /* never restart inside a character */
                        while (next < len &&
                               ((unsigned char)text[next] & 0xC0) == 0x80)
                                next++;
                        pos = next;
                }
        }
        if (!rec->opt.keep_overlaps)
                socfw_pii_spans_resolve(out);
        else
                socfw_pii_spans_sort(out);
        rc = socfw_pii_spans_fill_cp(out, text, len, err);
out:
        (void)first_new;
        pcre2_match_data_free(md);
        return rc;
}
