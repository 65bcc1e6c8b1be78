"""Job titles as people type them into forms, labelled with seniority and department.

`TITLES` is the vocabulary as data, `(surface_form, seniority, department)`: every title the
generator writes is one of these surface forms, so a title normaliser can be tested against it.
Labels say what the person is, not what a keyword suggests: an "Account Manager" is a
quota-carrying individual contributor, a "Salesforce Administrator" works in revenue operations,
"asdf" says nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SENIORITIES = ("c_level", "vp", "director", "manager", "individual", "entry", "unknown")
DEPARTMENTS = (
    "sales",
    "marketing",
    "revops",
    "it",
    "engineering",
    "finance",
    "operations",
    "hr",
    "general_management",
    "other",
    "unknown",
)

# (surface form, seniority, department, relative frequency among form fills)
_ROWS: tuple[tuple[str, str, str, float], ...] = (
    # sales
    ("VP Sales", "vp", "sales", 6),
    ("Vice President, Sales", "vp", "sales", 3),
    ("vp of sales", "vp", "sales", 2),
    ("VP of Sales", "vp", "sales", 3),
    ("V.P. Sales", "vp", "sales", 1),
    ("VP SALES", "vp", "sales", 1),
    ("SVP Revenue", "vp", "sales", 1.5),
    ("SVP, Global Sales", "vp", "sales", 1),
    ("EVP Sales & Marketing", "vp", "sales", 1),
    ("Chief Revenue Officer", "c_level", "sales", 2),
    ("CRO", "c_level", "sales", 1.5),
    ("Head of Sales", "director", "sales", 5),
    ("Sales Director", "director", "sales", 4),
    ("Director of Sales", "director", "sales", 3),
    ("director, sales", "director", "sales", 1),
    ("Regional Sales Director", "director", "sales", 2),
    ("Sales Manager", "manager", "sales", 8),
    ("sales mgr", "manager", "sales", 2),
    ("Inside Sales Manager", "manager", "sales", 2),
    ("Business Development Manager", "manager", "sales", 5),
    ("Account Executive", "individual", "sales", 10),
    ("Senior Account Executive", "individual", "sales", 4),
    ("Sr. AE", "individual", "sales", 1.5),
    ("Enterprise AE", "individual", "sales", 1.5),
    ("Account Manager", "individual", "sales", 5),
    ("SDR", "individual", "sales", 6),
    ("BDR", "individual", "sales", 4),
    ("Sales Development Representative", "individual", "sales", 3),
    ("Sales Representative", "individual", "sales", 4),
    ("sales rep", "individual", "sales", 2),
    # revenue operations (sales, marketing and CRM operations)
    ("VP Revenue Operations", "vp", "revops", 1.5),
    ("Head of RevOps", "director", "revops", 2),
    ("Director, Revenue Operations", "director", "revops", 2),
    ("Revenue Operations Manager", "manager", "revops", 4),
    ("RevOps Lead", "manager", "revops", 2),
    ("sales ops mgr", "manager", "revops", 1.5),
    ("Sales Operations Manager", "manager", "revops", 3),
    ("Marketing Operations Manager", "manager", "revops", 3),
    ("CRM Manager", "manager", "revops", 2),
    ("GTM Operations Lead", "manager", "revops", 1),
    ("Sales Enablement Manager", "manager", "revops", 2),
    ("Sales Operations Analyst", "individual", "revops", 3),
    ("MOps Specialist", "individual", "revops", 1),
    ("Salesforce Administrator", "individual", "revops", 2.5),
    # marketing
    ("CMO", "c_level", "marketing", 2),
    ("Chief Marketing Officer", "c_level", "marketing", 1.5),
    ("VP Marketing", "vp", "marketing", 4),
    ("VP, Demand Generation", "vp", "marketing", 1.5),
    ("Head of Growth", "director", "marketing", 3),
    ("Director of Marketing", "director", "marketing", 4),
    ("Marketing Director", "director", "marketing", 3),
    ("Sr. Dir. Demand Gen", "director", "marketing", 1),
    ("Marketing Manager", "manager", "marketing", 9),
    ("mktg manager", "manager", "marketing", 1.5),
    ("Demand Generation Manager", "manager", "marketing", 4),
    ("Product Marketing Manager", "manager", "marketing", 3),
    ("Content Marketing Manager", "manager", "marketing", 3),
    ("Field Marketing Manager", "manager", "marketing", 2),
    ("Social Media Manager", "manager", "marketing", 2),
    ("Growth Marketer", "individual", "marketing", 2),
    ("Digital Marketing Specialist", "individual", "marketing", 4),
    ("SEO Specialist", "individual", "marketing", 2),
    ("Marketing Coordinator", "individual", "marketing", 4),
    ("Marketing", "unknown", "marketing", 2),
    ("Marketing Intern", "entry", "marketing", 2.5),
    # IT
    ("CIO", "c_level", "it", 1.5),
    ("CISO", "c_level", "it", 0.8),
    ("Head of IT", "director", "it", 2),
    ("IT Director", "director", "it", 2),
    ("IT Manager", "manager", "it", 5),
    ("Systems Administrator", "individual", "it", 3),
    ("sysadmin", "individual", "it", 1),
    ("IT Support Specialist", "individual", "it", 2),
    ("Network Engineer", "individual", "it", 1.5),
    # engineering and data
    ("CTO", "c_level", "engineering", 3),
    ("VP Engineering", "vp", "engineering", 2),
    ("Head of Data", "director", "engineering", 1.5),
    ("Engineering Manager", "manager", "engineering", 3),
    ("Software Engineer", "individual", "engineering", 6),
    ("Senior Software Engineer", "individual", "engineering", 3),
    ("Developer", "individual", "engineering", 3),
    ("Data Engineer", "individual", "engineering", 2),
    ("Data Analyst", "individual", "engineering", 4),
    ("Solutions Architect", "individual", "engineering", 2),
    # finance
    ("CFO", "c_level", "finance", 2),
    ("VP Finance", "vp", "finance", 1),
    ("Controller", "manager", "finance", 2),
    ("Finance Manager", "manager", "finance", 2.5),
    ("Accountant", "individual", "finance", 2.5),
    ("FP&A Analyst", "individual", "finance", 1.5),
    # operations
    ("COO", "c_level", "operations", 1.5),
    ("Director of Operations", "director", "operations", 2),
    ("Operations Manager", "manager", "operations", 4),
    ("Procurement Manager", "manager", "operations", 1.5),
    ("Supply Chain Analyst", "individual", "operations", 1),
    # people
    ("VP People", "vp", "hr", 0.8),
    ("HR Manager", "manager", "hr", 2.5),
    ("HR Generalist", "individual", "hr", 2),
    ("Recruiter", "individual", "hr", 2),
    ("Talent Acquisition Specialist", "individual", "hr", 1.5),
    # general management
    ("CEO", "c_level", "general_management", 4),
    ("Founder & CEO", "c_level", "general_management", 3),
    ("Co-Founder", "c_level", "general_management", 2),
    ("Owner", "c_level", "general_management", 3),
    ("President", "c_level", "general_management", 1.5),
    ("Managing Director", "c_level", "general_management", 2),
    # other roles, students, job seekers
    ("Executive Assistant", "entry", "other", 2),
    ("Consultant", "individual", "other", 3),
    ("Freelancer", "individual", "other", 1.5),
    ("Teacher", "individual", "other", 1),
    ("Intern", "entry", "other", 2),
    ("Student", "entry", "other", 4),
    ("student", "entry", "other", 1.5),
    ("Job Seeker", "entry", "other", 1),
    # says nothing
    ("n/a", "unknown", "unknown", 2),
    ("N/A", "unknown", "unknown", 1),
    ("", "unknown", "unknown", 3),
    ("-", "unknown", "unknown", 1),
    ("test", "unknown", "unknown", 1),
    ("asdf", "unknown", "unknown", 0.6),
)

TITLES: list[tuple[str, str, str]] = [(form, sen, dep) for form, sen, dep, _ in _ROWS]

# Who fills in forms depends on company size: founders and owners at small firms, more
# individual contributors and fewer executives at large ones. Rows: size bands of SIZE_EDGES.
SIZE_EDGES = (50, 1000)
_SIZE_TILT: dict[str, tuple[float, float, float]] = {
    "c_level": (3.0, 1.0, 0.3),
    "vp": (0.6, 1.0, 0.8),
    "director": (0.6, 1.0, 1.0),
    "manager": (0.7, 1.0, 1.2),
    "individual": (0.9, 1.0, 1.3),
    "entry": (1.2, 1.0, 0.9),
    "unknown": (1.0, 1.0, 1.0),
}


def title_frame() -> pd.DataFrame:
    """The vocabulary as a frame: title, seniority, department."""
    return pd.DataFrame(TITLES, columns=["title", "seniority", "department"])


def _band_probabilities() -> np.ndarray:
    """(size band, title) sampling probabilities."""
    weights = np.array([w for *_, w in _ROWS], dtype=np.float64)
    tilt = np.array([_SIZE_TILT[sen] for _, sen, _, _ in _ROWS], dtype=np.float64).T
    probs = weights * tilt
    return probs / probs.sum(axis=1, keepdims=True)


def sample_titles(employees: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Index into TITLES for each lead, drawn by the size band of its company."""
    band = np.searchsorted(np.array(SIZE_EDGES), employees, side="right")
    probs = _band_probabilities()
    out = np.empty(len(employees), dtype=np.int64)
    for b in range(probs.shape[0]):
        rows = np.flatnonzero(band == b)
        out[rows] = rng.choice(probs.shape[1], size=len(rows), p=probs[b])
    return out
