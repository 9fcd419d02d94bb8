"""Files in and out, one module per kind, reader and writer side by side.

``fasta``, ``a3m`` (alignments), ``rr`` (CASP contact predictions), ``matrix``
(contact maps as ``.npy``, ``.npz`` or L x L text), ``structures``
(PDB / mmCIF / BinaryCIF), ``manifest`` (file / chain / split tables),
``regression`` (the contact-regression and probe file), ``safe_load`` (PyTorch
files without pickled code), ``text`` (the one door of every text file: UTF-8 with an
optional BOM, gzip checked, ``FileFormatError``), ``domains`` (domain tables),
``files`` (atomic writes, file names), ``hashing`` (content hashes of
files and tensors), ``progress`` (a bar on a terminal, plain lines in logs).
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=["a3m", "domains", "fasta", "files", "hashing", "manifest", "matrix", "progress", "regression", "rr",
                "safe_load", "structures", "text"],
    # the names of the single module that once was contacts.io
    submod_attrs={"fasta": ["FastaFormatError", "FastaRecord", "read_fasta", "write_fasta"],
                  "files": ["atomic_write", "open_text", "safe_filename"],
                  "text": ["FileFormatError"]},
)
