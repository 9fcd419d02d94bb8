import numpy as np
import pytest
import torch

from contacts.encoder.alphabet import ALPHABET, RESIDUES, STANDARD_AMINO_ACIDS, Alphabet, InvalidSequenceError
from contacts.encoder.families import PRESETS


def test_vocabulary_matches_fair_esm():
    esm = pytest.importorskip("esm")
    ref = esm.Alphabet.from_architecture("roberta_large")
    assert ALPHABET.tokens == tuple(ref.all_toks)
    assert (ALPHABET.cls_idx, ALPHABET.padding_idx, ALPHABET.eos_idx, ALPHABET.unk_idx) == (0, 1, 2, 3)
    assert (ALPHABET.index("L"), ALPHABET.index("-"), ALPHABET.index("<null_1>"), ALPHABET.mask_idx) == (4, 30, 31, 32)


def test_batch_encoding_matches_fair_esm_batch_converter():
    esm = pytest.importorskip("esm")
    converter = esm.Alphabet.from_architecture("roberta_large").get_batch_converter()
    seqs = ["MKTAYIAKQR", "MK<mask>A", "ACDEFGHIKLMNPQRSTVWYXBUZO.-"]
    _, _, ref = converter([(str(i), s) for i, s in enumerate(seqs)])
    assert torch.equal(ALPHABET.batch_encode(seqs), ref)


def test_uppercases_and_strips_whitespace():
    assert ALPHABET.encode(" mk t\nay\t") == ALPHABET.encode("MKTAY")
    assert ALPHABET.tokenize("a<mask>c") == ["A", "<mask>", "C"]


@pytest.mark.parametrize(
    "seq, fragment",
    [("MKTJAY", "'J' at residue position 4"), ("MK*", "'*' at residue position 3"),
     ("MK1", "'1' at residue position 3")],
)
def test_bad_character_names_character_and_position(seq, fragment):
    with pytest.raises(InvalidSequenceError, match=fragment):
        ALPHABET.encode(seq)


def test_unknown_special_token_is_refused():
    with pytest.raises(InvalidSequenceError, match="'<cls>' at residue position 3"):
        ALPHABET.encode("MK<cls>A")


@pytest.mark.parametrize("seq", ["", "   \n"])
def test_empty_sequence_is_refused(seq):
    with pytest.raises(InvalidSequenceError, match="empty"):
        ALPHABET.encode(seq)


def test_a_plain_upper_case_sequence_reads_as_the_per_character_path_reads_it():
    """Upper-case letters only take a one-scan path; it gives every family's vocabulary the same tokens as the
    per-character reading (the same letters in lower case go that way), and a letter a vocabulary cannot map
    still raises there."""
    letters = "".join(RESIDUES)
    gen = np.random.default_rng(0)
    plain = ["".join(gen.choice(list(letters), size=n)) for n in (1, 7, 139, 1022)] + [letters]
    for preset in ("tiny", "tiny_bert", "tiny_roberta", "tiny_t5"):
        alphabet = getattr(PRESETS[preset], "alphabet", lambda: ALPHABET)()  # ESM configs share ALPHABET
        for seq in plain:
            assert alphabet.tokenize(seq) == alphabet.tokenize(seq.lower() + "a")[:-1] == list(seq)
    no_unk = Alphabet(["<cls>", "<pad>", "<eos>", *STANDARD_AMINO_ACIDS], unk=None, mask=None)
    with pytest.raises(InvalidSequenceError, match="'B' at residue position 2 has no token"):
        no_unk.tokenize("AB")
