"""Every card's source links a guideline document whose address the guideline's own text gives.

The guidelines carry no address of their own; a card links the document each guideline points to for
opioid treatment (cds_service/rules/finding.py). The address must be one a reader of the guideline would find
in it, not a region's landing page, so it is checked against the verbatim copies in docs/guidelines/.
"""
from pathlib import Path

import pytest

from cds_service.domain.guidelines import RJL, VGR

GUIDELINES = Path(__file__).resolve().parents[2] / "docs" / "guidelines"
TEXTS = {"RJL": "rjl-nedtrappning-opioider-2024.txt", "VGR": "vgr-smarta-langvarig-riktlinje.txt"}


@pytest.mark.parametrize("guideline", [RJL, VGR], ids=lambda g: g.key)
def test_source_url_is_a_document_the_guideline_links(guideline):
    text = (GUIDELINES / TEXTS[guideline.key]).read_text(encoding="utf-8")
    assert guideline.url in text.split(), guideline.url
    assert guideline.url.startswith("https://")
    assert any(part in guideline.url for part in ("/dokument/", ".pdf")), "a document, not a landing page"
    for lang in ("sv", "en"):
        assert guideline.label[lang]
