#!/usr/bin/python3
"""Write the small support-chat set configs/chat-demo.yaml trains on.

configs/data/dialog-demo-{train,valid}.jsonl: conversations
  {"turns": [{"speaker": "user", "text": ..., "emotion": "negative"},
             {"speaker": "bot", "text": ...}, ...]}
(the user turns carry the sentiment the bot should respond to), and
configs/data/dialog-sentiment-{train,valid}.jsonl: {"text", "label"} rows of
the same user messages for the sentiment stage.  Deterministic (seeded).
"""
import json
import random
import sys

rng = random.Random(7)

ITEMS = ["headphones", "phone case", "blue jacket", "coffee maker", "backpack",
         "running shoes", "desk lamp", "keyboard", "water bottle", "charger",
         "smart watch", "yoga mat", "camera bag", "winter boots", "tea set"]
DAYS = ["two days", "three days", "a week", "ten days", "two weeks"]

NEG = [
    "My {item} still hasn't arrived after {days}.",
    "The {item} I ordered came broken.",
    "I was charged twice for the {item}.",
    "This is the third time I ask about my {item} and nobody answers.",
    "The {item} stopped working after {days}, really disappointed.",
    "Your app keeps crashing when I try to pay for the {item}.",
    "I got the wrong {item} and I am angry about it.",
    "Still waiting for my refund for the {item}, this is ridiculous.",
]
NEU = [
    "How long does shipping take for the {item}?",
    "Can I change the address for my {item} order?",
    "Do you have the {item} in another colour?",
    "What is your return policy for the {item}?",
    "Is the {item} in stock right now?",
    "Can I pay for the {item} in two parts?",
    "Where can I find the manual for the {item}?",
]
POS = [
    "The {item} arrived early, thank you so much!",
    "I love my new {item}, great quality.",
    "Your support fixed my {item} problem in minutes, amazing.",
    "Just wanted to say the {item} is perfect.",
    "Thanks for the quick refund on the {item}, you are the best!",
    "The new app update is great, ordering the {item} was so easy.",
]
BOT = {
    "negative": [
        "I am so sorry about the {item}. I have sent you a replacement and you will get an email today.",
        "I am really sorry for the trouble with the {item}. I have refunded you and I will follow up myself.",
        "I apologise for the wait on the {item}. I checked your order and it ships tomorrow.",
        "That is not okay, and I am sorry. I have opened a priority case for your {item}.",
    ],
    "neutral": [
        "Good question. The {item} usually ships within two days.",
        "Yes, you can. Open your orders page and choose the {item} to change it.",
        "You can return the {item} within thirty days for a full refund.",
        "The {item} is in stock, and you can order it today.",
    ],
    "positive": [
        "That is wonderful to hear! Enjoy your {item}.",
        "Thank you so much for the kind words! We are glad you love the {item}.",
        "Yay! Happy to help, and enjoy the {item}!",
        "Thanks for letting us know, that made our day!",
    ],
}
FOLLOW = {
    "negative": ["It is still not fixed.", "Nobody called me back.", "I want my money back now."],
    "neutral": ["Okay, and what about delivery?", "Can you check my order number?", "Is there a fee?"],
    "positive": ["Great, thanks again!", "You made my day.", "Perfect, have a nice day!"],
}
BOT_FOLLOW = {
    "negative": ["I understand, and I am sorry. I have escalated it and a manager will call you today.",
                 "I am sorry it took so long. Your refund is on its way now."],
    "neutral": ["Delivery takes two to four days. Anything else I can help with?",
                "Sure, I checked it and everything looks fine with your order."],
    "positive": ["You are welcome! Have a lovely day.",
                 "Thank you, it was a pleasure to help!"],
}
POOLS = {"negative": NEG, "neutral": NEU, "positive": POS}


def dialog():
    item = rng.choice(ITEMS)
    days = rng.choice(DAYS)
    label = rng.choice(["negative", "negative", "neutral", "positive"])
    u = rng.choice(POOLS[label]).format(item=item, days=days)
    turns = [{"speaker": "user", "text": u, "emotion": label},
             {"speaker": "bot", "text": rng.choice(BOT[label]).format(item=item)}]
    sents = [(u, label)]
    if rng.random() < 0.5:
        l2 = label if rng.random() < 0.7 else rng.choice(list(POOLS))
        f = rng.choice(FOLLOW[l2])
        turns.append({"speaker": "user", "text": f, "emotion": l2})
        turns.append({"speaker": "bot", "text": rng.choice(BOT_FOLLOW[l2])})
        sents.append((f, l2))
    return {"turns": turns}, sents


def write(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def main(out):
    for split, n in (("train", 360), ("valid", 40)):
        dialogs, sents = [], []
        for _ in range(n):
            d, s = dialog()
            dialogs.append(d)
            sents.extend(s)
        write(f"{out}/dialog-demo-{split}.jsonl", dialogs)
        write(f"{out}/dialog-sentiment-{split}.jsonl",
              [{"text": t, "label": l} for t, l in sents])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "configs/data")
