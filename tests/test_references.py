"""Every dotted name of Trappa's code that a docstring, a comment or a doc names (``cds_service.domain.
model.PatientFacts``, ``fhir_mappings.read.facts``) is a module or an attribute that exists: after code
moves, a reader who follows a reference must find it."""
from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAME = re.compile(r"\b((?:cds_service|fhir_mappings)(?:\.[A-Za-z_]+)+)")
#: names made up on purpose (a probe module the architecture test writes)
INVENTED = {"cds_service.rules.probe"}


def _files():
    for folder in ("cds_service", "fhir_mappings", "tests", "docs", "bench"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".md") and "node_modules" not in path.parts:
                yield path
    yield ROOT / "README.md"


def _resolves(name: str) -> bool:
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ImportError:
            continue
        for attr in parts[k:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_every_named_module_and_attribute_exists():
    missing = {}
    for path in _files():
        for match in NAME.finditer(path.read_text(encoding="utf-8")):
            name = match.group(1).rstrip(".")
            if name not in INVENTED and not _resolves(name):
                missing.setdefault(name, str(path.relative_to(ROOT)))
    assert not missing, missing
