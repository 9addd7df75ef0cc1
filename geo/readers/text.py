"""Text encodings of uploaded files: UTF-8 (with or without BOM) or GBK/GB18030.

Chinese GIS and CAD files are very often GBK with nothing saying so (a
Shapefile without ``.cpg``, a CSV saved by Excel on a Chinese Windows). Read as
UTF-8 or Latin-1 they turn into mojibake, so every reader decodes through
:func:`decode`: a caller's explicit encoding wins, then a BOM, then strict
UTF-8, then GB18030 (a superset of GBK and GB2312). Anything that decodes as
none of those is rejected with a message saying which encoding to choose.
"""

from __future__ import annotations

import codecs

from geo.errors import InvalidInput

# GB18030 decodes every GBK/GB2312 byte sequence identically and more besides.
GBK_FAMILY = {"gbk", "gb2312", "gb18030", "cp936", "936", "ansi_936", "euc-cn", "euccn"}


def normalise_encoding(name: str) -> str:
    """A Python codec name for a user's or a file's encoding label (``GBK`` -> ``gb18030``)."""
    label = name.strip().lower().replace("_", "-")
    if label in GBK_FAMILY or label.replace("-", "") in GBK_FAMILY:
        return "gb18030"
    if label in ("utf8", "utf-8", "65001"):
        return "utf-8"
    unknown = InvalidInput(
        f"不认识的文本编码 {name[:60]!r}，可选 utf-8 或 gbk / unknown text encoding {name[:60]!r}; use utf-8 or gbk")
    if len(label) > 40 or "\x00" in label:
        raise unknown
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        raise unknown from None
    # rot13, base64, hex, zlib, bz2, uu, quopri... are codecs but not text encodings: bytes -> bytes.
    if not getattr(info, "_is_text_encoding", True):
        raise unknown
    return info.name


def guess_encoding(data: bytes) -> str:
    """``utf-8-sig``, ``utf-8`` or ``gb18030`` for raw bytes (see module docstring)."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError:
        raise InvalidInput(
            "无法识别文本编码（既不是 UTF-8 也不是 GBK），请在“编码”中指定 / "
            "cannot tell the text encoding (neither UTF-8 nor GBK); choose one under 'encoding'"
        ) from None


def decode(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """Decoded text and the encoding used; an explicit ``encoding`` wins over guessing."""
    if encoding:
        codec = normalise_encoding(encoding)
        if codec == "utf-8" and data.startswith(codecs.BOM_UTF8):
            codec = "utf-8-sig"
        try:
            return data.decode(codec), codec
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"文件不是 {encoding} 编码（第 {exc.start} 字节起无法解码），请换一种编码或留空自动识别 / "
                f"the file is not {encoding} (undecodable at byte {exc.start}); pick another encoding or leave it empty"
            ) from None
    codec = guess_encoding(data)
    return data.decode(codec), codec
