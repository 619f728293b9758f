"""The drug catalogue's initial content (loaded by a data migration)."""

CATALOGUE = [
    # code, name, class, status note
    ("letrozole", "Letrozole", "ai", ""),
    ("anastrozole", "Anastrozole", "ai", ""),
    ("exemestane", "Exemestane", "ai", ""),
    ("fulvestrant", "Fulvestrant", "serd", "Approved SERD (intramuscular)."),
    (
        "camizestrant",
        "Camizestrant",
        "serd",
        "Investigational oral SERD (SERENA-6); regulatory review under way in 2026. "
        "Check local availability before prescribing.",
    ),
    ("elacestrant", "Elacestrant", "serd", "Approved oral SERD for ESR1-mutated disease."),
    ("imlunestrant", "Imlunestrant", "serd", "Oral SERD; check local approval status."),
    ("giredestrant", "Giredestrant", "serd", "Investigational oral SERD."),
    ("tamoxifen", "Tamoxifen", "serm", ""),
    ("palbociclib", "Palbociclib", "cdk46", ""),
    ("ribociclib", "Ribociclib", "cdk46", ""),
    ("abemaciclib", "Abemaciclib", "cdk46", ""),
]
