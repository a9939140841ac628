"""The domain model's construction (``cds_service.domain.model``)."""
from __future__ import annotations

import dataclasses
import inspect

import pytest

from cds_service.domain.model import DailyDose, Drug, DrugClass, Medd, MedicationOrder
from cds_service.runtime.fast_init import quick_init


def _order(**kw):
    base = dict(id="a", resource_type="MedicationRequest", status="active", intent="order",
                drug=Drug(DrugClass.OPIOID, "Oxikodon"), daily_dose=DailyDose(20.0, "mg"), medd=Medd(40.0))
    return MedicationOrder(**{**base, **kw})


def test_quick_init_keeps_the_dataclass_signature_defaults_and_frozenness():
    import fhir_mappings.read.orders  # noqa: F401  (the mapping gives MedicationOrder the fast __init__)

    assert "_set" in MedicationOrder.__init__.__globals__, "the fast __init__ is the one in use"
    params = inspect.signature(MedicationOrder).parameters
    fields = dataclasses.fields(MedicationOrder)
    assert list(params) == [f.name for f in fields]  # same names, same order
    assert [n for n, p in params.items() if p.default is inspect.Parameter.empty] == \
        [f.name for f in fields if f.default is dataclasses.MISSING]  # the same fields required
    order = _order()
    assert order.steps == () and order.start is None and order.is_draft is False and order.supply_basis is None
    assert order == _order() and hash(order) == hash(_order()) and order != _order(id="b")
    assert dataclasses.replace(order, id="c").id == "c"
    with pytest.raises(dataclasses.FrozenInstanceError):
        order.id = "x"
    with pytest.raises(TypeError):
        MedicationOrder(id="a")  # required fields stay required


def test_quick_init_refuses_dataclasses_it_cannot_serve():
    @dataclasses.dataclass(frozen=True)
    class WithFactory:
        items: list = dataclasses.field(default_factory=list)

    with pytest.raises(TypeError):
        quick_init(WithFactory)
