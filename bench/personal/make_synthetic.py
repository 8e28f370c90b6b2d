#!/usr/bin/env python3
"""SYNTHETIC multi-user preference data for Palate's personal-taste benchmark.

No real multi-user preference data can be fetched here, so this builds a semi-synthetic set in the
spirit of PAL's Persona data (Chen et al., 2024): 40 prompts (topics.py), each with 8 genuinely
different replies composed from hand-written material (length, list structure, tone, caution,
examples and analogies vary), and simulated users whose true utility is a weighted sum of
attributes measured by the simple, independent functions below (word counts, list markup,
lexicon hits) -- never by Palate's own features. Labels come from Bradley-Terry noise on that
utility. Python standard library only; the output is a pure function of --seed.

Output (in --out):
  train-users.jsonl  users who teach the shared taste basis (`palate train-basis`); topics 0-13, 24-39
  test-users.jsonl   held-out users for `palate eval-personal`; topics 14-23, never seen in training
  meta.json          the generator's settings, the personas and the noise ceiling of the test users

Every line: {"user", "prompt", "chosen", "rejected", "split": "train"|"test"}.
"""
import argparse
import hashlib
import itertools
import json
import math
import os
import random
import re

from topics import TOPICS

REPLIES_PER_PROMPT = 8
BASIS_TOPICS = [*range(0, 14), *range(24, len(TOPICS))]
HELD_OUT_TOPICS = range(14, 24)

# ---------------------------------------------------------------------------------------------
# Composing replies


def contract(text):
    for long, short in [("do not", "don't"), ("does not", "doesn't"), ("it is", "it's"), ("you are", "you're"),
                        ("cannot", "can't"), ("is not", "isn't"), ("you will", "you'll"), ("It is", "It's")]:
        text = text.replace(long, short)
    return text


def formalise(text):
    for short, long in [("don't", "do not"), ("it's", "it is"), ("can't", "cannot")]:
        text = text.replace(short, long)
    return text


OPENERS = {
    "casual": ["Sure thing!", "Oh, good question!", "Happy to help!", "Great question!"],
    "neutral": [""],
    "formal": ["Certainly.", "Thank you for your question.", "The answer is as follows."],
}
CLOSERS = {
    "casual": ["Hope that helps! 😊", "Have fun with it!", "You've got this!", "Good luck, you'll do great!"],
    "neutral": [""],
    "formal": ["I trust this clarifies the matter.", "Please let me know should you require further detail.",
               "I hope this information proves useful."],
}
HEDGES = ["In most cases, ", "Generally speaking, ", "It may help to know that, usually, "]


def compose(topic, style, rng):
    """One reply: `style` picks length, structure, caution, tone, example and analogy."""
    parts = []
    opener = rng.choice(OPENERS[style["tone"]])
    if opener:
        parts.append(opener)
    answer = topic["answer"]
    if style["cautious"]:
        h = rng.choice(HEDGES)
        answer = h + answer[0].lower() + answer[1:]
    parts.append(answer)
    n_details = {"short": 0, "medium": 1, "long": 3}[style["length"]]
    parts.extend(topic["details"][:n_details])
    if style["analogy"]:
        parts.append(topic["analogy"])
    if style["example"]:
        parts.append(topic["example"])
    body = " ".join(parts)
    if style["steps"] == "list":
        body += "\n\n" + "\n".join(f"{i + 1}. {s}." for i, s in enumerate(topic["steps"]))
    elif style["steps"] == "prose":
        s = topic["steps"]
        body += f" First, {s[0][0].lower() + s[0][1:]}; then {s[1][0].lower() + s[1][1:]}; after that, " \
                f"{s[2][0].lower() + s[2][1:]}; finally, {s[3][0].lower() + s[3][1:]}."
    if style["cautious"]:
        body += ("\n\n" if style["steps"] == "list" else " ") + "Please note: " + topic["caveat"]
    closer = rng.choice(CLOSERS[style["tone"]])
    if closer:
        body += ("\n\n" if style["steps"] == "list" else " ") + closer
    if style["tone"] == "casual":
        body = contract(body)
    elif style["tone"] == "formal":
        body = formalise(body)
    return body


STYLE_SPACE = [
    dict(length=l, steps=s, cautious=c, tone=t, example=e, analogy=a)
    for l, s, c, t, e, a in itertools.product(
        ["short", "medium", "long"], ["none", "prose", "list"], [False, True],
        ["casual", "neutral", "formal"], [False, True], [False, True])
]


