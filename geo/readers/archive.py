"""Safe handling of ZIP-based uploads (zipped Shapefile, KMZ, XLSX, a zipped dataset).

Every archive is inspected from its central directory *before* a single byte is
extracted: member count, total declared uncompressed size, compression ratio
and member names (no absolute paths, drive letters, ``..`` components or
symlinks). Extraction then streams each member with a running byte count, so a
member whose header lies about its size still cannot exceed the limit.
"""

from __future__ import annotations

import io
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from geo.errors import InvalidInput, TooLarge
from geo.readers.limits import ReadLimits

_CHUNK = 1 << 20
# A deflate stream can legitimately compress text ~100x; 1000x is a bomb.
MAX_RATIO = 1000


@dataclass(frozen=True)
class Member:
    name: str  # the name as stored, always '/'-separated
    size: int

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix.lower()

    @property
    def stem(self) -> str:
        return str(PurePosixPath(self.name).with_suffix(""))


def _unsafe_name(name: str) -> bool:
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        return True
    return any(part == ".." for part in norm.split("/"))


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _decode_name(info: zipfile.ZipInfo) -> str:
    """Member names from Chinese Windows zip tools are GBK without the UTF-8 flag."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        raw = info.filename.encode("cp437")
    except UnicodeEncodeError:
        return info.filename
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return raw.decode("gb18030")
        except UnicodeDecodeError:
            return info.filename


class SafeZip:
    """A checked ZIP archive; construct with :meth:`open`."""

    def __init__(self, zf: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo], limits: ReadLimits) -> None:
        self._zf = zf
        self._infos = infos
        self._limits = limits

    @classmethod
    def open(cls, data: bytes, limits: ReadLimits, *, what: str = "ZIP") -> SafeZip:
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
            infos = zf.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
            raise InvalidInput(f"{what} 压缩包已损坏，无法打开 / the {what} archive is damaged: {exc}") from None
        files = [i for i in infos if not i.is_dir()]
        if len(infos) > limits.max_archive_files:
            raise TooLarge(
                f"压缩包内文件过多（{len(infos)} 个，上限 {limits.max_archive_files}）/ "
                f"too many files in the archive ({len(infos)}, limit {limits.max_archive_files})"
            )
        total = sum(i.file_size for i in files)
        if total > limits.max_uncompressed_bytes:
            raise TooLarge(
                f"压缩包解压后过大（{total / 2**20:.0f} MB，上限 {limits.max_uncompressed_bytes / 2**20:.0f} MB）/ "
                f"archive expands to {total / 2**20:.0f} MB, "
                f"over the {limits.max_uncompressed_bytes / 2**20:.0f} MB limit"
            )
        for info in files:
            if info.compress_size and info.file_size / info.compress_size > MAX_RATIO and info.file_size > 10 * _CHUNK:
                raise TooLarge(f"压缩包疑似压缩炸弹（{info.filename}）/ "
                               f"archive member looks like a zip bomb: {info.filename}")
        by_name: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = _decode_name(info)
            if _unsafe_name(name) or _unsafe_name(info.filename):
                raise InvalidInput(
                    f"压缩包含不安全的路径 {name!r}（绝对路径或 ..），已拒绝 / "
                    f"archive member {name!r} has an absolute or '..' path; refused"
                )
            if _is_symlink(info):
                raise InvalidInput(f"压缩包含符号链接 {name!r}，已拒绝 / archive member {name!r} is a symlink; refused")
            if info.flag_bits & 0x1:
                raise InvalidInput(f"压缩包已加密（{name}），请解密后上传 / archive member {name!r} is encrypted")
            if not info.is_dir():
                by_name[name.replace("\\", "/")] = info
        return cls(zf, by_name, limits)

    def members(self) -> list[Member]:
        """Files in the archive, skipping macOS resource forks and hidden files."""
        out = []
        for name, info in self._infos.items():
            parts = name.split("/")
            if "__MACOSX" in parts or parts[-1].startswith("."):
                continue
            out.append(Member(name, info.file_size))
        return out

    def read(self, name: str) -> bytes:
        """One member's bytes, counted while streaming so a lying header cannot overrun."""
        info = self._infos[name]
        budget = min(self._limits.max_uncompressed_bytes, info.file_size)
        buf = bytearray()
        try:
            with self._zf.open(info) as fh:
                while chunk := fh.read(_CHUNK):
                    buf += chunk
                    if len(buf) > budget:
                        raise TooLarge(f"压缩包成员 {name} 超出声明大小 / "
                                       f"archive member {name} exceeds its declared size")
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as exc:
            raise InvalidInput(f"压缩包成员 {name} 已损坏 / archive member {name} is damaged: {exc}") from None
        return bytes(buf)

    def extract_as(self, targets: dict[str, str], dest: Path) -> dict[str, Path]:
        """Extract members to caller-chosen plain file names in ``dest``; never uses stored paths."""
        out: dict[str, Path] = {}
        for name, basename in targets.items():
            if "/" in basename or "\\" in basename or basename in ("", ".", ".."):
                raise ValueError(f"unsafe target name {basename!r}")
            target = dest / basename
            target.write_bytes(self.read(name))
            out[name] = target
        return out

    def close(self) -> None:
        self._zf.close()
