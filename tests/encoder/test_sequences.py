"""The one input check every door shares: the same words for the same sequence, whichever way it comes in."""

import pytest

from contacts.constants import MAX_RESIDUES
from contacts.encoder.alphabet import ALPHABET, RESIDUES
from contacts.encoder.sequences import (
    RESIDUE_LETTERS,
    InvalidSequenceError,
    StopCodonRemoved,
    check_sequences,
    clean_sequence,
    sequence_problems,
)


def test_every_problem_with_its_residue_position():
    assert sequence_problems("MK-J A.1*Q<cls>") == [
        "gap '-' at residue 3 (an alignment symbol, not a residue: remove gaps or use the ungapped sequence)",
        "character 'J' at residue 4",
        "gap '.' at residue 6 (an alignment symbol, not a residue: remove gaps or use the ungapped sequence)",
        "character '1' at residue 7",
        "stop '*' at residue 8 (only a trailing stop codon is removed)",
        "token '<cls>' at residue 10 (only <mask> is accepted)",
    ]
    assert sequence_problems("  \n") == ["empty sequence (no residues)"]
    assert sequence_problems("") == ["empty sequence (no residues)"]
    # letters only, one of them outside the vocabulary: not taken for a plain record
    assert sequence_problems("MKJT") == ["character 'J' at residue 3"]
    assert sequence_problems("mkt") == [] and sequence_problems("MK T\n") == []
    assert sequence_problems("MK<mask>T") == []
    assert sequence_problems("MK<mask>T", mask=False) == ["<mask> at residue 3 (plain residues only here)"]


def test_a_record_past_the_residue_limit_is_refused_naming_the_limit():
    limit = f"past the limit of {MAX_RESIDUES:,} a record may have (contacts.constants.MAX_RESIDUES)"
    assert sequence_problems("A" * MAX_RESIDUES) == []
    assert sequence_problems("A" * 60_000) == [f"60,000 residues, {limit}"]
    assert sequence_problems("A" * MAX_RESIDUES + "<mask>") == [f"{MAX_RESIDUES + 1:,} residues, {limit}"]
    with pytest.raises(InvalidSequenceError, match="titin-like: 60,000 residues, past the limit"):
        check_sequences(["MKT", "A" * 60_000], ["short", "titin-like"])


def test_the_letters_are_those_of_the_esm_vocabulary_less_its_gap_symbols():
    # independent of any tokenizer's token list, yet exactly what ESM reads as residues
    assert sorted(RESIDUE_LETTERS) == sorted(set(RESIDUES) - set("-."))
    assert sequence_problems(RESIDUE_LETTERS + RESIDUE_LETTERS.lower()) == []
    assert len(ALPHABET.tokenize(RESIDUE_LETTERS)) == 25


def test_a_trailing_stop_codon_is_removed_and_only_that_one():
    assert clean_sequence("MKT*") == ("MKT", True)
    assert clean_sequence("MKT* \n") == ("MKT", True)
    assert clean_sequence("MK*T") == ("MK*T", False)
    assert clean_sequence("MKT**") == ("MKT*", True)  # the second is refused as a stop inside
    with pytest.warns(StopCodonRemoved, match=r"trailing '\*' \(stop codon\) removed from a, c$"):
        assert check_sequences(["MKT*", "GSH", "ac*"], ["a", "b", "c"]) == ["MKT", "GSH", "ac"]
    names = [f"r{i}" for i in range(8)]
    with pytest.warns(StopCodonRemoved, match="removed from r0, r1, r2, r3, r4 and 3 more$"):
        check_sequences(["MK*"] * 8, names)


def test_one_error_lists_every_bad_sequence():
    with pytest.raises(InvalidSequenceError) as one:
        check_sequences(["MKT", "M-K"])
    assert str(one.value) == ("sequence 1: gap '-' at residue 2 (an alignment symbol, not a residue: "
                              "remove gaps or use the ungapped sequence)")
    with pytest.raises(InvalidSequenceError) as two:
        check_sequences(["", "MKJ*", "MKT"], ["e", "j", "ok"])
    assert str(two.value).splitlines() == ["2 invalid sequences:", "  e: empty sequence (no residues)",
                                           "  j: character 'J' at residue 3"]
    assert issubclass(InvalidSequenceError, ValueError)