def replies_for(topic, rng, n=REPLIES_PER_PROMPT):
    """n replies with pairwise different styles, covering each attribute's range."""
    while True:
        styles = rng.sample(STYLE_SPACE, n)
        covered = all(len({str(s[k]) for s in styles}) == len({str(x[k]) for x in STYLE_SPACE})
                      for k in ["length", "steps", "cautious", "tone"])
        if covered:
            return [compose(topic, s, rng) for s in styles]


# ---------------------------------------------------------------------------------------------
# Independent attribute functions: what simulated users care about

HEDGE_WORDS = ["may", "might", "usually", "generally", "in most cases", "note", "worth", "check",
               "depends", "doctor", "careful", "not always", "still", "varies", "differ"]
CASUAL_MARKERS = ["!", "'s", "n't", "'re", "'ll", "😊", "sure thing", "great question", "fun", "got this"]
FORMAL_MARKERS = ["certainly", "thank you for your question", "as follows", "i trust", "should you require",
                  "proves useful", "do not", "it is", "cannot", "please let me know"]


def count(text, needles):
    t = text.lower()
    return sum(t.count(n) for n in needles)


def attributes(text):
    words = len(re.findall(r"\w+", text))
    return {
        "length": math.log(1 + words),
        "list": float(len(re.findall(r"(?m)^\d+\. ", text))),
        "hedging": float(count(text, HEDGE_WORDS)),
        "casual": float(count(text, CASUAL_MARKERS)),
        "formal": float(count(text, FORMAL_MARKERS)),
        "example": float("for example" in text.lower() or "for instance" in text.lower() or "`" in text),
        "analogy": float(bool(re.search(r"\b(like a|like an|is like|think of)\b", text.lower()))),
    }


ATTRS = ["length", "list", "hedging", "casual", "formal", "example", "analogy"]

