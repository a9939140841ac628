"""Code systems and the codes Trappa itself defines (clinical-rules §9).

One place for every URI, so that mapping, builders and rules agree.
"""

ATC = "http://www.whocc.no/atc"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
UCUM = "http://unitsofmeasure.org"

# SNOMED CT 874903005 "Management of opioid dosage tapering (procedure)": our taper CarePlan category.
SNOMED_OPIOID_TAPER = "874903005"
# LOINC 80764-4 "Pain medicine Plan of care note" (CDC opioid IG's pain CarePlan category).
LOINC_PAIN_PLAN = "80764-4"

# Trappa's own code systems.
CARD_TOPIC = "urn:trappa:card-topic"  # source.topic of every card
TRAPPA_CAREPLAN = "urn:trappa:careplan"  # code "opioid-taper" on the CarePlans we propose
TRAPPA_FLAG = "urn:trappa:flag"  # code "prescribing-restriction" on the Flags we propose
TRAPPA_OVERRIDE = "urn:trappa:override-reason"  # overrideReasons codes
TRAPPA_REFERRAL = "urn:trappa:referral-target"  # "psychiatry" | "pain-clinic"

CAREPLAN_TAPER_CODE = "opioid-taper"
FLAG_RESTRICTION_CODE = "prescribing-restriction"

# Swedish product and classification identifiers (Läkemedelsverket's NPL; the Swedish OID of ATC), as
# Swedish records and RIV-TA contracts name them.
NPL = "urn:oid:1.2.752.129.2.1.5.1"  # NPL-id: one product of one maker, form, strength
NPL_PACK = "urn:oid:1.2.752.129.2.1.5.2"  # NPL-pack-id: one package of it
ATC_SE = "urn:oid:1.2.752.129.2.2.3.1.1"  # ATC under the Swedish OID
