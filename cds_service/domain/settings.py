"""The clinical thresholds: configuration with a default, the same for every hook call of a process.

Read once, at start-up, with the rest of the configuration (cds_service/web/config.py hands the
environment in; nothing here reads it). Unlike the technical settings, a value that is not a number in
its range does not fall back to the default: it raises :class:`ConfigurationError` and the service does
not start. A region that sets its referral limit and gets ours without noticing would be shown cards it
did not decide on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping


class ConfigurationError(ValueError):
    """A setting the service must not start with; the message names the variable and what it allows."""


#: Largest day count any clinical setting takes (ten years): beyond it a value is a typo, and date
#: arithmetic on it (today + days) stays far from its limits.
MAX_DAYS = 3650


@dataclass(frozen=True)
class ClinicalSettings:
    """Thresholds that are configuration with a default, not constants: "Every number below is
    configuration with a default … regions differ" (docs/clinical-rules.md, preamble). Rules read them
    from ``RuleContext.settings``; :meth:`from_env` reads them from ``CLINICAL_VARIABLES``."""

    # [RJL "Hjälp och kontaktvägar"], clinical-rules §5: over 60 MEDD → psychiatry/addiction referral.
    referral_medd: float = 60.0
    # §5: "upprepade misslyckade nedtrappningsförsök" → referral; "repeated" read as at least 2.
    failed_tapers_for_referral: int = 2
    # [RJL "Allmänna principer"], §2: a taper of more than about half a year causes needless suffering.
    long_taper_days: int = 183
    # §2: post-withdrawal symptoms can last up to 6 months after a taper ends: follow-up that long.
    post_withdrawal_days: int = 183
    # §2: "a short check-in every week" during a taper.
    follow_up_days: int = 7
    # §2–§3: the next step may be prescribed a few days before the supply runs out; earlier is "early"
    # (lost medication is not replaced). The service's default, not a guideline figure.
    early_renewal_margin_days: int = 3
    # §3 and [RJL "Allmänna principer"]: acute withdrawal usually passes within 1–2 weeks, so the
    # prescribing restriction lasts that long past the taper's end.
    restriction_margin_days: int = 14
    # §7, [VGR "Iatrogent läkemedelsberoende"]: a new start needs a planned end; 7 days is a common
    # acute course, under the 2 weeks after which stopping may cause withdrawal. The service's default.
    exit_plan_days: int = 7

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "ClinicalSettings":
        """The settings of ``env`` (the process environment, as web/config.py reads it); an unset or
        empty variable gives the default. Raises ConfigurationError for any value outside its range."""
        e = env
        values: dict[str, float | int] = {}
        for name, variable, low, high in CLINICAL_VARIABLES:
            raw = e.get(variable)
            if raw is None or raw.strip() == "":
                continue
            values[name] = _clinical_value(variable, raw, getattr(cls, name), low, high)
        return cls(**values)  # type: ignore[arg-type]  # each value has its field's type (_clinical_value)

    def differences(self) -> dict[str, float | int]:
        """``{variable: value}`` of the settings that differ from the defaults (for the start-up log)."""
        default = ClinicalSettings()
        return {v: getattr(self, n) for n, v, _, _ in CLINICAL_VARIABLES if getattr(self, n) != getattr(default, n)}


#: (field, environment variable, least, greatest value). The README's configuration table lists them.
CLINICAL_VARIABLES: tuple[tuple[str, str, float, float], ...] = (
    ("referral_medd", "TRAPPA_REFERRAL_MEDD", 0, 1000),  # MEDD mg; 0 itself is refused (below)
    ("failed_tapers_for_referral", "TRAPPA_FAILED_TAPERS_FOR_REFERRAL", 1, 100),
    ("long_taper_days", "TRAPPA_LONG_TAPER_DAYS", 1, MAX_DAYS),
    ("post_withdrawal_days", "TRAPPA_POST_WITHDRAWAL_DAYS", 1, MAX_DAYS),
    ("follow_up_days", "TRAPPA_FOLLOW_UP_DAYS", 1, MAX_DAYS),
    ("early_renewal_margin_days", "TRAPPA_EARLY_RENEWAL_MARGIN_DAYS", 0, MAX_DAYS),
    ("restriction_margin_days", "TRAPPA_RESTRICTION_MARGIN_DAYS", 0, MAX_DAYS),
    ("exit_plan_days", "TRAPPA_EXIT_PLAN_DAYS", 1, MAX_DAYS),
)


def _clinical_value(variable: str, raw: str, default: float | int, low: float, high: float) -> float | int:
    text = raw.strip()
    if isinstance(default, float):  # a MEDD: any number above 0
        try:
            value = float(text)
        except ValueError:
            value = None
        # NaN and infinity parse, and would make every comparison with the limit false.
        if value is None or not math.isfinite(value) or not low < value <= high:
            raise ConfigurationError(
                f"{variable}={raw!r}: must be a number above {low:g} and at most {high:g} (default {default:g})"
            )
        return value
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ConfigurationError(
            f"{variable}={raw!r}: must be a whole number from {low:g} to {high:g} (default {default})"
        )
    return value
