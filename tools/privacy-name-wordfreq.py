#!/usr/bin/env python3
"""How often the name lists' entries are ordinary English words.

Reads ../shared/data/names (given names, surnames) and the corpus-books
TRAIN split (never valid: the privacy figures are measured on valid), and
writes, for every list entry seen in the books and for every other word
seen at least 30 times in lower case, how often it occurs in lower case
(an ordinary word: "will", "mark", "grace", "orchestra") and capitalised
after the first word of a sentence (a name, or a month: "May").  Words
outside the lists tell an unknown capitalised word that is an ordinary
English word ("Southern", "Orchestra") from one that may be a surname
("Yefremova").  The
privacy plugin's name recognizer down-weights entries by that ratio
(names.word_freq in the privacy section).

    python3 tools/privacy-name-wordfreq.py ../shared > configs/privacy-name-wordfreq.tsv

Output: TSV with a header, "word<TAB>lower<TAB>capitalised", lower-cased
word; list entries seen fewer than 3 times left out.  Deterministic.
"""
import gzip
import re
import sys


def load(path, col=0):
    out = set()
    with open(path, encoding="utf-8") as f:
        next(f)
        for line in f:
            name = line.split("\t")[col].strip()
            if name:
                out.add(name.lower())
    return out


def main():
    shared = sys.argv[1] if len(sys.argv) > 1 else "../shared"
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    names = load(shared + "/data/names/first-names-en.tsv")
    names |= load(shared + "/data/names/surnames-en.tsv")
    lower = {}
    cap = {}
    word = re.compile(r"[A-Za-z][A-Za-z'\-]*|[.!?]")
    n = 0
    with gzip.open(shared + "/data/corpus-books/train.txt.gz", "rt",
                   encoding="utf-8", errors="replace") as f:
        for line in f:
            n += 1
            if limit and n > limit:
                break
            start = True
            for w in word.findall(line):
                if w in ".!?":
                    start = True
                    continue
                lw = w.lower()
                if w == lw:
                    lower[lw] = lower.get(lw, 0) + 1
                elif not start and w[0].isupper() and not w.isupper():
                    cap[lw] = cap.get(lw, 0) + 1
                start = False
    print("word\tlower\tcapitalised")
    for w in sorted(set(lower) | set(cap)):
        lo, ca = lower.get(w, 0), cap.get(w, 0)
        if (w in names and lo + ca >= 3) or lo >= 30:
            print("%s\t%d\t%d" % (w, lo, ca))


if __name__ == "__main__":
    main()
