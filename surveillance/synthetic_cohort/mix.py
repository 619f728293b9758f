"""The clinical mix of the synthetic cohort: drugs, metastatic sites, variants, assays.

Proportions are round numbers in the range reported for HR+/HER2- metastatic cohorts on
first-line AI + CDK4/6 (PALOMA-2, MONALEESA-2, SERENA-6 screening, PADA-1); good enough to
exercise every branch of the rules at realistic frequencies, not an epidemiological model.
"""

import bisect
import itertools
import random

from surveillance.variants import ESR1_ACTIVATING_SHORT, is_esr1_activating, parse_protein_change

AI_DRUGS = (("letrozole", 60), ("anastrozole", 25), ("exemestane", 15))
CDK46_DRUGS = (("palbociclib", 45), ("ribociclib", 35), ("abemaciclib", 20))
SWITCH_SERDS = (("camizestrant", 50), ("fulvestrant", 30), ("elacestrant", 20))
SECOND_LINE = (
    (("fulvestrant", "abemaciclib"), 25),
    (("fulvestrant", None), 25),
    (("elacestrant", None), 15),
    (("exemestane", None), 20),
    (("tamoxifen", None), 10),
    (("imlunestrant", None), 5),
)
THIRD_LINE = ((("exemestane", None), 40), (("tamoxifen", None), 35), (("fulvestrant", None), 25))

NON_VISCERAL = ("bone", "lymph_node", "soft_tissue", "skin", "other")
NON_VISCERAL_WEIGHTS = (60, 25, 8, 4, 3)
VISCERAL = ("liver", "lung", "pleura", "peritoneum", "brain")
VISCERAL_WEIGHTS = (45, 33, 12, 6, 4)
ALL_SITES = NON_VISCERAL + VISCERAL
ALL_SITE_WEIGHTS = NON_VISCERAL_WEIGHTS + (20, 15, 6, 3, 2)

# D538G and Y537S make up about 70% of ESR1 mutations in ctDNA.
ESR1_CLONES = (
    ("D538G", 40), ("Y537S", 30), ("Y537N", 6), ("E380Q", 5), ("Y537C", 5), ("L536H", 4),
    ("S463P", 3), ("L536R", 2), ("L536P", 1), ("L536Q", 1), ("Y537D", 1), ("E542K", 1),
    ("V422del", 0.5), ("L469V", 0.5),
)  # fmt: skip
# ESR1 changes off the activating list: kept, shown and sent for review (SPEC section 4).
ESR1_VUS = (("Y537H", 3), ("D538N", 2), ("L536F", 2), ("S432L", 2), ("A283V", 1), ("Q75*", 1))
PIK3CA = (("H1047R", 45), ("E545K", 25), ("E542K", 15), ("H1047L", 10), ("N345K", 5))
TP53 = (("R175H", 30), ("R273H", 25), ("R248Q", 25), ("Y220C", 20))

ASSAYS = (
    ("guardant360_cdx", 45),
    ("foundationone_liquid_cdx", 25),
    ("ddpcr_esr1", 25),
    ("other", 5),
)
NGS_ASSAYS = frozenset({"guardant360_cdx", "foundationone_liquid_cdx", "other"})
MODALITIES = (("ct", 70), ("bone_scan", 15), ("pet_ct", 10), ("mri", 5))

GIVEN_NAMES = (
    "Ada", "Amara", "Anna", "Aoife", "Beatriz", "Carmen", "Chiara", "Chloe", "Dana", "Diane",
    "Elena", "Elif", "Emma", "Eva", "Fatima", "Grace", "Hana", "Helen", "Ines", "Irene",
    "Jana", "Joan", "Julia", "Karin", "Laila", "Laura", "Lena", "Lucia", "Maya", "Mei",
    "Marta", "Nadia", "Nora", "Olga", "Paula", "Priya", "Rosa", "Ruth", "Sara", "Sofia",
    "Tamar", "Tessa", "Uma", "Vera", "Wanda", "Yara", "Yuki", "Zofia",
)  # fmt: skip
FAMILY_NAMES = (
    "Abbott", "Adeyemi", "Alvarez", "Andersen", "Baker", "Becker", "Bianchi", "Brennan",
    "Chen", "Costa", "Dubois", "Duarte", "Eriksen", "Fischer", "Garcia", "Gupta", "Haddad",
    "Hansen", "Ito", "Jansen", "Kaur", "Keller", "Kowalski", "Larsen", "Lopez", "Martin",
    "Meyer", "Moreau", "Murphy", "Nakamura", "Novak", "Nowak", "Okafor", "Olsen", "Patel",
    "Petrov", "Quinn", "Rossi", "Santos", "Schmidt", "Silva", "Singh", "Smith", "Tanaka",
    "Varga", "Wagner", "Walsh", "Wong", "Yilmaz", "Zhang",
)  # fmt: skip


def _weighted(pairs):
    """A picker over (value, weight) pairs for a random.Random: one call, one draw."""
    pairs = list(pairs)
    values = [v for v, _ in pairs]
    cumulative = list(itertools.accumulate(weight for _, weight in pairs))
    total, last = cumulative[-1], len(values) - 1

    def pick(rng: random.Random):
        # random.choices does the same, slower: this runs a few million times per 100k patients.
        return values[min(last, bisect.bisect_right(cumulative, rng.random() * total))]

    return pick


pick_ai, pick_cdk46 = _weighted(AI_DRUGS), _weighted(CDK46_DRUGS)
pick_switch_serd, pick_second, pick_third = (
    _weighted(SWITCH_SERDS), _weighted(SECOND_LINE), _weighted(THIRD_LINE)
)  # fmt: skip
pick_clone, pick_vus = _weighted(ESR1_CLONES), _weighted(ESR1_VUS)
pick_pik3ca, pick_tp53 = _weighted(PIK3CA), _weighted(TP53)
pick_assay, pick_modality = _weighted(ASSAYS), _weighted(MODALITIES)
pick_non_visceral = _weighted(zip(NON_VISCERAL, NON_VISCERAL_WEIGHTS, strict=True))
pick_visceral = _weighted(zip(VISCERAL, VISCERAL_WEIGHTS, strict=True))
pick_any_site = _weighted(zip(ALL_SITES, ALL_SITE_WEIGHTS, strict=True))


def _normalised(gene: str, short: str) -> tuple[str, str, str, bool, bool]:
    """(gene, canonical protein_change, short, esr1_activating, esr1_vus), as the API stores."""
    change = parse_protein_change(short, gene=gene)
    activating = is_esr1_activating(gene, change)
    return gene, change.canonical, change.short, activating, gene == "ESR1" and not activating


VARIANT_FORMS = {
    (gene, short): _normalised(gene, short)
    for gene, table in (
        ("ESR1", ESR1_CLONES), ("ESR1", ESR1_VUS), ("PIK3CA", PIK3CA), ("TP53", TP53)
    )
    for short, _ in table
}  # fmt: skip
assert (
    all(  # noqa: S101 - a typo in the tables above must not seed wrong data silently
        VARIANT_FORMS[("ESR1", short)][3] for short, _ in ESR1_CLONES
    )
    and {short for short, _ in ESR1_CLONES} <= ESR1_ACTIVATING_SHORT
)
