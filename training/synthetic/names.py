"""Plausible company names: invented stems, an industry word, and a legal form by country."""

from __future__ import annotations

import numpy as np

_HEADS = (
    "Ac", "Al", "Ar", "Bel", "Bri", "Cal", "Cor", "Dyn", "El", "Fen", "Gal", "Hel", "Ion",
    "Jun", "Kel", "Lum", "Mar", "Nov", "Ob", "Par", "Quan", "Ral", "Sol", "Tor", "Ul", "Ver",
    "Wex", "Xan", "Yor", "Zen", "Tri", "Oct", "Pyr", "Sen", "Vor", "Ner", "Cas", "Lin",
)  # fmt: skip
_TAILS = (
    "a", "ex", "ia", "on", "ix", "ora", "is", "um", "io", "ant", "ine", "ar", "ova", "eon",
    "ify", "ly", "ent", "ico", "ara", "us",
)  # fmt: skip
_WORDS: dict[str, tuple[str, ...]] = {
    "software": ("Systems", "Labs", "Software", "Technologies", "Cloud", "AI"),
    "fintech": ("Pay", "Capital", "Financial", "Money", "Ledger"),
    "healthcare": ("Health", "Medical", "Care", "Clinics", "Bio"),
    "manufacturing": ("Industries", "Manufacturing", "Components", "Metals", "Works"),
    "retail": ("Retail", "Brands", "Stores", "Outfitters", "Market"),
    "education": ("Academy", "Learning", "Education", "School", "College"),
    "logistics": ("Logistics", "Freight", "Transport", "Shipping", "Cargo"),
    "media": ("Media", "Studios", "Publishing", "Digital", "Network"),
    "public_sector": ("Agency", "Authority", "Council", "Department", "Services"),
    "professional_services": ("Consulting", "Advisors", "Partners", "Group", "& Associates"),
}
_LEGAL: dict[str, tuple[str, ...]] = {
    "United States": ("Inc.", "LLC", "Corp."),
    "Canada": ("Inc.", "Ltd."),
    "United Kingdom": ("Ltd", "plc"),
    "Ireland": ("Ltd",),
    "Germany": ("GmbH", "AG"),
    "Switzerland": ("AG", "GmbH"),
    "France": ("SA", "SAS"),
    "Netherlands": ("B.V.",),
    "Sweden": ("AB",),
    "Spain": ("S.L.", "S.A."),
    "Italy": ("S.p.A.", "S.r.l."),
    "Poland": ("Sp. z o.o.",),
    "Brazil": ("Ltda.",),
    "Mexico": ("S.A. de C.V.",),
    "Australia": ("Pty Ltd",),
    "Japan": ("K.K.",),
    "India": ("Pvt Ltd",),
    "Singapore": ("Pte Ltd",),
}


def _pick(rng: np.random.Generator, options: tuple[str, ...], n: int) -> np.ndarray:
    return np.array(options, dtype=object)[rng.integers(len(options), size=n)]


def company_names(
    vertical: np.ndarray, country: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """One name per account, e.g. "Corixa Labs", "Helora Logistics GmbH"."""
    n = len(vertical)
    stem = _pick(rng, _HEADS, n) + _pick(rng, _TAILS, n)
    double = rng.random(n) < 0.3  # longer stems make names collide less often
    stem[double] = stem[double] + np.char.lower(_pick(rng, _HEADS, int(double.sum())).astype(str))
    word = np.empty(n, dtype=object)
    for name, words in _WORDS.items():
        rows = np.flatnonzero(vertical == name)
        word[rows] = _pick(rng, words, len(rows))
    names = stem + " " + word
    legal = np.full(n, "", dtype=object)
    for place, forms in _LEGAL.items():
        rows = np.flatnonzero((country == place) & (vertical != "public_sector"))
        legal[rows] = _pick(rng, forms, len(rows))
    with_legal = (legal != "") & (rng.random(n) < 0.5)
    names[with_legal] = names[with_legal] + " " + legal[with_legal]
    return names
