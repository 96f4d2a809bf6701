"""Words to score ASR on, from a transcript or a recogniser's output (stdlib only, so that the
driver and the recogniser's venv share it): lower case, punctuation out (apostrophes inside a
word kept: pocketsphinx's dictionary spells "party's"), hyphens as spaces, numbers and the keypad
signs as the words the Allison prompts speak ("press 1" -> "press one", "#" -> "pound")."""
from __future__ import annotations

import re

ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen").split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
SIGNS = {"*": " star ", "#": " pound ", "&": " and ", "%": " percent ", "+": " plus "}


def number_words(n: int) -> str:
    """0-9999 as spoken ("five hundred", "twenty one")."""
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + ONES[n % 10])
    if n < 1000:
        return ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + number_words(n % 100))
    if n < 10000:
        return ONES[n // 1000] + " thousand" + ("" if n % 1000 == 0 else " " + number_words(n % 1000))
    raise ValueError(f"{n}: no words for numbers past 9999")


def normalise(text: str) -> str:
    t = text.lower()
    for sign, word in SIGNS.items():
        t = t.replace(sign, word)
    t = re.sub(r"\d+", lambda m: f" {number_words(int(m.group()))} ", t)
    t = re.sub(r"[-/_]", " ", t)
    t = re.sub(r"[^a-z' ]", " ", t)
    t = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", t)  # quotes, not apostrophes
    return " ".join(t.split())
