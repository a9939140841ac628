"""The demo and the fixture roller: ``./trappa demo`` (``python -m demo``) and ``demo/roll.py``.

Repository tooling like ``bench/``, not part of the installed service (``pyproject.toml`` installs
``cds_service`` and ``fhir_mappings`` only): importable from the repository root, by ``./trappa demo``
(which runs from there) and by the tests (pytest's ``pythonpath`` holds the root), with nothing more to
install. ``roll.py`` needs only the standard library; the demo itself uses the loopback FHIR test server
of the tests (``tests/support/fhir_server.py``, Node.js) and the service's own ``serve`` command.
"""
