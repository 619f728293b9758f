from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surveillance.variants import (
    ESR1_ACTIVATING_SHORT,
    NormalisedVariant,
    ProteinChange,
    VariantParseError,
    esr1_status,
    is_esr1_activating,
    normalise_gene,
    normalise_variant,
    parse_protein_change,
    strip_reference,
)

# The SPEC section 4 list, spelled out again so an edit to the module's set cannot pass silently.
SPEC_ACTIVATING = [
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
]

ONE_TO_THREE = {
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


def spellings(ref1, position, alt1, alt3, gene="ESR1"):
    """Every way a lab or a person has been seen to write one protein change."""
    ref3 = ONE_TO_THREE[ref1]
    one = f"{ref1}{position}{alt1}"
    three = f"{ref3}{position}{alt3}"
    forms = [
        one,
        f"p.{one}",
        f"p.({one})",
        three,
        f"p.{three}",
        f"p.({three})",
        one.lower(),
        one.upper(),
        f"p.{three}".lower(),
        f"P.{three}".upper(),
        f"{gene} {one}",
        f"{gene} p.{one}",
        f"{gene}:{one}",
        f"{gene}:p.{one}",
        f"{gene}:p.({three})",
        f"{gene} p.{three}",
        f"{gene.lower()} {one}",
        f"{gene} : p.{three}",
        f"  {one}  ",
        f"\t{gene}:p.({three})\n",
    ]
    return forms


D538G_SPELLINGS = spellings("D", 538, "G", "Gly")
V422DEL_SPELLINGS = spellings("V", 422, "del", "del")
Q75_STOP_SPELLINGS = spellings("Q", 75, "*", "Ter") + [
    "Q75Ter",
    "p.Q75Ter",
    "p.Gln75*",
    "Gln75*",
    "ESR1:p.(Gln75*)",
    "q75ter",
]
D538_SYNONYMOUS_SPELLINGS = spellings("D", 538, "=", "=") + ["D538D", "p.Asp538Asp"]
Y537S_SPELLINGS = spellings("Y", 537, "S", "Ser")
H1047R_SPELLINGS = spellings("H", 1047, "R", "Arg", gene="PIK3CA")


class TestParseSpellings:
    @pytest.mark.parametrize("text", D538G_SPELLINGS)
    def test_d538g(self, text):
        change = parse_protein_change(text)
        assert change == ProteinChange(ref="D", position=538, alt="G", kind="missense")
        assert change.canonical == "p.Asp538Gly"
        assert change.short == "D538G"

    @pytest.mark.parametrize("text", Y537S_SPELLINGS)
    def test_y537s(self, text):
        change = parse_protein_change(text, gene="ESR1")
        assert (change.canonical, change.short) == ("p.Tyr537Ser", "Y537S")

    @pytest.mark.parametrize("text", V422DEL_SPELLINGS)
    def test_in_frame_deletion(self, text):
        change = parse_protein_change(text)
        assert change == ProteinChange(ref="V", position=422, alt=None, kind="deletion")
        assert (change.canonical, change.short) == ("p.Val422del", "V422del")

    @pytest.mark.parametrize("text", Q75_STOP_SPELLINGS)
    def test_nonsense(self, text):
        change = parse_protein_change(text)
        assert change == ProteinChange(ref="Q", position=75, alt="*", kind="nonsense")
        assert (change.canonical, change.short) == ("p.Gln75Ter", "Q75*")

    @pytest.mark.parametrize("text", D538_SYNONYMOUS_SPELLINGS)
    def test_synonymous(self, text):
        change = parse_protein_change(text)
        assert change == ProteinChange(ref="D", position=538, alt="D", kind="synonymous")
        assert (change.canonical, change.short) == ("p.Asp538=", "D538=")

    @pytest.mark.parametrize("text", H1047R_SPELLINGS)
    def test_other_gene_prefix_is_read_the_same_way(self, text):
        change = parse_protein_change(text, gene="PIK3CA")
        assert (change.canonical, change.short) == ("p.His1047Arg", "H1047R")

    @pytest.mark.parametrize(
        ("text", "gene"),
        [
            ("esr1:D538G", "ESR1"),
            ("ESR1 D538G", "esr1"),
            ("ESR1 D538G", "  ESR1 "),
            ("Esr1:p.(Asp538Gly)", "ESR1"),
        ],
    )
    def test_gene_prefix_matches_case_insensitively(self, text, gene):
        assert parse_protein_change(text, gene=gene).short == "D538G"

    def test_gene_prefix_is_ignored_when_no_gene_is_given(self):
        assert parse_protein_change("PIK3CA:p.D538G").short == "D538G"

    def test_hyphenated_gene_prefix(self):
        assert parse_protein_change("HLA-A V422del", gene="hla-a").short == "V422del"

    def test_every_amino_acid_in_both_code_styles(self):
        for one, three in ONE_TO_THREE.items():
            assert parse_protein_change(f"{one}10W").ref == one
            assert parse_protein_change(f"p.{three}10Trp").ref == one
            assert parse_protein_change(f"W10{one}").alt == one
            assert parse_protein_change(f"Trp10{three}").short == (
                "W10=" if one == "W" else f"W10{one}"
            )

    def test_large_but_plausible_position(self):
        assert parse_protein_change("p.Arg34350Ter").short == "R34350*"


class TestUnparseable:
    @pytest.mark.parametrize(
        ("text", "fragment"),
        [
            ("", "Protein change is required"),
            ("   ", "Protein change is required"),
            ("foo", "Cannot read protein change 'foo': expected a form like D538G"),
            ("D538", "Cannot read protein change 'D538': expected a form like D538G"),
            ("538G", "Cannot read protein change '538G'"),
            ("D538GG", "'GG' is not an amino-acid code"),
            ("DD538G", "'DD' is not an amino-acid code"),
            ("Xyz538Gly", "'Xyz' is not an amino-acid code"),
            ("p.Asp538Xyz", "'Xyz' is not an amino-acid code"),
            ("B538G", "'B' is not an amino-acid code"),
            ("D0G", "position must be a whole number from 1"),
            ("p.Asp0Gly", "position must be a whole number from 1"),
            ("D0538G", "without leading zeros"),
            ("D100000G", "position must be a whole number from 1 to 99999"),
            ("D" + "9" * 5000 + "G", "position must be a whole number"),
            ("D538Gly", "not a mix"),
            ("Asp538G", "not a mix"),
            ("Q75X", "write a stop as * or Ter"),
            ("P535fs", "frameshifts are not supported"),
            ("p.Pro535LeufsTer12", "Cannot read protein change"),
            ("p.Ter596GlnextTer12", "Cannot read protein change"),
            ("Ter596Gln", "extensions) are not supported"),
            ("V422_L425del", "Cannot read protein change"),
            ("p.Asp538_Leu539insGly", "Cannot read protein change"),
            ("c.1613A>G", "Cannot read protein change"),
            ("p.(D538G", "Cannot read protein change"),
            ("p.D538G)", "Cannot read protein change"),
            ("p. D538G", "Cannot read protein change"),
            ("D 538 G", "Cannot read protein change"),
            ("D538G D538G", "more than one change"),
            ("Y537S D538G", "more than one change"),
            ("V422del:p.Asp538Gly", "more than one change"),
            ("C1S D538G", "more than one change"),
            ("ESR1", "Cannot read protein change"),
            ("ESR1:", "Cannot read protein change"),
            ("ESR1 ESR1 D538G", "Cannot read protein change"),
            ("D٥٣٨G", "Cannot read protein change"),
            ("p.?", "Cannot read protein change"),
            ("p.0", "Cannot read protein change"),
        ],
    )
    def test_raises_with_actionable_message(self, text, fragment):
        with pytest.raises(VariantParseError) as excinfo:
            parse_protein_change(text)
        assert fragment in str(excinfo.value)

    def test_error_is_a_value_error(self):
        # Callers that only know about ValueError (form cleaning, argparse) still catch it.
        assert issubclass(VariantParseError, ValueError)

    def test_none_is_required_not_a_crash(self):
        with pytest.raises(VariantParseError, match="Protein change is required"):
            parse_protein_change(None)

    def test_long_input_is_truncated_in_the_message(self):
        with pytest.raises(VariantParseError) as excinfo:
            parse_protein_change("x" * 10_000)
        assert len(str(excinfo.value)) < 200

    @pytest.mark.parametrize(
        "text",
        ["PIK3CA D538G", "PIK3CA:p.(Asp538Gly)", "esr2 D538G", "ESR1X:D538G"],
    )
    def test_prefix_for_another_gene_raises(self, text):
        with pytest.raises(VariantParseError) as excinfo:
            parse_protein_change(text, gene="ESR1")
        message = str(excinfo.value)
        assert "is labelled" in message
        assert "the variant's gene is ESR1" in message

    @pytest.mark.parametrize("text", ["Y537S D538G", "D538G D538G", "y537s:p.(Asp538Gly)"])
    def test_two_changes_in_one_field_are_not_read_as_gene_and_change(self, text):
        # Otherwise the first change would be taken for a gene label and silently dropped.
        with pytest.raises(VariantParseError, match="more than one change"):
            parse_protein_change(text, gene="ESR1")

    @pytest.mark.parametrize(("text", "gene"), [("C1S D538G", "C1S"), ("f2r:p.Val422del", "F2R")])
    def test_gene_symbol_that_looks_like_a_change_is_fine_when_expected(self, text, gene):
        assert parse_protein_change(text, gene=gene).position in (538, 422)

    def test_garbled_change_reports_its_form_not_a_gene_mismatch(self):
        with pytest.raises(VariantParseError, match="expected a form like"):
            parse_protein_change("D538 G", gene="ESR1")


class TestProteinChangeInvariants:
    @pytest.mark.parametrize(
        "kwargs",
        [
            {"ref": "Z", "position": 1, "alt": "G", "kind": "missense"},
            {"ref": "Asp", "position": 1, "alt": "G", "kind": "missense"},
            {"ref": "D", "position": 0, "alt": "G", "kind": "missense"},
            {"ref": "D", "position": "538", "alt": "G", "kind": "missense"},
            {"ref": "D", "position": True, "alt": "G", "kind": "missense"},
            {"ref": "D", "position": 538, "alt": "Gly", "kind": "missense"},
            {"ref": "D", "position": 538, "alt": "G", "kind": "nonsense"},
            {"ref": "D", "position": 538, "alt": None, "kind": "missense"},
            {"ref": "D", "position": 538, "alt": "D", "kind": "missense"},
            {"ref": "D", "position": 538, "alt": "*", "kind": "deletion"},
        ],
    )
    def test_inconsistent_construction_is_refused(self, kwargs):
        with pytest.raises(ValueError):
            ProteinChange(**kwargs)

    def test_is_frozen_and_hashable(self):
        change = parse_protein_change("D538G")
        assert {change, parse_protein_change("p.Asp538Gly")} == {change}
        with pytest.raises(AttributeError):
            change.position = 537


class TestGene:
    @pytest.mark.parametrize(
        ("raw", "symbol"), [("ESR1", "ESR1"), (" esr1\n", "ESR1"), ("Pik3ca", "PIK3CA")]
    )
    def test_normalise_gene(self, raw, symbol):
        assert normalise_gene(raw) == symbol

    @pytest.mark.parametrize("raw", ["", "   ", None])
    def test_gene_is_required(self, raw):
        with pytest.raises(VariantParseError, match="Gene is required"):
            normalise_gene(raw)


class TestActivatingList:
    def test_list_is_exactly_the_spec(self):
        assert frozenset(SPEC_ACTIVATING) == ESR1_ACTIVATING_SHORT
        assert len(SPEC_ACTIVATING) == 14

    @pytest.mark.parametrize("short", SPEC_ACTIVATING)
    def test_recognised_from_short_and_canonical(self, short):
        change = parse_protein_change(short)
        assert change.short == short
        canonical = change.canonical
        for text in (short, canonical, f"ESR1:p.({canonical[2:]})", f"esr1 p.{short.lower()}"):
            variant = normalise_variant("ESR1", text, Decimal("0.4"))
            assert variant.esr1_activating is True
            assert variant.esr1_vus is False
            assert variant.short == short
            assert variant.protein_change == canonical
            assert is_esr1_activating("ESR1", parse_protein_change(text)) is True

    @pytest.mark.parametrize(
        ("short", "canonical"),
        [
            ("E380Q", "p.Glu380Gln"),
            ("V422del", "p.Val422del"),
            ("S463P", "p.Ser463Pro"),
            ("L469V", "p.Leu469Val"),
            ("L536H", "p.Leu536His"),
            ("L536P", "p.Leu536Pro"),
            ("L536Q", "p.Leu536Gln"),
            ("L536R", "p.Leu536Arg"),
            ("Y537C", "p.Tyr537Cys"),
            ("Y537D", "p.Tyr537Asp"),
            ("Y537N", "p.Tyr537Asn"),
            ("Y537S", "p.Tyr537Ser"),
            ("D538G", "p.Asp538Gly"),
            ("E542K", "p.Glu542Lys"),
        ],
    )
    def test_canonical_forms_written_out_by_hand(self, short, canonical):
        assert parse_protein_change(short).canonical == canonical
        assert parse_protein_change(canonical).short == short

    @pytest.mark.parametrize(
        "text",
        [
            "P535H",
            "L536F",
            "Y537H",
            "D538N",
            "E380K",
            "V422A",
            "V423del",
            "p.Leu536del",
            "Y537*",
            "D538=",
            "p.Glu542=",
        ],
    )
    def test_other_esr1_variants_are_vus(self, text):
        variant = normalise_variant("ESR1", text, Decimal("2.5"))
        assert variant.esr1_activating is False
        assert variant.esr1_vus is True

    @pytest.mark.parametrize(
        ("gene", "text"),
        [
            ("PIK3CA", "H1047R"),
            ("PIK3CA", "p.Glu545Lys"),
            ("TP53", "R175H"),
            # Same residue change as an activating ESR1 hit, but on the wrong gene.
            ("PIK3CA", "D538G"),
            ("ESR2", "Y537S"),
        ],
    )
    def test_non_esr1_variants_are_neither(self, gene, text):
        variant = normalise_variant(gene, text, 12.0)
        assert variant.esr1_activating is False
        assert variant.esr1_vus is False
        assert is_esr1_activating(gene, parse_protein_change(text)) is False

    def test_is_esr1_activating_normalises_the_gene(self):
        assert is_esr1_activating(" esr1 ", parse_protein_change("D538G")) is True


class TestNormaliseVariant:
    def test_full_record(self):
        vaf = Decimal("0.35")
        variant = normalise_variant(" esr1 ", "ESR1:p.(Asp538Gly)", vaf)
        assert variant == NormalisedVariant(
            gene="ESR1",
            protein_change="p.Asp538Gly",
            short="D538G",
            vaf_percent=vaf,
            esr1_activating=True,
            esr1_vus=False,
        )
        assert variant.vaf_percent is vaf

    @pytest.mark.parametrize("vaf", [Decimal("0"), 0.0, 0, Decimal("150"), -1.0, None])
    def test_vaf_passes_through_unvalidated(self, vaf):
        assert normalise_variant("ESR1", "D538G", vaf).vaf_percent is vaf

    def test_unparseable_change_raises(self):
        with pytest.raises(VariantParseError, match="Cannot read protein change 'D538'"):
            normalise_variant("ESR1", "D538", Decimal("1"))

    def test_missing_gene_raises(self):
        with pytest.raises(VariantParseError, match="Gene is required"):
            normalise_variant("  ", "D538G", Decimal("1"))

    def test_gene_mismatch_raises(self):
        with pytest.raises(VariantParseError, match="labelled PIK3CA.*gene is ESR1"):
            normalise_variant("ESR1", "PIK3CA H1047R", Decimal("1"))


def variant(short, vaf, gene="ESR1"):
    return normalise_variant(gene, short, vaf)


class TestEsr1Status:
    def test_failed_wins_even_with_activating_variants(self):
        assert esr1_status("failed", [variant("D538G", Decimal("5"))]) == "failed"

    def test_failed_with_no_variants(self):
        assert esr1_status("failed", []) == "failed"

    @pytest.mark.parametrize("vaf", [Decimal("0.01"), Decimal("12.5"), 0.001, 1, Decimal("100")])
    def test_final_with_activating_above_zero_is_detected(self, vaf):
        assert esr1_status("final", [variant("Y537S", vaf)]) == "detected"

    def test_one_activating_among_others_is_enough(self):
        variants = [
            variant("H1047R", Decimal("20"), gene="PIK3CA"),
            variant("P535H", Decimal("3")),
            variant("E380Q", Decimal("0.2")),
        ]
        assert esr1_status("final", variants) == "detected"

    @pytest.mark.parametrize("vaf", [Decimal("0"), Decimal("0.000"), 0, 0.0])
    def test_activating_at_zero_vaf_does_not_count(self, vaf):
        assert esr1_status("final", [variant("D538G", vaf)]) == "not_detected"

    def test_activating_reported_present_without_a_vaf_counts(self):
        assert esr1_status("final", [variant("D538G", None)]) == "detected"
        assert esr1_status("preliminary", [variant("D538G", None)]) == "not_detected"

    def test_final_with_only_vus_and_other_genes(self):
        variants = [variant("L536F", Decimal("4")), variant("H1047R", Decimal("9"), gene="PIK3CA")]
        assert esr1_status("final", variants) == "not_detected"

    def test_final_with_no_variants(self):
        assert esr1_status("final", []) == "not_detected"

    def test_accepts_any_iterable_once(self):
        gen = (v for v in [variant("D538G", Decimal("0")), variant("E542K", Decimal("1"))])
        assert esr1_status("final", gen) == "detected"


# --- properties --------------------------------------------------------------------------

amino_acids = st.sampled_from(sorted(ONE_TO_THREE))
positions = st.integers(min_value=1, max_value=2000)


@st.composite
def protein_changes(draw):
    ref = draw(amino_acids)
    position = draw(positions)
    alt = draw(st.one_of(amino_acids, st.just("*"), st.none()))
    kind = {None: "deletion", "*": "nonsense", ref: "synonymous"}.get(alt, "missense")
    return ProteinChange(ref=ref, position=position, alt=alt, kind=kind)


def random_case(draw, text):
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.swapcase() if flip else c for c, flip in zip(text, flips, strict=True))


