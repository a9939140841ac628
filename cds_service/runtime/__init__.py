"""The per-worker machinery that makes a hook call fast: evaluation turns, cycle collection, batched
UUIDs, the outline of a resource that decoding keeps.

Door rule: imports nothing of Trappa outside ``cds_service.runtime``; the other layers use it through
the small named functions each module exports, never the other way round.
"""
