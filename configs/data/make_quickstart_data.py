#!/usr/bin/env python3
"""Write the quickstart's bundled data: short social-media posts about
products and services, composed from phrase lists written for socfw.

  quickstart-corpus.txt        unlabelled posts, one per line (pretraining)
  quickstart-{train,valid,test}.jsonl   {"text", "label"} with labels
                               negative / neutral / positive

Deterministic (fixed seed): run it again and the files are identical.
    python3 configs/data/make_quickstart_data.py
"""
import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))

SUBJECTS = [
    "the new phone", "my order", "customer support", "the app update",
    "the delivery", "the battery", "this cafe", "the hotel", "my laptop",
    "the headphones", "the checkout page", "the subscription", "the refund",
    "the train to work", "the gym", "the pizza place", "the bank app",
    "the airline", "the streaming service", "my internet connection",
    "the game patch", "the new sneakers", "the coffee machine", "the camera",
    "the smartwatch", "the dentist", "the bookshop", "the bus", "the printer",
    "the concert", "the museum", "the vacuum cleaner", "the tablet",
]
POSITIVE = [
    "is amazing", "works great", "is so fast now", "made my day",
    "exceeded my expectations", "is absolutely perfect", "was a delight",
    "is the best I have tried", "keeps getting better", "is worth every penny",
    "was super friendly", "arrived early and looks great", "is brilliant",
    "totally fixed my problem", "is a joy to use", "was excellent as always",
    "feels so much faster", "is wonderful", "was really kind and helpful",
    "is awesome", "works like a charm", "made everything easier",
    "is beautiful", "was quick and painless", "is fantastic value",
]
NEGATIVE = [
    "broke after two days", "is terrible", "is still not working",
    "was a complete waste of money", "keeps crashing", "is painfully slow",
    "ruined my weekend", "never showed up", "is the worst experience ever",
    "charged me twice", "stopped working again", "was rude and unhelpful",
    "is a disaster", "made me so angry", "is broken out of the box",
    "left me waiting for hours", "still hasn't shipped",
    "never arrived", "is awful", "is so frustrating", "keeps freezing",
    "was cancelled without notice", "is overpriced junk", "lost my data",
    "is a nightmare", "gave me a headache",
]
NEUTRAL = [
    "arrived today", "is being updated tonight", "opens at nine",
    "comes in three colours", "was mentioned in the news", "is on my list",
    "has a new version", "changed its logo", "moved to a new address",
    "needs a password reset", "ships from the central warehouse",
    "has a FAQ page", "is part of the bundle", "was discussed at the meeting",
]
QUESTIONS = [
    "does anyone know if {s} is open on sundays?",
    "is {s} available in blue?", "how long does {s} usually take?",
    "where can I find the manual for {s}?", "what time does {s} start?",
]
POS_EXTRA = ["love it", "so happy", "highly recommend", "thank you!",
             "10/10", "can't complain", "great job team", "loving it",
             "great service", "thanks so much"]
NEG_EXTRA = ["so disappointed", "never again", "fix this please",
             "I want my money back", "unacceptable", "avoid", "ugh",
             "worst ever", "what a joke", "really upset"]
NEU_EXTRA = ["just fyi", "noted", "we'll see", "anyway", "for the record"]
EMOJI = {"positive": [":)", ":D", "<3", "!!"],
         "negative": [":(", ">:(", "!!!", "..."],
         "neutral": ["", "", "."]}
OPENERS = ["", "", "", "honestly ", "wow ", "ok so ", "update: ", "lol ",
           "@support ", "just saying, "]
TAGS = ["", "", "", " #fail", " #happy", " #monday", " #tech", " #service"]


def clause(rng, label, s):
    """A subject with a phrase that carries `label`."""
    if label == "neutral" and rng.random() < 0.4:
        return rng.choice(QUESTIONS).format(s=s)
    if label == "negative" and rng.random() < 0.15:
        # a negated positive phrase is negative
        phrase = rng.choice(POSITIVE)
        verb = phrase.split(" ", 1)
        if verb[0] in ("is", "was"):
            return f"{s} {verb[0]} not {verb[1]}"
    phrase = rng.choice({"positive": POSITIVE, "negative": NEGATIVE,
                         "neutral": NEUTRAL}[label])
    return f"{s} {phrase}"


def post(rng, label):
    s = rng.choice(SUBJECTS)
    text = clause(rng, label, s)
    if label != "neutral" and rng.random() < 0.2:
        # contrast: what comes after "but" decides the label
        other = "positive" if label == "negative" else "negative"
        first = clause(rng, other, rng.choice(SUBJECTS))
        text = f"{first} but {text}"
    if rng.random() < 0.5:
        extra = rng.choice({"positive": POS_EXTRA, "negative": NEG_EXTRA,
                            "neutral": NEU_EXTRA}[label])
        text = f"{text}, {extra}"
    text = rng.choice(OPENERS) + text
    tag = rng.choice(TAGS)
    # a hashtag that disagrees with the label now and then: real posts are
    # noisy, and the model must not rely on it
    text = f"{text}{tag} {rng.choice(EMOJI[label])}".strip()
    if rng.random() < 0.5:
        text = text[0].upper() + text[1:]
    return text


def noisy(rng, label, labels):
    """Annotators disagree on some posts: 4% of labels are another one."""
    if rng.random() < 0.04:
        return rng.choice([x for x in labels if x != label])
    return label


def main():
    rng = random.Random(20261129)
    labels = ["negative", "neutral", "positive"]
    splits = {"train": 1500, "valid": 300, "test": 300}
    for name, n in splits.items():
        path = os.path.join(HERE, f"quickstart-{name}.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            for i in range(n):
                label = labels[i % 3] if name != "train" else rng.choice(labels)
                text = post(rng, label)
                f.write(json.dumps({"text": text,
                                    "label": noisy(rng, label, labels)},
                                   ensure_ascii=False) + "\n")
    with open(os.path.join(HERE, "quickstart-corpus.txt"), "w",
              encoding="utf-8") as f:
        for _ in range(6000):
            f.write(post(rng, rng.choice(labels)) + "\n")


if __name__ == "__main__":
    main()
