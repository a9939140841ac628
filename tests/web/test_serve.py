"""The serve command's worker set-up (``cds_service.__main__``)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_workers_freeze_start_up_objects_and_collect_young_objects_less_often():
    # In a fresh interpreter: the hook changes process-wide collector settings.
    code = (
        "import gc, cds_service.__main__ as m\n"
        "import cds_service.web.app\n"
        "before = gc.get_freeze_count()\n"
        "m._tune_garbage_collection(None)\n"
        "print(before, gc.get_freeze_count(), gc.get_threshold() == m.GC_THRESHOLD, gc.isenabled())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    before, after, threshold, enabled = out.stdout.split()
    assert int(before) == 0 and int(after) > 10_000  # the loaded modules and app objects are frozen
    assert threshold == "True" and enabled == "True"  # collection still runs, only less often


ALLOCATOR_PROBE = """
import sys
import cds_service.__main__ as m
tuned = m._tune_allocator() if sys.argv[1] == "tuned" else None
def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
first = [bytes(1 << 20) for _ in range(4)]
del first  # by default, freeing these raises glibc's threshold: later ones go onto the heap
base = rss_mib()
pinned = []
for _ in range(16):
    bodies = [bytes(1 << 20) for _ in range(8)]  # 8 MiB of request-body-sized buffers
    pinned.append([bytes(4000) for _ in range(20)])  # smaller heap blocks that outlive them
    del bodies
print(tuned, rss_mib() - base)
"""


@pytest.mark.parametrize("mode, kept_mib", [("tuned", (0, 2)), ("default", (6, 64))])
def test_workers_give_large_buffers_back_to_the_system(mode, kept_mib):
    """Request-body-sized buffers freed between small long-lived ones: with the worker's allocator
    setting their memory goes back at once; with glibc's default it stays (the RSS steps the benchmark's
    memory step saw). The default case shows what the setting is for on this C library."""
    out = subprocess.run([sys.executable, "-c", ALLOCATOR_PROBE, mode], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    tuned, kept = out.stdout.split()
    assert tuned == ("True" if mode == "tuned" else "None"), out.stderr
    low, high = kept_mib
    assert low <= int(kept) <= high, f"{mode}: {kept} MiB kept after freeing"


@pytest.mark.parametrize("variable, content, message", [
    ("TRAPPA_STRENGTHS_TABLE",
     "ingredient,form,strengths,unit,administrations_per_day,change_interval_days,"
     "max_units_per_administration,depot,atc,ingredient_sv,product_sv,product_en,source,note\n"
     "oxycodone,depot,20,grams,2,,,yes,N02AA05,oxikodon,Oxikodon depot,Oxycodone depot,test,\n",
     "unit 'grams'"),
    ("TRAPPA_MEDD_TABLE", "ingredient,form\noxycodone,depot\n", "missing columns"),
    ("TRAPPA_PRODUCTS_TABLE",
     "name,ingredients,strengths,unit,form,atc,source\nCitodon,paracetamol/codeine,500,mg,immediate,N02AJ06,test\n",
     "needs 2 positive values"),
])
def test_a_malformed_clinical_table_stops_the_start_up(tmp_path, variable, content, message):
    """A table is read when the service starts: a bad one stops the server with the reason in its log,
    instead of a server that answers every hook call with a 500."""
    from tests.support.service import ServiceProcess

    table = tmp_path / "table.csv"
    table.write_text(content, encoding="utf-8")
    proc = ServiceProcess(env={variable: str(table)}, workers=1)
    try:
        with pytest.raises(RuntimeError) as failed:
            proc.start(timeout=20)
        assert message in str(failed.value)
    finally:
        proc.stop()
        proc.cleanup()