@st.composite
def decorated(draw, base):
    """Wrap a bare change (D538G or Asp538Gly) in optional, meaning-free decoration."""
    text = base
    if draw(st.booleans()):
        text = f"({text})"
        text = f"p.{text}" if draw(st.booleans()) else text
    elif draw(st.booleans()):
        text = f"p.{text}"
    separator = draw(st.sampled_from([None, " ", ":", " : ", "\t", ":  "]))
    if separator is not None:
        text = f"ESR1{separator}{text}"
    text = random_case(draw, text)
    return draw(st.sampled_from(["", " ", "\n", "\t "])) + text + draw(st.sampled_from(["", "  "]))


@given(protein_changes())
def test_short_to_canonical_round_trip(change):
    from_short = parse_protein_change(change.short)
    assert from_short == change
    from_canonical = parse_protein_change(from_short.canonical)
    assert from_canonical == change
    assert from_canonical.short == change.short


@given(protein_changes())
def test_canonical_is_idempotent(change):
    once = parse_protein_change(change.canonical).canonical
    assert once == change.canonical
    assert parse_protein_change(once).canonical == once


@given(st.data(), protein_changes(), st.booleans())
def test_decoration_never_changes_the_parse(data, change, three_letter):
    base = change.canonical[2:] if three_letter else change.short
    text = data.draw(decorated(base))
    assert parse_protein_change(text) == change
    assert parse_protein_change(text, gene="esr1") == change


