"""The assay profiles' starting content (loaded by a data migration).

The limits are typical published figures for ESR1 single-nucleotide variants, one per
assay, chosen at the cautious end of each range. They are starting values only: the
laboratory's validated limit replaces each of them (Administration > Assays), and until an
administrator marks a limit confirmed the pages say it is not yet confirmed.
"""

from decimal import Decimal

PROFILES = [
    # code, name, starting limit of detection (VAF %), or None when there is no figure to give
    ("guardant360_cdx", "Guardant360 CDx", Decimal("0.2")),  # published ~0.1-0.2%
    ("foundationone_liquid_cdx", "FoundationOne Liquid CDx", Decimal("0.4")),  # ~0.1-0.5%
    ("ddpcr_esr1", "ESR1 ddPCR", Decimal("0.1")),  # ~0.05-0.1%
    ("other", "Other assay", None),
]
