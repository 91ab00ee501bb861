"""The fixed offline evaluation text and a disjoint calibration text, both from the help texts
of the running Python's standard library (``pydoc_data.topics``, PSF licence).

Extraction rule: ``EVAL_TOPICS`` joined with one newline (evaluation) and
``CALIBRATION_TOPICS`` joined the same way (calibration); no other processing. The topics'
content changes between Python versions, so the evaluation text is checked against the
SHA-256 recorded for the Python it was measured on (``EVAL_SHA256``); results record the
Python version (docs/accuracy.md).
"""

from __future__ import annotations

import hashlib
import platform

EVAL_TOPICS = ("assignment", "compound")
CALIBRATION_TOPICS = ("execmodel", "exceptions", "import", "typesseq")
# SHA-256 of the UTF-8 evaluation text, measured with Python 3.11.7 (docs/accuracy.md)
EVAL_SHA256 = "83479f3e11a3bed210f2ad7aa423f61a24cad9ed34d18e717c22f2a88e4d81ca"
EVAL_PYTHON = "3.11.7"


class TextChanged(ValueError):
    """The running Python's pydoc text differs from the one the documented numbers used."""


def _topics(names) -> str:
    from pydoc_data.topics import topics

    gone = [n for n in names if n not in topics]
    if gone:
        raise TextChanged(
            f"pydoc_data.topics of Python {platform.python_version()} lacks {gone}; "
            f"the evaluation text was defined on Python {EVAL_PYTHON}"
        )
    return "\n".join(topics[n] for n in names)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def eval_text(check: bool = True) -> str:
    """The evaluation text. ``check``: raise ``TextChanged`` unless its SHA-256 is the
    recorded one (perplexities on another text are not comparable with docs/accuracy.md)."""
    text = _topics(EVAL_TOPICS)
    if check and sha256(text) != EVAL_SHA256:
        raise TextChanged(
            f"the evaluation text from pydoc_data.topics{list(EVAL_TOPICS)} of Python "
            f"{platform.python_version()} differs from the one measured on Python "
            f"{EVAL_PYTHON} (SHA-256 {sha256(text)[:16]}... != {EVAL_SHA256[:16]}...); "
            "its perplexities are not comparable: pass check_text=False to use it anyway"
        )
    return text


def calibration_text() -> str:
    """Held-out text for methods that calibrate (topics disjoint from ``EVAL_TOPICS``)."""
    if set(CALIBRATION_TOPICS) & set(EVAL_TOPICS):
        raise AssertionError("calibration and evaluation topics overlap")
    return _topics(CALIBRATION_TOPICS)