@given(amino_acids, positions, amino_acids)
def test_ref_equal_to_alt_is_synonymous(ref, position, alt):
    change = parse_protein_change(f"{ref}{position}{alt}")
    assert (change.kind == "synonymous") == (ref == alt)


@given(st.text(max_size=40))
def test_arbitrary_text_parses_or_raises_variant_parse_error(text):
    try:
        change = parse_protein_change(text)
    except VariantParseError as error:
        assert str(error)
    else:
        assert parse_protein_change(change.canonical) == change


near_miss_tokens = st.sampled_from(
    [
        *"ADGLQSTVYXdglpP0123456789*=()._: \t",
        "Asp",
        "Gly",
        "Ter",
        "del",
        "fs",
        "ESR1",
        "p.",
        "PIK3CA",
    ]
)


@given(st.lists(near_miss_tokens, max_size=12).map("".join))
def test_near_miss_text_parses_or_raises_variant_parse_error(text):
    try:
        change = parse_protein_change(text, gene="ESR1")
    except VariantParseError:
        return
    assert parse_protein_change(change.short) == change


class TestReferenceSequencePrefix:
    @pytest.mark.parametrize(
        "text",
        [
            "NP_000116.2:p.Asp538Gly",
            "NP_000116.2:p.(Asp538Gly)",
            "NP_000116:p.D538G",
            "NM_000125.4(ESR1):p.Asp538Gly",
            "ENSP00000206249.3:p.Asp538Gly",
        ],
    )
    def test_prefixed_changes_normalise_like_the_bare_change(self, text):
        assert normalise_variant("ESR1", text, Decimal("1")) == normalise_variant(
            "ESR1", "p.Asp538Gly", Decimal("1")
        )

    def test_strip_reference_names_the_gene_in_brackets(self):
        assert strip_reference("NM_000125.4(ESR1):p.D538G") == ("p.D538G", "ESR1")
        assert strip_reference("NP_000116.2:p.Asp538Gly") == ("p.Asp538Gly", None)
        assert strip_reference("p.Asp538Gly") == ("p.Asp538Gly", None)

    def test_a_prefix_naming_another_gene_is_an_error_for_esr1(self):
        with pytest.raises(VariantParseError, match="labelled PIK3CA"):
            normalise_variant("ESR1", "NM_006218.4(PIK3CA):p.His1047Arg", Decimal("1"))


