"""The serve command's worker set-up (``cds_service.__main__``)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_workers_freeze_start_up_objects_and_collect_young_objects_less_often():
    # In a fresh interpreter: the hook changes process-wide collector settings.
    code = (
        "import gc, cds_service.__main__ as m\n"
        "import cds_service.app\n"
        "before = gc.get_freeze_count()\n"
        "m._tune_garbage_collection(None)\n"
        "print(before, gc.get_freeze_count(), gc.get_threshold() == m.GC_THRESHOLD, gc.isenabled())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    before, after, threshold, enabled = out.stdout.split()
    assert int(before) == 0 and int(after) > 10_000  # the loaded modules and app objects are frozen
    assert threshold == "True" and enabled == "True"  # collection still runs, only less often
