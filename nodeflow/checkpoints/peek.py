"""What a .pt/.pth file holds, read without unpickling it. Standard library only.

`peek` walks the pickle's opcodes (pickletools.genops) on a small stack machine that
builds only plain values: dicts, lists, tuples, strings and numbers. A class or function
the pickle names is never imported or called; tensors become `Tensor(shape)` markers
and every name outside torch's weights-only set is reported, which is what loading with
weights_only=True would refuse. Handles torch's zip format, the legacy format and plain
pickles.
"""
from __future__ import annotations

import io
import pickletools
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # the first pickle of torch's pre-1.6 format
MAX_OPS = 5_000_000
MAX_PICKLE = 256 << 20  # a compressed zip member expands to at most this (torch stores its members)
TENSOR_REBUILDS = {"_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter", "_rebuild_parameter_with_state",
                   "_rebuild_from_type_v2", "_rebuild_qtensor", "_rebuild_sparse_tensor"}
SAFE_BUILTINS = {"set", "frozenset", "bytearray", "complex", "slice", "getattr"}


class PeekError(Exception):
    """Not a pickle this reader understands (truncated, not torch, an unknown opcode)."""


@dataclass(frozen=True)
class Tensor:
    shape: tuple[int, ...]


@dataclass
class Peek:
    value: Any  # the top object: plain containers, numbers, strings, Tensor markers, Opaque
    unsafe: list[str] = field(default_factory=list)  # module.name of everything weights_only refuses


@dataclass
class Opaque:
    name: str  # an object this reader does not rebuild (its class's module.name)


@dataclass(frozen=True)
class Global:
    module: str
    name: str

    @property
    def safe(self) -> bool:
        if self.module == "collections" and self.name == "OrderedDict":
            return True
        if self.module in ("builtins", "__builtin__"):
            return self.name in SAFE_BUILTINS
        if self.module in ("torch._utils", "torch._tensor"):
            return self.name in TENSOR_REBUILDS
        return self.module == "torch" and (self.name.endswith("Storage") or self.name in ("Size", "device")
                                           or self.name.startswith(("float", "int", "uint", "bfloat", "bool",
                                                                    "complex", "half", "double", "long")))


