"""ESR1 spelling -> canonical HGVS protein change + short form (SPEC section 4).

Pure: no Django, no I/O, so the API serializer, the importer and the rules can all share
one reading of what a lab meant.

Supported changes are the ones ctDNA panels report for ESR1 surveillance: missense
(D538G), single-residue in-frame deletion (V422del), nonsense (Q75*) and synonymous
(D538=), with or without a reference-sequence prefix (NP_000116.2:p.Asp538Gly).

Laboratories report more than that. Other valid HGVS protein changes (frameshifts,
ranges, insertions, delins such as p.Leu536_Asp538delinsPro) are kept exactly as written
and never read into a known mutation; so is anything reported for another gene (fusions,
copy-number changes). Only an ESR1 change that is not HGVS at all is an error, because a
misread ESR1 variant is worse than a report the lab must correct.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "ESR1_ACTIVATING_SHORT",
    "NormalisedVariant",
    "ProteinChange",
    "VariantParseError",
    "esr1_status",
    "is_hgvs_protein",
    "is_esr1_activating",
    "normalise_gene",
    "normalise_variant",
    "parse_protein_change",
    "strip_reference",
]


class VariantParseError(ValueError):
    """The input cannot be read as a variant; the message is meant for the person who sent it."""


ONE_TO_THREE: dict[str, str] = {
    "A": "Ala",
    "R": "Arg",
    "N": "Asn",
    "D": "Asp",
    "C": "Cys",
    "Q": "Gln",
    "E": "Glu",
    "G": "Gly",
    "H": "His",
    "I": "Ile",
    "L": "Leu",
    "K": "Lys",
    "M": "Met",
    "F": "Phe",
    "P": "Pro",
    "S": "Ser",
    "T": "Thr",
    "W": "Trp",
    "Y": "Tyr",
    "V": "Val",
}
THREE_TO_ONE: dict[str, str] = {three.upper(): one for one, three in ONE_TO_THREE.items()}

STOP = "*"
KINDS = ("missense", "deletion", "nonsense", "synonymous")

# Titin, the longest human protein, has about 35,000 residues; anything past this is a typo.
# The cap also keeps int() away from Python's huge-number guard, which raises a bare ValueError.
MAX_POSITION = 99_999

ESR1 = "ESR1"

ESR1_ACTIVATING_SHORT: frozenset[str] = frozenset(
    {
        "E380Q",
        "V422del",
        "S463P",
        "L469V",
        "L536H",
        "L536P",
        "L536Q",
        "L536R",
        "Y537C",
        "Y537D",
        "Y537N",
        "Y537S",
        "D538G",
        "E542K",
    }
)

_EXAMPLES = "expected a form like D538G, p.D538G or p.Asp538Gly"

# A gene label is only recognised when a colon or whitespace separates it from the change,
# so "p.D538G" and "Asp538Gly" are never mistaken for one.
_GENE_PREFIX = re.compile(r"(?P<gene>[A-Za-z][A-Za-z0-9-]*)(?:\s*:\s*|\s+)(?P<rest>\S.*)", re.ASCII)
_HGVS_P = re.compile(r"p\.", re.IGNORECASE)
# A protein reference sequence before the change: RefSeq NP_/XP_ (or a transcript NM_, which
# labs write too) with its version, or Ensembl ENSP, optionally naming the gene in brackets.
_REFERENCE = re.compile(
    r"(?P<ref>(?:[NX][PM]_[0-9]+|ENS[PT][0-9]+)(?:\.[0-9]+)?)(?:\((?P<gene>[A-Za-z0-9-]+)\))?:",
    re.ASCII,
)
# Any HGVS protein change (the grammar, not its meaning): a residue or range, then a
# substitution, del, dup, ins, delins, fs, ext, or the whole-protein forms p.0, p.?, p.=.
# One style throughout, as HGVS asks: "p.D538Gly" is a garbled field, never "kept as written"
# (it might be D538G, and a known mutation must not slip into review unread).


def _hgvs_any(aa: str, stop: str) -> re.Pattern:
    return re.compile(
        rf"(?:{aa}[0-9]+(?:_{aa}[0-9]+)?"
        rf"(?:{aa}|=|\?|del|dup|(?:delins|ins)(?:{aa}+|[0-9]+)"
        rf"|{aa}?fs(?:{stop}(?:[0-9]+|\?))?|{aa}?ext(?:{aa}|-)?(?:[0-9]+|\?)?)"
        r"|0|\?|=)",
        re.ASCII,
    )


_HGVS_ANY = (_hgvs_any(r"(?:[A-Z][a-z]{2})", "Ter"), _hgvs_any(r"[A-Z*]", r"(?:\*|Ter)"))
# Stored protein changes are kept as written up to this length (Variant.protein_change).
AS_WRITTEN_MAX = 200
SHORT_MAX = 64
# ASCII only: str patterns would otherwise accept Arabic-Indic digits and non-Latin letters.
_BODY = re.compile(r"(?P<ref>[A-Za-z]+)(?P<position>[0-9]+)(?P<alt>[A-Za-z]+|\*|=)", re.ASCII)


@dataclass(frozen=True)
class ProteinChange:
    ref: str
    position: int
    alt: str | None
    kind: str

    def __post_init__(self) -> None:
        # Constructed by hand in tests and other modules too, so guard the invariants that
        # canonical/short rely on instead of failing later with a KeyError.
        if self.ref not in ONE_TO_THREE:
            raise ValueError(f"ref must be a one-letter amino-acid code, got {self.ref!r}")
        if isinstance(self.position, bool) or not isinstance(self.position, int):
            raise ValueError(f"position must be an int, got {self.position!r}")
        if not 1 <= self.position <= MAX_POSITION:
            raise ValueError(f"position must be 1..{MAX_POSITION}, got {self.position}")
        expected_kind = _kind_for(self.ref, self.alt)
        if expected_kind is None:
            raise ValueError(f"alt must be a one-letter code, '*' or None, got {self.alt!r}")
        if self.kind != expected_kind:
            raise ValueError(
                f"kind {self.kind!r} does not match {self.ref}{self.position}{self.alt}; "
                f"expected {expected_kind!r}"
            )

    @property
    def canonical(self) -> str:
        return f"p.{ONE_TO_THREE[self.ref]}{self.position}{self._suffix(three_letter=True)}"

    @property
    def short(self) -> str:
        return f"{self.ref}{self.position}{self._suffix(three_letter=False)}"

    def _suffix(self, *, three_letter: bool) -> str:
        if self.kind == "deletion":
            return "del"
        if self.kind == "synonymous":
            return "="
        if self.kind == "nonsense":
            # HGVS allows both spellings; Ter in the stored form keeps it all three-letter,
            # "*" in the short form is what clinicians read on reports.
            return "Ter" if three_letter else STOP
        assert self.alt is not None
        return ONE_TO_THREE[self.alt] if three_letter else self.alt


def _kind_for(ref: str, alt: str | None) -> str | None:
    if alt is None:
        return "deletion"
    if alt == STOP:
        return "nonsense"
    if alt == ref:
        return "synonymous"
    if alt in ONE_TO_THREE:
        return "missense"
    return None


def normalise_gene(gene: str | None) -> str:
    symbol = (gene or "").strip().upper()
    if not symbol:
        raise VariantParseError("Gene is required")
    return symbol


def parse_protein_change(text: str, gene: str | None = None) -> ProteinChange:
    if text is None or not text.strip():
        raise VariantParseError(f"Protein change is required; {_EXAMPLES}")
    original = text.strip()
    rest, labelled_gene = strip_reference(original)

    prefix = _GENE_PREFIX.fullmatch(rest) if labelled_gene is None else None
    if prefix:
        labelled_gene, rest = prefix["gene"].upper(), prefix["rest"]

    if _HGVS_P.match(rest):
        rest = rest[2:]
    # p.(...) is how HGVS marks a change predicted from DNA; the change itself is the same.
    if rest.startswith("(") and rest.endswith(")"):
        rest = rest[1:-1]

    change = _parse_body(rest, original)

    # Checked after the body so that a garbled change gets the message about its form,
    # not a confusing one about a "gene" that was really a fragment of it.
    if labelled_gene is not None:
        expected_gene = normalise_gene(gene) if gene is not None else None
        # "Y537S D538G" is two changes in one field, not D538G labelled "Y537S"; reading it
        # as one would silently drop a variant. Some real symbols look like changes (C1S,
        # F2R), so such a label is only trusted when it is the gene the caller expects.
        if labelled_gene != expected_gene and _is_protein_change(labelled_gene):
            raise VariantParseError(
                f"Cannot read protein change {_quote(original)}: it looks like more than one "
                f"change; send one variant per entry"
            )
        if expected_gene is not None and labelled_gene != expected_gene:
            raise VariantParseError(
                f"Protein change {_quote(original)} is labelled {labelled_gene}, "
                f"but the variant's gene is {expected_gene}; "
                f"send the change without a gene prefix or fix the gene"
            )
    return change


def strip_reference(text: str) -> tuple[str, str | None]:
    """ "NP_000116.2:p.Asp538Gly" -> ("p.Asp538Gly", None); "NM_000125.4(ESR1):p.D538G" ->
    ("p.D538G", "ESR1"). The version is not checked: labs cite whichever they aligned to."""
    match = _REFERENCE.match(text)
    if not match:
        return text, None
    gene = match["gene"].upper() if match["gene"] else None
    return text[match.end() :].strip(), gene


def is_hgvs_protein(text: str, gene: str | None = None) -> bool:
    """Whether text is written as an HGVS protein change, supported here or not, and of
    `gene` when it names one ("PIK3CA:p.H1047R" is no ESR1 change, "Y537S D538G" is two)."""
    rest, labelled = strip_reference((text or "").strip())
    prefix = _GENE_PREFIX.fullmatch(rest) if labelled is None else None
    if prefix:
        labelled, rest = prefix["gene"].upper(), prefix["rest"]
    if labelled is not None and gene is not None and labelled != normalise_gene(gene):
        return False
    if not _HGVS_P.match(rest):
        return _is_protein_change(rest)
    rest = rest[2:]
    if rest.startswith("(") and rest.endswith(")"):
        rest = rest[1:-1]
    return any(p.fullmatch(rest) for p in _HGVS_ANY) or _is_protein_change(rest)


def _is_protein_change(text: str) -> bool:
    try:
        _parse_body(text, text)
    except VariantParseError:
        return False
    return True


def _parse_body(body: str, original: str) -> ProteinChange:
    match = _BODY.fullmatch(body)
    if not match:
        raise VariantParseError(f"Cannot read protein change {_quote(original)}: {_EXAMPLES}")
    ref_code, position_text, alt_code = match["ref"], match["position"], match["alt"]

    if ref_code.upper() == "TER":
        raise VariantParseError(
            f"Cannot read protein change {_quote(original)}: changes of a stop codon "
            f"(extensions) are not supported; {_EXAMPLES}"
        )
    ref = _amino_acid(ref_code, original)

    # Leading zeros are rejected so one variant has one spelling at the boundary too.
    if position_text.startswith("0") or len(position_text) > len(str(MAX_POSITION)):
        raise VariantParseError(
            f"Cannot read protein change {_quote(original)}: the position must be a whole "
            f"number from 1 to {MAX_POSITION} without leading zeros, as in D538G"
        )
    position = int(position_text)

    alt_upper = alt_code.upper()
    if alt_upper == "DEL":
        alt = None
    elif alt_upper in (STOP, "TER"):
        alt = STOP
    elif alt_upper == "=":
        alt = ref
    elif alt_upper == "X":
        # Older reports write Q75X for a stop, but X also means "any amino acid".
        raise VariantParseError(
            f"Cannot read protein change {_quote(original)}: 'X' is ambiguous; "
            f"write a stop as * or Ter, as in Q75* or p.Gln75Ter"
        )
    elif alt_upper == "FS":
        raise VariantParseError(
            f"Cannot read protein change {_quote(original)}: frameshifts are not supported; "
            f"{_EXAMPLES}"
        )
    else:
        alt = _amino_acid(alt_code, original)
        # Mixing styles (D538Gly) is not HGVS and is more often a garbled field than intent.
        if len(alt_code) != len(ref_code):
            raise VariantParseError(
                f"Cannot read protein change {_quote(original)}: use one-letter codes on both "
                f"sides (D538G) or three-letter codes on both sides (Asp538Gly), not a mix"
            )

    return ProteinChange(ref=ref, position=position, alt=alt, kind=_kind_for(ref, alt))


def _amino_acid(code: str, original: str) -> str:
    if len(code) == 1 and code.upper() in ONE_TO_THREE:
        return code.upper()
    if len(code) == 3 and code.upper() in THREE_TO_ONE:
        return THREE_TO_ONE[code.upper()]
    raise VariantParseError(
        f"Cannot read protein change {_quote(original)}: {code!r} is not an amino-acid code; "
        f"use one letter (G) or three letters (Gly)"
    )


def _quote(text: str) -> str:
    # Error messages end up in API responses and logs; a pasted report must not flood them.
    limit = 60
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def is_esr1_activating(gene: str, change: ProteinChange) -> bool:
    return normalise_gene(gene) == ESR1 and change.short in ESR1_ACTIVATING_SHORT


@dataclass(frozen=True)
class NormalisedVariant:
    gene: str
    protein_change: str  # canonical HGVS, or as the lab wrote it when not read (as_written)
    short: str
    vaf_percent: Decimal | float | None  # None: the lab did not report one
    esr1_activating: bool
    esr1_vus: bool
    reported_text: str = ""  # what the lab wrote when it is not a plain variant
    as_written: bool = False  # True when protein_change is kept as written, not read


def normalise_variant(
    gene: str,
    protein_change: str | None,
    vaf_percent: Decimal | float | None,
    reported_text: str = "",
) -> NormalisedVariant:
    """One reported variant in stored form.

    A supported change is read into its canonical form. Anything else is kept as written
    and never counts as a known mutation: another gene's fusion or copy-number change, an
    ESR1 frameshift or delins, a variant with no protein change. An ESR1 change that is not
    HGVS at all raises VariantParseError: it might be a known mutation misspelt.
    """
    reported_text = (reported_text or "").strip()
    written = (protein_change or "").strip()
    # Blank only with reported text: a complex variant or haplotype reported without a gene.
    symbol = "" if not (gene or "").strip() and reported_text else normalise_gene(gene)
    if written:
        try:
            change = parse_protein_change(written, gene=symbol or None)
        except VariantParseError:
            if symbol == ESR1 and not is_hgvs_protein(written, gene=symbol):
                raise
        else:
            activating = is_esr1_activating(symbol, change) if symbol else False
            return NormalisedVariant(
                gene=symbol,
                protein_change=change.canonical,
                short=change.short,
                vaf_percent=vaf_percent,
                esr1_activating=activating,
                # SPEC: every other ESR1 variant goes to review, synonymous ones included;
                # whether its VAF is high enough to alert on is the rules' decision.
                esr1_vus=symbol == ESR1 and not activating,
                reported_text=reported_text,
            )
    short = _short_as_written(written or reported_text)
    if len(written) > AS_WRITTEN_MAX:
        reported_text = reported_text or written
        written = written[: AS_WRITTEN_MAX - 1] + "…"
    return NormalisedVariant(
        gene=symbol,
        protein_change=written,
        short=short,
        vaf_percent=vaf_percent,
        esr1_activating=False,
        # An ESR1 change outside the known list (indel, fusion, amplification) is for review.
        esr1_vus=symbol == ESR1,
        reported_text=reported_text if reported_text != written else "",
        as_written=True,
    )


def _short_as_written(text: str) -> str:
    rest, _ = strip_reference(text)
    if _HGVS_P.match(rest):
        rest = rest[2:]
        if rest.startswith("(") and rest.endswith(")"):
            rest = rest[1:-1]
    rest = " ".join(rest.split()) or "reported"
    return rest if len(rest) <= SHORT_MAX else rest[: SHORT_MAX - 1] + "…"


def esr1_status(result_status: str, variants: Iterable[NormalisedVariant]) -> str:
    if result_status == "failed":
        return "failed"
    # A known mutation reported present without a VAF still counts as detected.
    if result_status == "final" and any(
        variant.esr1_activating and (variant.vaf_percent is None or variant.vaf_percent > 0)
        for variant in variants
    ):
        return "detected"
    return "not_detected"
