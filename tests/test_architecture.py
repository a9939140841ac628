"""The rules on the layers' doors (each subpackage's docstring), checked on every module's imports.

Innermost first: ``cds_service.domain`` imports nothing of Trappa outside itself; ``cds_service.rules``
only the domain; ``fhir_mappings`` the domain, the runtime and its own code tables; ``cds_service.cards``
neither protocol nor web; ``cds_service.protocol`` nothing of web but the settings value; the runtime
nothing else. Imports are read from the source (the AST), including those inside functions.

``ALLOWED`` lists the imports that still cross a door today, each with why. It may only shrink: a new
crossing fails here, and so does an entry that is no longer needed.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: layer → the layers it may import (its own always).
MAY_IMPORT: dict[str, set[str]] = {
    "cds_service.domain": set(),
    "cds_service.runtime": set(),
    "cds_service.rules": {"cds_service.domain"},
    "fhir_mappings.codes": {"cds_service.domain", "cds_service.runtime"},
    "fhir_mappings.read": {"cds_service.domain", "cds_service.runtime", "fhir_mappings.codes"},
    "fhir_mappings.write": {"cds_service.domain", "fhir_mappings.codes"},
    "fhir_mappings": {"cds_service.domain"},
    "cds_service.cards": {"cds_service.domain", "cds_service.rules", "cds_service.runtime",
                          "fhir_mappings.codes", "fhir_mappings.write"},
    "cds_service.protocol": {"cds_service", "cds_service.domain", "cds_service.rules", "cds_service.cards",
                             "cds_service.runtime", "fhir_mappings.read", "fhir_mappings.codes",
                             "cds_service.web.config"},
}

#: (importing module, imported module) → why it still crosses a door. Empty: every rule returns typed
#: proposals and the cards give the words; a crossing needs its reason written here.
ALLOWED: dict[tuple[str, str], str] = {}


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] not in ("cds_service", "fhir_mappings"):
        return None
    if module == "cds_service.web.config":
        return module
    if len(parts) > 1 and (parts[0], parts[1]) in {
        ("cds_service", p) for p in ("domain", "rules", "cards", "protocol", "web", "runtime")
    } | {("fhir_mappings", p) for p in ("read", "write", "codes")}:
        return ".".join(parts[:2])
    return parts[0] if len(parts) == 1 or parts[1] in ("__main__", "__init__") else ".".join(parts[:2])


def modules():
    for package in ("cds_service", "fhir_mappings"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join(parts), path


def imports_of(module: str, path: Path):
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target
            for alias in node.names:  # "from package import module"
                yield f"{target}.{alias.name}"


def crossings(extra: tuple[tuple[str, Path], ...] = ()):
    """(module, imported module) for every import across a door; ``extra``: more (module, path) to read."""
    every = list(modules()) + list(extra)
    known = {m for m, _ in every}
    for module, path in every:
        source = layer_of(module)
        if source not in MAY_IMPORT:
            continue  # web, the command line: the outermost layers may import anything
        allowed = MAY_IMPORT[source] | {source}
        for target in set(imports_of(module, path)):
            if target not in known and target.rsplit(".", 1)[0] not in known:
                continue  # a name, not a module, or not Trappa's
            if target not in known:
                target = target.rsplit(".", 1)[0]
            t = layer_of(target)
            if t is None or t in allowed or (t == "cds_service.web" and "cds_service.web.config" in allowed
                                             and target == "cds_service.web.config"):
                continue
            if t == "cds_service.web.config" and "cds_service.web.config" in allowed:
                continue
            yield module, target


def test_every_import_keeps_to_the_rules_on_the_doors():
    found = set(crossings())
    new = sorted(found - set(ALLOWED))
    assert not new, "imports across a layer's door (see the subpackage docstrings):\n" + "\n".join(
        f"  {a} imports {b}" for a, b in new)


def test_the_allowances_are_all_still_needed():
    stale = sorted(set(ALLOWED) - set(crossings()))
    assert not stale, f"no longer needed, remove from ALLOWED: {stale}"


def test_every_layer_says_its_rule_on_its_door():
    for package in ("cds_service/domain", "cds_service/rules", "cds_service/cards", "cds_service/protocol",
                    "cds_service/web", "cds_service/runtime", "fhir_mappings/read", "fhir_mappings/write",
                    "fhir_mappings/codes", "fhir_mappings"):
        doc = ast.get_docstring(ast.parse((ROOT / package / "__init__.py").read_text(encoding="utf-8")))
        assert doc and "Door rule" in doc, package


def test_the_check_sees_a_crossing(tmp_path):
    """The walker is not blind: a rule module that writes FHIR or words is found crossing its door."""
    probe = tmp_path / "probe.py"
    probe.write_text("from fhir_mappings.write.builders import taper_careplan\n"
                     "def f():\n    from cds_service.cards import phrases\n", encoding="utf-8")
    found = set(crossings(extra=(("cds_service.rules.probe", probe),)))
    assert {("cds_service.rules.probe", "fhir_mappings.write.builders"),
            ("cds_service.rules.probe", "cds_service.cards.phrases")} <= found


def shown_strings(path: Path) -> list[str]:
    """String literals in a module that read as words (a space in them), docstrings and the cited
    guideline section (``section=``, the guideline's own heading) aside; and any ``loc(``/``localized(``
    call or ``"sv"`` key."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skip.add(id(first.value))
        if isinstance(node, ast.keyword) and node.arg == "section" and isinstance(node.value, ast.Constant):
            skip.add(id(node.value))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            if " " in node.value.strip() or node.value in ("sv", "en"):
                found.append(node.value)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("loc", "localized"):
            found.append(f"{node.func.id}(…)")
    return found


def test_the_check_for_words_finds_them(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text('"""A docstring may say anything."""\n'
                     'def summary(lang):\n    return "Överväg nedtrappning" if lang == "sv" else loc("a", "b")\n',
                     encoding="utf-8")
    assert sorted(shown_strings(probe)) == ["loc(…)", "sv", "Överväg nedtrappning"]


def test_every_topic_is_worded_by_the_cards():
    from cds_service.cards.wording import WORDED
    from cds_service.rules import RULES
    assert sorted(rule.TOPIC for rule in RULES) == sorted(WORDED)
    for topic, cards in WORDED.items():  # the namesake module words that very topic
        assert cards.TOPIC == topic and callable(cards.words) and callable(cards.suggestions), topic


def test_no_module_of_the_rules_holds_a_string_shown_to_a_person():
    """The shared criteria too (drafts, taper state, referrals, the taper's start): words are the cards'."""
    for module, path in modules():
        if module.startswith("cds_service.rules"):
            assert shown_strings(path) == [], module