def peek(path: Path) -> Peek:
    """The file's top object and the unsafe names it refers to; PeekError when unreadable."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                member = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
                if member is None:
                    raise PeekError("a zip file without data.pkl (not a torch checkpoint)")
                with _member(path, archive, archive.getinfo(member)) as handle:
                    return _walk(handle)
        with path.open("rb") as handle:
            first = _walk(handle)
            if first.value != LEGACY_MAGIC:
                return first
            _walk(handle)  # protocol version
            _walk(handle)  # sys info
            return _walk(handle)
    except OSError as exc:
        raise PeekError(exc.strerror or str(exc)) from None
    except (zipfile.BadZipFile, EOFError, ValueError, IndexError, KeyError, TypeError, AttributeError):
        raise PeekError("not a readable checkpoint (truncated, or not a pickle)") from None


def _member(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> IO[bytes]:
    """A stored member's bytes, read past its local header without zipfile's CRC check:
    NodeFlow saves without zip CRCs (its manifest holds a SHA-256 instead)."""
    if info.compress_type != zipfile.ZIP_STORED:  # not torch's: read it the ordinary way, within a bound
        if info.file_size > MAX_PICKLE:
            raise PeekError(f"a compressed data.pkl of {info.file_size} bytes (not a torch checkpoint)")
        return archive.open(info)
    with path.open("rb") as handle:
        handle.seek(info.header_offset)
        header = handle.read(30)
        if header[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile("bad local header")
        handle.seek(int.from_bytes(header[26:28], "little") + int.from_bytes(header[28:30], "little"), 1)
        return io.BytesIO(handle.read(info.file_size))


def _walk(handle: IO[bytes]) -> Peek:
    stack: list[Any] = []
    marks: list[int] = []
    memo: dict[int, Any] = {}
    unsafe: list[str] = []

    def pop_mark() -> list[Any]:
        start = marks.pop()
        items = stack[start:]
        del stack[start:]
        return items

    for count, (op, arg, _) in enumerate(pickletools.genops(handle)):
        if count > MAX_OPS:
            raise PeekError("pickle too large to inspect")
        name = op.name
        if name in ("PROTO", "FRAME"):
            continue
        if name == "STOP":
            return Peek(stack[-1] if stack else None, unsafe)
        if name == "MARK":
            marks.append(len(stack))
        elif name in ("EMPTY_DICT", "EMPTY_LIST", "EMPTY_TUPLE", "EMPTY_SET"):
            stack.append({"EMPTY_DICT": {}, "EMPTY_LIST": [], "EMPTY_TUPLE": (), "EMPTY_SET": []}[name])
        elif name in ("DICT", "LIST", "TUPLE", "FROZENSET"):
            items = pop_mark()
            stack.append(dict(zip(items[::2], items[1::2])) if name == "DICT" and _hashable(items[::2])
                         else tuple(items) if name == "TUPLE" else list(items))
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            items = stack[-n:]
            del stack[-n:]
            stack.append(tuple(items))
        elif name in ("SETITEM", "SETITEMS"):
            items = [stack.pop(), stack.pop()][::-1] if name == "SETITEM" else pop_mark()
            target = stack[-1]
            if isinstance(target, dict):
                for key, value in zip(items[::2], items[1::2]):
                    if _hashable([key]):
                        target[key] = value
        elif name in ("APPEND", "APPENDS", "ADDITEMS"):
            items = [stack.pop()] if name == "APPEND" else pop_mark()
            if isinstance(stack[-1], list):
                stack[-1].extend(items)
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[cast(int, arg)] = stack[-1]
        elif name == "MEMOIZE":
            memo[len(memo)] = stack[-1]
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            stack.append(memo.get(cast(int, arg)))
        elif name in ("GLOBAL", "STACK_GLOBAL", "INST"):
            if name == "STACK_GLOBAL":
                module, attr = stack[-2], stack[-1]
                del stack[-2:]
            else:
                module, _, attr = str(arg).partition(" ")
            found = Global(str(module), str(attr))
            if not found.safe:
                unsafe.append(f"{found.module}.{found.name}")
            if name == "INST":  # its arguments sit above the mark: take them off first
                pop_mark()
            stack.append(found if name != "INST" else Opaque(f"{found.module}.{found.name}"))
        elif name == "REDUCE":
            args = stack.pop()
            stack[-1] = _call(stack[-1], args)
        elif name in ("NEWOBJ", "NEWOBJ_EX"):
            if name == "NEWOBJ_EX":
                stack.pop()
            args = stack.pop()
            stack[-1] = _call(stack[-1], args)
        elif name == "BUILD":
            stack.pop()  # the object's state: applied by nobody here
        elif name in ("BINPERSID", "PERSID"):
            stack[-1] = Opaque("storage")
        elif name == "POP":
            stack.pop()
        elif name == "POP_MARK":
            pop_mark()
        elif name == "DUP":
            stack.append(stack[-1])
        elif name == "OBJ":
            items = pop_mark()
            stack.append(Opaque(str(items[0]) if items else "object"))
        elif name.startswith("EXT"):
            unsafe.append(f"extension code {arg}")
            stack.append(Opaque("extension"))
        elif name in ("NONE", "NEWTRUE", "NEWFALSE"):
            stack.append({"NONE": None, "NEWTRUE": True, "NEWFALSE": False}[name])
        elif op.arg is not None:  # ints, floats, strings, bytes
            stack.append(arg)
        else:
            raise PeekError(f"unknown pickle opcode {name}")
    raise PeekError("the pickle ends early (truncated file)")


def _call(func: Any, args: Any) -> Any:
    if not isinstance(func, Global):
        return Opaque("object")
    if func.name.startswith("_rebuild_parameter") and isinstance(args, tuple) and args:
        return args[0]
    if func.name in TENSOR_REBUILDS:
        shape = args[2] if isinstance(args, tuple) and len(args) > 2 and isinstance(args[2], tuple) else ()
        return Tensor(tuple(int(d) for d in shape if isinstance(d, int)))
    if func.module == "collections" and func.name == "OrderedDict":
        return {}
    if func.module == "torch" and func.name == "Size" and isinstance(args, tuple) and args:
        return tuple(args[0])
    return Opaque(f"{func.module}.{func.name}")


def _hashable(keys: list[Any]) -> bool:
    try:
        for key in keys:
            hash(key)
    except TypeError:
        return False
    return True
