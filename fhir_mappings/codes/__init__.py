"""Code systems and tables: ATC, RxNorm, Swedish names and products, forms and units (``data/*.csv``).

Door rule: imports domain and runtime only; its tables are read once, when first used, from ``data/``
or the file a ``TRAPPA_*_TABLE`` setting names.
"""