class TestKeptAsWritten:
    """What the lab reported that is not a plain change is kept, never read, never blocks."""

    @pytest.mark.parametrize(
        ("gene", "text", "short"),
        [
            ("ESR1", "p.Leu536_Asp538delinsPro", "Leu536_Asp538delinsPro"),
            ("ESR1", "NP_000116.2:p.Tyr537SerfsTer4", "Tyr537SerfsTer4"),
            ("ESR1", "p.V422_L425del", "V422_L425del"),
            ("ESR1", "p.Asp538_Leu539insGly", "Asp538_Leu539insGly"),
            ("ESR1", "p.Y537fs", "Y537fs"),
            ("ESR1", "p.(Leu536_Tyr537delinsArg)", "Leu536_Tyr537delinsArg"),
            ("ESR1", "p.Ter596GlnextTer20", "Ter596GlnextTer20"),
        ],
    )
    def test_other_hgvs_changes_of_esr1_are_kept_for_review(self, gene, text, short):
        variant = normalise_variant(gene, text, None)
        assert variant.as_written
        assert (variant.protein_change, variant.short) == (text, short)
        assert (variant.esr1_activating, variant.esr1_vus) == (False, True)
        assert esr1_status("final", [variant]) == "not_detected"

    @pytest.mark.parametrize(
        ("gene", "text"),
        [
            ("ALK", "EML4-ALK fusion"),
            ("ERBB2", "amplification"),
            ("FGFR2", "FGFR2::BICC1 fusion (exon 17)"),
            ("PIK3CA", "see comment"),
            ("KMT2D", "p.Q2634Afs*20"),
            ("PIK3CA", "ESR1 D538G"),  # another gene's label: kept, never read as ESR1
        ],
    )
    def test_anything_reported_for_another_gene_is_kept(self, gene, text):
        variant = normalise_variant(gene, text, Decimal("3"))
        assert (variant.gene, variant.protein_change) == (gene, text)
        assert (variant.esr1_activating, variant.esr1_vus) == (False, False)

    def test_an_esr1_finding_without_a_protein_change_is_kept_for_review(self):
        variant = normalise_variant("ESR1", "", None, reported_text="ESR1::CCDC170 fusion")
        assert (variant.protein_change, variant.reported_text) == ("", "ESR1::CCDC170 fusion")
        assert (variant.esr1_activating, variant.esr1_vus) == (False, True)

    def test_very_long_text_is_clipped_into_the_column_and_kept_whole(self):
        text = "fusion " + "x" * 400
        variant = normalise_variant("ALK", text, None)
        assert len(variant.protein_change) <= 200
        assert variant.reported_text == text

    @pytest.mark.parametrize(
        "text",
        # p.D538Gly mixes styles: it may be D538G, so it is refused, not kept unread.
        ["D538", "foo", "Y537S D538G", "p.D538G)", "c.1613A>G", "p.D538Gly", "p.Asp538G"],
    )
    def test_an_unreadable_esr1_change_is_still_an_error(self, text):
        with pytest.raises(VariantParseError, match="Cannot read protein change"):
            normalise_variant("ESR1", text, Decimal("1"))

    @given(st.text(max_size=40))
    def test_normalising_any_text_is_a_variant_or_a_parse_error(self, text):
        for gene in ("ESR1", "PIK3CA"):
            try:
                variant = normalise_variant(gene, text, None)
            except VariantParseError:
                assert gene == "ESR1"
            else:
                assert variant.esr1_activating == (
                    not variant.as_written and variant.short in ESR1_ACTIVATING_SHORT
                    and gene == "ESR1"
                )  # fmt: skip
