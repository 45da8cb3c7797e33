"""Place names across scripts and romanisations: one Latin key per name, and one English
spelling per twin.

A planner types "Baianauyl", "Bayanauyl" or "Баянауыл" and means the same place; a twin
built from several sources spells one name several ways ("Jelezïn", "Yekibastuz", "Aqsu"
beside "Zhelezin district", "Ekibastuz", "Aksu district"). :func:`place_key`
reduces any spelling to a Latin key: ``anyascii`` romanises Cyrillic (Russian and every
Kazakh letter), and a few folds merge what romanisations disagree on (y/i, q/k, zh/j, kh/h,
doubled letters, soft signs). :func:`english_names` gives a map one romanisation: where a
row's English ``name`` is its Russian name spelt another way, the Russian name romanised
(``anyascii``, soft signs dropped) replaces it, which is the scheme the default twin's own
district names follow.

anyascii (ISC licence) rather than Unidecode, which is GPL and would bind this MIT project;
the folds are ours because no library normalises *between* romanisations.

Examples
--------
>>> place_key("Баянауыл") == place_key("Baianauyl") == place_key("Bayanauyl")
True
>>> place_key("Аққулы") == place_key("Akkuly")
True
"""

from __future__ import annotations

import re

import pandas as pd
from anyascii import anyascii

__all__ = ["GENERIC_WORDS", "core_key", "english_names", "place_key", "romanise"]

# Words that say what kind of place a name is rather than which: "Zhelezin district" is
# found by "Zhelezin". Kazakh, Russian and English forms, romanised as place_key leaves them.
GENERIC_WORDS = {"district", "audani", "raion", "rayon", "oblis", "oblast", "region", "city",
                 "kalasi", "gorod", "selo", "auil", "aul", "posiolok", "poselok"}

# Order matters: longer spellings first, so "shch" is not read as "sh" + "ch".
_FOLDS = [("shch", "sh"), ("sch", "sh"), ("dzh", "j"), ("zh", "j"), ("kh", "h"),
          ("ts", "c"), ("gh", "g"), ("q", "k"), ("ye", "e"), ("yo", "o"), ("y", "i"),
          ("w", "v")]


def place_key(name: str) -> str:
    """The Latin key of a place name: romanised, lower case, spellings merged.

    >>> place_key("Екібастұз"), place_key("Yekibastuz"), place_key("Jelezïn")
    ('ekibastuz', 'ekibastuz', 'jelezin')
    """
    s = anyascii(str(name)).lower()
    s = re.sub(r"['`\u02b9\u02bc\u2019]", "", s)  # soft/hard signs and apostrophes
    s = re.sub(r"[^0-9a-z]+", " ", s)
    for a, b in _FOLDS:
        s = s.replace(a, b)
    s = re.sub(r"(.)\1+", r"\1", s)  # "Akkuly" and "Akuly", "Shcherbakty" and "Sherbakty"
    return " ".join(s.split())


def core_key(name: str) -> str:
    """:func:`place_key` without the words that say what kind of place it is.

    >>> core_key("Железин ауданы") == core_key("Zhelezin district") == place_key("Jelezïn")
    True
    """
    key = place_key(name)
    words = [w for w in key.split() if w not in GENERIC_WORDS]
    return " ".join(words) or key




def romanise(name: str) -> str:
    """A Cyrillic name in Latin letters, the one way this toolkit spells it.

    >>> romanise("Екібастұз"), romanise("Щербакты"), romanise("Аққулы")
    ('Ekibastuz', 'Shcherbakty', 'Aqquly')
    """
    return re.sub(r"['`\u02b9\u02bc\u2019]", "", anyascii(str(name))).strip()


def english_names(df: pd.DataFrame) -> pd.Series:
    """Each row's English name in one romanisation.

    ``name_en`` where a row has one; else ``name``, unless ``name`` is the row's Russian name
    spelt another way (same :func:`place_key`), where the romanised Russian name replaces it.
    A name that says something else ("Aksu district" beside "Аксуский район") stays.

    >>> df = pd.DataFrame({"name": ["Jelezïn", "Aksu district"],
    ...                    "name_ru": ["Железин", "Аксуский район"]})
    >>> english_names(df).tolist()
    ['Zhelezin', 'Aksu district']
    """
    name = df["name"].fillna("").astype(str) if "name" in df else pd.Series("", index=df.index)
    out = name.copy()
    if "name_ru" in df:
        ru = df["name_ru"].fillna("").astype(str)
        for i in df.index:
            if ru[i] and name[i]:
                roman = romanise(ru[i])
                if roman != name[i] and place_key(roman) == place_key(name[i]):
                    out[i] = roman
    if "name_en" in df:
        en = df["name_en"].fillna("").astype(str).str.strip()
        out = en.where(en != "", out)
    return out
