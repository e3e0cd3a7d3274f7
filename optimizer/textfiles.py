"""Reading the user's text files (scenario YAML, CSV tables) whatever their encoding.

Planning offices save files from Excel and Chinese editors: UTF-8, UTF-8 with a byte-order
mark, GBK or GB18030. Everything else is refused with a message saying what the file looks
like and what to do, never with a ``UnicodeDecodeError``.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
from pathlib import Path

import charset_normalizer

log = logging.getLogger(__name__)

# GB18030 is a superset of GBK and GB2312: decoding with it reads all three
CHINESE_ENCODINGS = ("gb18030", "gbk", "gb2312")
SUPPORTED = "UTF-8, UTF-8 with BOM, GBK or GB18030"


class TextEncodingError(ValueError):
    """A file is not text in one of the supported encodings; the message says what it is."""


def detect_encoding(data: bytes) -> str:
    """The Python codec that reads ``data``: ``utf-8-sig``, ``utf-8`` or ``gb18030``.

    Raises
    ------
    TextEncodingError
        When the bytes are none of UTF-8, GBK or GB18030 (the message names the encoding
        charset-normalizer guesses, if any).

    Examples
    --------
    >>> detect_encoding("名称".encode("gbk"))
    'gb18030'
    >>> detect_encoding(codecs.BOM_UTF8 + b"name: x")
    'utf-8-sig'
    """
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise TextEncodingError(f"the file is UTF-16 text; save it as {SUPPORTED}")
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("gb18030")
    except UnicodeDecodeError:
        guess = charset_normalizer.from_bytes(data).best()
        looks = f" (it looks like {guess.encoding})" if guess is not None else ""
        raise TextEncodingError(
            f"the file is not {SUPPORTED} text{looks}; save it as UTF-8"
        ) from None
    # bytes that decode as GB18030 can still be another 8-bit encoding: ask for a second view
    chinese = charset_normalizer.from_bytes(data, cp_isolation=list(CHINESE_ENCODINGS)).best()
    if chinese is None:
        guess = charset_normalizer.from_bytes(data).best()
        looks = f" (it looks like {guess.encoding})" if guess is not None else ""
        raise TextEncodingError(f"the file is not {SUPPORTED} text{looks}; save it as UTF-8")
    return "gb18030"


def read_text(path: Path) -> str:
    """The text of a file in any supported encoding (the encoding is logged when not UTF-8).

    Raises
    ------
    TextEncodingError
        For a file in an unsupported encoding.
    OSError
        When the file cannot be read.
    """
    data = Path(path).read_bytes()
    encoding = detect_encoding(data)
    if encoding == "gb18030":
        log.info("%s: read as GB18030/GBK text", path)
    return data.decode(encoding)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