# Personas (utility weights on standardised attributes), as in PAL's persona-based users.
PERSONAS = {
    "busy professional": dict(length=-1.2, list=0.6, casual=-0.4, formal=0.2),
    "eager learner": dict(length=1.0, example=0.8, list=0.5, analogy=0.3),
    "cautious reader": dict(hedging=1.2, formal=0.4, casual=-0.3),
    "friendly chatter": dict(casual=1.1, analogy=0.7, formal=-0.7),
    "no-nonsense expert": dict(hedging=-0.8, example=0.7, analogy=-0.6, length=-0.3),
    "step-by-step doer": dict(list=1.3, length=0.2, analogy=-0.3),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--train-users", type=int, default=120)
    ap.add_argument("--test-users", type=int, default=40)
    ap.add_argument("--train-pairs", type=int, default=40, help="answerable pairs per user")
    ap.add_argument("--test-pairs", type=int, default=40, help="held-out pairs per user")
    ap.add_argument("--individual-sd", type=float, default=0.15,
                    help="standard deviation of a user's own deviation from their persona's weights")
    ap.add_argument("--temperature", type=float, default=3.0,
                    help="Bradley-Terry inverse temperature on the utility difference")
    ap.add_argument("--train-replies", type=int, default=REPLIES_PER_PROMPT,
                    help="replies per prompt that the training users choose between: the benchmark's 8, "
                         "plus extra ones composed the same way (other styles) when larger; more distinct "
                         "texts to learn the taste basis from. The held-out users' data does not change")
    ap.add_argument("--validation", action="store_true",
                    help="instead of the benchmark, write a validation split for choosing train-basis "
                         "settings without touching the held-out topics: training users on 24 of the 30 "
                         "basis topics, held-out users on the other 6 (same replies, other users)")
    ap.add_argument("--validation-topics", type=int, default=24,
                    help="with --validation: how many of the 24 validation training topics the training "
                         "users choose on (the first N; fewer topics, same users and pairs)")
    args = ap.parse_args()
    if not 1 <= args.validation_topics <= 24:
        ap.error("--validation-topics must be between 1 and 24")
    rng = random.Random(args.seed)

    replies = [replies_for(t, rng) for t in TOPICS]
    # Extra training replies come from their own random stream, after the benchmark's draws, so
    # the held-out users' file is the same whatever --train-replies is.
    extra_rng = random.Random(args.seed + 2)
    extra = args.train_replies - REPLIES_PER_PROMPT
    if not 0 <= extra <= len(STYLE_SPACE) - REPLIES_PER_PROMPT:
        ap.error(f"--train-replies must be between {REPLIES_PER_PROMPT} and {len(STYLE_SPACE)}")
    train_replies = {t: replies[t] + (replies_for(TOPICS[t], extra_rng, extra) if extra else []) for t in BASIS_TOPICS}
    splits = [("train-users", args.train_users, BASIS_TOPICS), ("test-users", args.test_users, HELD_OUT_TOPICS)]
    if args.validation:
        # Its own random stream for the users, so the benchmark's files stay a function of --seed.
        rng = random.Random(args.seed + 1)
        splits = [("train-users", args.train_users, BASIS_TOPICS[:args.validation_topics]),
                  ("test-users", args.test_users, BASIS_TOPICS[24:])]
    all_texts = [r for rs in replies for r in rs]
    raw = [attributes(t) for t in all_texts]
    mean = {a: sum(r[a] for r in raw) / len(raw) for a in ATTRS}
    sd = {a: math.sqrt(sum((r[a] - mean[a]) ** 2 for r in raw) / len(raw)) or 1.0 for a in ATTRS}

    def z(text):
        r = attributes(text)
        return [(r[a] - mean[a]) / sd[a] for a in ATTRS]

    def simulate(prefix, n_users, topics, texts, rng):
        """Users (a persona each plus an individual deviation, as in PAL's Persona users) and their
        Bradley-Terry choices between replies to `topics` in `texts`."""
        lines, ceiling, users = [], [], []
        for u in range(n_users):
            persona = rng.choice(sorted(PERSONAS))
            theta = [PERSONAS[persona].get(a, 0.0) + rng.gauss(0, args.individual_sd) for a in ATTRS]
            user = f"{prefix}-{u:03d}"
            users.append({"user": user, "personas": [persona], "theta": dict(zip(ATTRS, theta))})
            pool = [(t, i, j) for t in topics for i in range(len(texts[t])) for j in range(i + 1, len(texts[t]))]
            for k, (t, i, j) in enumerate(rng.sample(pool, args.train_pairs + args.test_pairs)):
                a, b = texts[t][i], texts[t][j]
                margin = args.temperature * sum(w * (x - y) for w, x, y in zip(theta, z(a), z(b)))
                p = 1.0 / (1.0 + math.exp(-margin))
                a_wins = rng.random() < p
                split = "train" if k < args.train_pairs else "test"
                if split == "test":
                    ceiling.append(max(p, 1.0 - p))
                lines.append({"user": user, "prompt": TOPICS[t]["prompt"],
                              "chosen": a if a_wins else b, "rejected": b if a_wins else a, "split": split})
        return lines, ceiling, users

    meta = {"synthetic": True, "seed": args.seed, "validation": args.validation, "attributes": ATTRS, "personas": PERSONAS,
            "temperature": args.temperature, "individual_sd": args.individual_sd, "replies_per_prompt": REPLIES_PER_PROMPT,
            "train_replies_per_prompt": args.train_replies, "files": {}}
    if args.validation:
        meta["validation_topics"] = args.validation_topics
    os.makedirs(args.out, exist_ok=True)
    (train_name, n_train, train_topics), (test_name, n_test, test_topics) = splits
    simulated = {train_name: (simulate("train", n_train, train_topics, replies, rng), train_topics)}
    if extra:
        # Other training users, on more replies, from their own stream: `rng` has advanced exactly as
        # it does for the benchmark, so the held-out users come out the same.
        simulated[train_name] = (simulate("train", n_train, train_topics, train_replies, random.Random(args.seed + 3)),
                                 train_topics)
    simulated[test_name] = (simulate("test", n_test, test_topics, replies, rng), test_topics)
    for name, ((lines, ceiling, users), topics) in simulated.items():
        path = os.path.join(args.out, name + ".jsonl")
        with open(path, "w", encoding="utf-8") as f:
            for line in lines:
                f.write(json.dumps(line, ensure_ascii=False) + "\n")
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        meta["files"][name] = {"users": len(users), "pairs": len(lines), "sha256": digest,
                               "topics": [TOPICS[t]["prompt"] for t in topics],
                               "noise_ceiling": sum(ceiling) / len(ceiling), "user_weights": users}
        print(f"{path}: {len(users)} users, {len(lines)} pairs, noise ceiling "
              f"{meta['files'][name]['noise_ceiling']:.3f} (expected accuracy of the true utility on test pairs)")
    with open(os.path.join(args.out, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
