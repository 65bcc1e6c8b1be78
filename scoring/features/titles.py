"""Free-text job titles -> seniority and department.

Rules are ordered: the first pattern that matches wins, so specific phrases ("sales ops",
"executive assistant") come before the general words they contain ("sales", "executive").
"""

from __future__ import annotations

import re
from functools import lru_cache

SENIORITY_RANK = {"entry": 0, "individual": 1, "manager": 2, "director": 3, "vp": 4, "c_level": 5}
UNKNOWN = "unknown"

_JUNK = re.compile(r"^(|n ?a|none|null|test|tbd|unknown|x+|\.|-+|\?+|[0-9 ]+)$")

_SENIORITY: list[tuple[str, str]] = [
    (r"\b(executive|administrative|personal|office) assistant\b", "entry"),
    (r"\bassistant to\b", "entry"),
    (r"\b(intern|internship|student|trainee|apprentice|graduate|junior|jr)\b", "entry"),
    (r"\b(job seeker|seeking|looking for|unemployed)\b", "entry"),
    (r"\b(vice president|vp|svp|evp|avp|v p)\b", "vp"),
    (r"\bchief\b.*\bofficer\b|\bchief\b", "c_level"),
    (r"\b(ceo|cto|cfo|coo|cmo|cro|cio|ciso|cdo|cpo)\b", "c_level"),
    (r"\b(founder|co ?founder|owner|president|managing director|managing partner)\b", "c_level"),
    (r"\b(director|dir|head)\b", "director"),
    (r"\b(key )?account manager\b", "individual"),  # a quota-carrying seller, not a people lead
    (r"\b(manager|mgr|mngr|lead|supervisor|team leader|controller)\b", "manager"),
    (r"\bassistant\b", "entry"),
    (
        r"\b(specialist|analyst|engineer|developer|representative|rep|sdr|bdr|executive|ae|"
        r"coordinator|associate|consultant|administrator|admin|accountant|generalist|designer|"
        r"scientist|architect|officer|recruiter|writer|strategist|planner|programmer|technician|"
        r"agent|buyer|partner|staff|senior|principal|marketer|sysadmin|freelancer|contractor|"
        r"teacher|professor|lecturer|nurse|doctor|lawyer|clerk)\b",
        "individual",
    ),
]

_DEPARTMENT: list[tuple[str, str]] = [
    (r"\b(executive|administrative|personal|office) assistant\b", "other"),
    (
        r"\b(revops|rev ops|revenue operations|sales operations|sales ops|marketing operations|"
        r"marketing ops|mops|gtm operations|go to market operations|sales enablement|crm|"
        r"salesforce admin|salesforce administrator)\b",
        "revops",
    ),
    (
        r"\b(cro|chief revenue officer|revenue|sales|sdr|bdr|account executive|ae|"
        r"business development|account manager|inside sales|partnerships)\b",
        "sales",
    ),
    (
        r"\b(cmo|marketing|mktg|growth|demand gen|demand generation|brand|content|seo|sem|"
        r"communications|pr|digital|social media|product marketing|events)\b",
        "marketing",
    ),
    (
        r"\b(cio|ciso|it|information technology|information systems|systems administrator|"
        r"sysadmin|infrastructure|security|network|helpdesk|help desk)\b",
        "it",
    ),
    (
        r"\b(cto|engineering|engineer|developer|software|devops|data|architect|programmer|"
        r"machine learning|analytics)\b",
        "engineering",
    ),
    (r"\b(cfo|finance|financial|controller|accountant|accounting|treasurer|fp and a)\b", "finance"),
    (r"\b(hr|human resources|people|talent|recruiter|recruiting|payroll)\b", "hr"),
    (r"\b(coo|operations|ops|procurement|supply chain|logistics|purchasing)\b", "operations"),
    (
        r"\b(ceo|chief executive|founder|co ?founder|owner|president|managing director|"
        r"managing partner|general manager|gm|partner)\b",
        "general_management",
    ),
    (r"\b(intern|student|trainee|graduate)\b", "other"),
]

_SENIORITY_RX = [(re.compile(p), label) for p, label in _SENIORITY]
_DEPARTMENT_RX = [(re.compile(p), label) for p, label in _DEPARTMENT]


def _clean(title: str) -> str:
    text = title.lower().replace("&", " and ").replace("+", " and ")
    text = re.sub(r"[^a-z0-9]+", " ", text)
    text = re.sub(r"\bsr\b|\bsnr\b", "senior", text)
    return re.sub(r"\s+", " ", text).strip()


def _first(rules: list[tuple[re.Pattern[str], str]], text: str) -> str | None:
    for pattern, label in rules:
        if pattern.search(text):
            return label
    return None


@lru_cache(maxsize=65_536)
def normalise_title(title: str | None) -> tuple[str, str]:
    """(seniority, department) of a free-text title; ("unknown", "unknown") when it says nothing."""
    if not isinstance(title, str):
        return UNKNOWN, UNKNOWN
    text = _clean(title)
    if _JUNK.match(text):
        return UNKNOWN, UNKNOWN
    seniority, department = _first(_SENIORITY_RX, text), _first(_DEPARTMENT_RX, text)
    if seniority is None and department is None:
        return UNKNOWN, UNKNOWN  # "asdf" says nothing
    return seniority or UNKNOWN, department or "other"
