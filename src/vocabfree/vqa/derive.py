"""Question-answer pairs derived from image captions: extra VQA training data at no labelling cost.

From the (usually five) captions of one image, simple patterns give questions VQA asks most:

- colour:   "a black dog ..."          -> "what color is the dog?" / "black"
- count:    "two dogs ..."             -> "how many dogs are there?" / "2"
- presence: "... a dog ..."            -> "is there a dog in the picture?" / "yes"; a frequent object that no
            caption of the image mentions -> the same question / "no" (negative sampling, one per positive,
            so yes/no stay balanced); likewise "is this a dog?"
- activity: "a man is riding a bike"   -> "what is the man doing?" / "riding"
- place:    "... on the beach"         -> "where is the man?" / "beach"
- sport / animal: "what sport is this?" / "soccer", "what animal is this?" / "dog"

Only words in the fixed lists below are used, so every answer is a word VQA annotators use too. The rules
are deterministic given ``seed`` (negatives are drawn from a seeded generator, in sorted image order).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

COLOURS = {
    "black",
    "white",
    "brown",
    "red",
    "blue",
    "green",
    "yellow",
    "orange",
    "pink",
    "purple",
    "gray",
    "grey",
    "tan",
    "silver",
}
NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
# singular -> plural for the things whose presence, number and colour we ask about
OBJECTS = {
    "dog": "dogs",
    "cat": "cats",
    "horse": "horses",
    "bird": "birds",
    "cow": "cows",
    "sheep": "sheep",
    "man": "men",
    "woman": "women",
    "boy": "boys",
    "girl": "girls",
    "child": "children",
    "baby": "babies",
    "person": "people",
    "ball": "balls",
    "bike": "bikes",
    "bicycle": "bicycles",
    "car": "cars",
    "boat": "boats",
    "tree": "trees",
    "shirt": "shirts",
    "jacket": "jackets",
    "hat": "hats",
    "helmet": "helmets",
    "dress": "dresses",
    "building": "buildings",
    "bench": "benches",
    "frisbee": "frisbees",
    "rock": "rocks",
    "skateboard": "skateboards",
    "surfboard": "surfboards",
    "truck": "trucks",
    "fence": "fences",
    "umbrella": "umbrellas",
    "kite": "kites",
    "motorcycle": "motorcycles",
    "flag": "flags",
    "table": "tables",
}
PLURALS = {p: s for s, p in OBJECTS.items()}
SUBJECTS = ("man", "woman", "boy", "girl", "child", "dog", "person", "people", "men", "women", "children")
PLACES = {
    "beach",
    "water",
    "snow",
    "grass",
    "street",
    "field",
    "park",
    "pool",
    "ocean",
    "road",
    "sidewalk",
    "mountain",
    "river",
    "lake",
    "sand",
    "city",
    "stage",
    "forest",
    "woods",
    "yard",
    "track",
    "trail",
}
SPORTS = {
    "soccer",
    "football",
    "basketball",
    "baseball",
    "tennis",
    "volleyball",
    "hockey",
    "rugby",
    "surfing",
    "skiing",
    "snowboarding",
    "skateboarding",
    "swimming",
    "climbing",
    "biking",
    "golf",
}
ANIMALS = {"dog", "cat", "horse", "bird", "cow", "sheep", "goat", "duck", "camel", "elephant", "bear"}
PEOPLE = {"man", "woman", "boy", "girl", "child", "baby", "person"}
WORN = {"shirt", "jacket", "hat", "helmet", "dress"}  # nearly everyone wears something: no negatives
NOT_ACTIVITIES = {"wearing", "looking", "holding", "being", "something", "nothing", "during", "building"}
MAX_PRESENCE = 2  # positive presence questions per image (each with one negative)
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class QAPair:
    """A question about an image with one answer (derived pairs have no soft scores)."""

    image: str
    question: str
    answer: str
    kind: str  # colour / count / presence / activity / place / sport / animal


def _words(caption: str) -> list[str]:
    return _WORD.findall(caption.lower())


def _majority(counter: Counter) -> str | None:
    """The most common value if it is a strict majority of the votes, else None (captions disagree)."""
    if not counter:
        return None
    (value, n), total = counter.most_common(1)[0], sum(counter.values())
    return value if n * 2 > total else None


def _image_pairs(image: str, captions: Sequence[str], rng: np.random.Generator, vocab: list[str]) -> list[QAPair]:
    colours: dict[str, Counter] = defaultdict(Counter)
    counts: dict[str, Counter] = defaultdict(Counter)
    activity: dict[str, Counter] = defaultdict(Counter)
    mentioned: set[str] = set()
    places: Counter[str] = Counter()
    sports: Counter[str] = Counter()
    animals: Counter[str] = Counter()
    for caption in captions:
        w = _words(caption)
        for i, word in enumerate(w):
            noun = PLURALS.get(word, word)
            if noun in OBJECTS:
                mentioned.add(noun)
                if i and w[i - 1] in COLOURS:
                    colours[noun]["gray" if w[i - 1] == "grey" else w[i - 1]] += 1
                if i and w[i - 1] in NUMBERS and word in PLURALS:
                    counts[noun][str(NUMBERS[w[i - 1]])] += 1
                elif i and w[i - 1] in {"a", "an", "one"} and word in OBJECTS:
                    counts[noun]["1"] += 1
            if word in SUBJECTS:
                for nxt in w[i + 1 : i + 4]:
                    if nxt.endswith("ing") and len(nxt) > 4 and nxt not in NOT_ACTIVITIES:
                        activity[PLURALS.get(word, word)][nxt] += 1
                        break
            if word in PLACES and i and w[i - 1] == "the":
                places[word] += 1
            if word in SPORTS:
                sports[word] += 1
            if word in ANIMALS:
                animals[word] += 1
    out: list[QAPair] = []
    for noun, votes in sorted(colours.items()):
        if (c := _majority(votes)) is not None:
            out.append(QAPair(image, f"What color is the {noun}?", c, "colour"))
    counted = [(noun, n) for noun, votes in sorted(counts.items()) if (n := _majority(votes)) is not None]
    if counted:  # one count question per image, preferring a number above one
        noun, n = max(counted, key=lambda item: int(item[1]))
        out.append(QAPair(image, f"How many {OBJECTS[noun]} are there?", n, "count"))
    for subject, votes in sorted(activity.items()):
        if (verb := _majority(votes)) is not None:
            out.append(QAPair(image, f"What is the {subject} doing?", verb, "activity"))
    excluded = mentioned | WORN | (PEOPLE if mentioned & PEOPLE else set())
    absent = [n for n in vocab if n not in excluded]
    main = sorted(mentioned)
    if len(main) > MAX_PRESENCE:
        main = sorted(rng.choice(main, MAX_PRESENCE, replace=False).tolist())
    for noun in main:
        out.append(QAPair(image, f"Is there a {noun} in the picture?", "yes", "presence"))
        if absent:
            neg = absent[int(rng.integers(len(absent)))]
            out.append(QAPair(image, f"Is there a {neg} in the picture?", "no", "presence"))
    if animals:
        animal = animals.most_common(1)[0][0]
        out.append(QAPair(image, f"Is this a {animal}?", "yes", "presence"))
        others = sorted(ANIMALS - set(animals))
        out.append(QAPair(image, f"Is this a {others[int(rng.integers(len(others)))]}?", "no", "presence"))
        out.append(QAPair(image, "What animal is this?", animal, "animal"))
    if places:
        where = next((s for s in SUBJECTS if s in mentioned), None)
        if where is not None:
            out.append(QAPair(image, f"Where is the {where}?", places.most_common(1)[0][0], "place"))
    if sports:
        out.append(QAPair(image, "What sport is this?", sports.most_common(1)[0][0], "sport"))
    return out


def derive_qa_pairs(pairs: Iterable[tuple[str, str]], *, seed: int = 0) -> list[QAPair]:
    """QA pairs from ``(image, caption)`` pairs (several captions per image); images in sorted order."""
    by_image: dict[str, list[str]] = defaultdict(list)
    for image, caption in pairs:
        by_image[image].append(caption)
    rng = np.random.default_rng(seed)
    vocab = sorted(OBJECTS)
    out: list[QAPair] = []
    for image in sorted(by_image):
        out.extend(_image_pairs(image, by_image[image], rng, vocab))
    return out
