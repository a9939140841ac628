"""FHIR R4 JSON ⇄ Trappa's domain (``cds_service.domain``): ``read`` maps the EHR's resources to domain
values, ``write`` maps the service's proposals to resources, ``codes`` holds the code systems and tables
both use.

Door rule: imports ``cds_service.domain`` and ``cds_service.runtime`` only, never rules, cards, protocol or web.
"""
