"""TCP_NODELAY on libgit2's sockets, so an SSH handshake never waits for a delayed ACK.

libgit2 (1.9) makes its sockets in ``streams/socket.c`` and never sets TCP_NODELAY;
libssh2 then writes the SSH key exchange straight to that file descriptor. Twice in
the handshake the client writes two packets back to back (KEXINIT then
KEX_ECDH_INIT, NEWKEYS then SERVICE_REQUEST): with Nagle's algorithm on, the second
waits until the first is acknowledged, and a server with nothing to send holds its
ACK for the delayed-ACK minimum, 40 ms on Linux. No libgit2 option, libssh2 flag or
callback runs between ``connect()`` and that handshake (the certificate check comes
after it), so the option is set where the socket is made: libgit2's GOT slot for
``socket`` is pointed at a wrapper that calls the real ``socket()`` and sets
TCP_NODELAY on TCP sockets, as OpenSSH and curl do on theirs.

Conditions, each checked before anything is written, else nothing changes and
``status()`` says why:

- Linux with glibc, on x86-64 or aarch64 (the relocation types read here); musl,
  macOS and Windows get nothing.
- The libgit2 that pygit2's compiled module uses is found by ``dladdr``, and its
  file imports ``socket`` through a GOT slot (a libgit2 linked statically into
  another file, or calling ``socket`` otherwise, leaves it alone).
- The slot still holds what the dynamic linker put there: the lazy-binding stub
  inside libgit2, or the ``socket`` the process resolves. Anything else means
  someone else hooked it, and it is left alone.
- The slot's page is writable (partial RELRO, as pygit2's wheels are built). A
  read-only GOT (full RELRO, ``-z now``) is not made writable: that hardening is
  the library's choice, and the cost of keeping it is the stall, not a failure.

The store is one aligned pointer write, so a thread calling ``socket()`` at that
moment reaches either the real function or the wrapper, both valid. The wrapper is
a cffi callback made with pygit2's own compiled FFI (nothing is parsed at run
time): it takes the GIL once per connection, 10 to 20 µs, and keeps ``errno`` for
libgit2's error text. At exit the slot gets the real ``socket`` back, so no Python
callback can run once the interpreter is finalising; the callback is kept alive by
that exit handler, whatever becomes of this module.

Installed once per process, on the first network session; never raises. Set
``GIT_RECONCILE_NODELAY=0`` to turn it off.
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import socket
import struct
import sys
import threading
from typing import Any

from pygit2 import _libgit2 as _libgit2_module
from pygit2.ffi import ffi

__all__ = ["ENV_SWITCH", "install", "refusal", "status"]

ENV_SWITCH = "GIT_RECONCILE_NODELAY"

# ELF machine -> (JUMP_SLOT, GLOB_DAT) relocation types that fill a GOT slot.
_RELOCATIONS = {"x86_64": (62, 7, 6), "aarch64": (183, 1026, 1025)}
_SHT_RELA = 4
_SOCK_TYPE_MASK = 0xF  # the type bits of socket()'s second argument (Linux)
_TCP_FAMILIES = (socket.AF_INET, socket.AF_INET6)

logger = logging.getLogger("reconcile")
_lock = threading.Lock()
_state: dict[str, Any] = {"active": False, "reason": "not installed yet"}
_sockets = [0]  # sockets given TCP_NODELAY; += under the GIL, in the callback


class _DlInfo(ctypes.Structure):
    _fields_ = (
        ("dli_fname", ctypes.c_char_p),
        ("dli_fbase", ctypes.c_void_p),
        ("dli_sname", ctypes.c_char_p),
        ("dli_saddr", ctypes.c_void_p),
    )


def status() -> dict[str, Any]:
    """Whether the hook is active (``reason`` says why not), and how many sockets it
    has set TCP_NODELAY on."""
    with _lock:
        return {**_state, "sockets": _sockets[0]}


def install() -> bool:
    """Install the hook once per process; True when it is active. Never raises."""
    with _lock:
        if _state["reason"] != "not installed yet":
            return bool(_state["active"])
        try:
            _install()
        except Exception as exc:  # the stall is a cost, not a failure: go on without
            _state.update(active=False, reason=str(exc) or type(exc).__name__)
        else:
            _state.update(active=True, reason="")
        logger.debug(
            "TCP_NODELAY on libgit2's sockets: %s",
            "on" if _state["active"] else f"off ({_state['reason']})",
        )
        return bool(_state["active"])


def refusal(
    environ: dict[str, str] | os._Environ[str], system: str, machine: str, libc: str
) -> str | None:
    """Why the hook may not go in on this system (None: it may)."""
    if environ.get(ENV_SWITCH, "1") == "0":
        return f"turned off by {ENV_SWITCH}=0"
    if system != "linux":
        return f"only on Linux, not on {system}"
    if machine not in _RELOCATIONS:
        return f"only on x86_64 and aarch64, not on {machine}"
    if libc != "glibc":
        return f"only with glibc, not with {libc or 'an unknown C library'}"
    return None


def _libc_name() -> str:
    try:
        return "glibc" if os.confstr("CS_GNU_LIBC_VERSION") else ""
    except (ValueError, OSError):
        return ""


def _install() -> None:
    machine = os.uname().machine
    why = refusal(os.environ, sys.platform, machine, _libc_name())
    if why is not None:
        raise RuntimeError(why)
    path, base = _libgit2_file()
    slots = [base + offset for offset in _got_offsets(path, machine, b"socket")]
    if not slots:
        raise RuntimeError(f"{path} does not import socket() through its GOT")
    process = ctypes.CDLL(None)
    real = _address(process.socket)
    low, high, writable = _mapping(path, slots)
    for slot in slots:
        value = ctypes.c_void_p.from_address(slot).value or 0
        if value != real and not low <= value < high:
            raise RuntimeError(f"libgit2's GOT slot for socket() holds {value:#x}: hooked already")
    if not writable:
        raise RuntimeError("libgit2's GOT is read-only (full RELRO); left as it is")
    callback = _wrapper(real, _address(process.setsockopt))
    target = int(ffi.cast("uintptr_t", callback))
    for slot in slots:
        ctypes.c_void_p.from_address(slot).value = target  # one aligned pointer store

    def restore(keep: object = callback) -> None:  # holding the callback until exit
        """Point the slots at the real socket() again."""
        for slot in slots:
            if ctypes.c_void_p.from_address(slot).value == target:
                ctypes.c_void_p.from_address(slot).value = real

    atexit.register(restore)


def _wrapper(real_socket: int, real_setsockopt: int) -> Any:
    """A C function ``int socket(int, int, int)`` that sets TCP_NODELAY on TCP sockets."""
    make = ffi.cast("int (*)(int, int, int)", real_socket)
    setopt = ffi.cast("int (*)(int, int, int, void *, unsigned int)", real_setsockopt)
    one = ffi.new("int *", 1)
    size = ffi.sizeof("int")

    def hooked(domain: int, kind: int, protocol: int) -> int:
        fd = int(make(domain, kind, protocol))
        saved = ffi.errno  # socket()'s errno, which libgit2 reports when fd is -1
        tcp = domain in _TCP_FAMILIES and kind & _SOCK_TYPE_MASK == socket.SOCK_STREAM
        if fd >= 0 and tcp and setopt(fd, socket.IPPROTO_TCP, socket.TCP_NODELAY, one, size) == 0:
            _sockets[0] += 1
        ffi.errno = saved  # what the C caller sees when the callback returns
        return fd

    # error=-1: should the Python code ever raise, libgit2 sees a failed socket().
    return ffi.callback("int (*)(int, int, int)", hooked, error=-1)


def _address(function: Any) -> int:
    value = ctypes.cast(function, ctypes.c_void_p).value
    if not value:
        raise RuntimeError("a C function has no address")
    return int(value)


def _libgit2_file() -> tuple[str, int]:
    """The file and load address of the libgit2 pygit2's compiled module calls."""
    anchor = _address(ctypes.CDLL(_libgit2_module.__file__).git_libgit2_version)
    dladdr = ctypes.CDLL(None).dladdr
    dladdr.argtypes = (ctypes.c_void_p, ctypes.POINTER(_DlInfo))
    info = _DlInfo()
    if not dladdr(anchor, ctypes.byref(info)) or not info.dli_fname or not info.dli_fbase:
        raise RuntimeError("dladdr found no file for libgit2")
    return os.fsdecode(info.dli_fname), int(info.dli_fbase)


def _mapping(path: str, slots: list[int]) -> tuple[int, int, bool]:
    """The address span ``path`` is mapped at, and whether every slot's page is writable
    (the GOT is in the file's own mapping, so only its lines are read)."""
    real, name = os.path.realpath(path), os.path.basename(path)
    low, high, writable = None, 0, dict.fromkeys(slots, False)
    with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
        for line in maps:
            if name not in line:
                continue
            fields = line.split(maxsplit=5)
            if len(fields) < 6 or os.path.realpath(fields[5].strip()) != real:
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            low, high = start if low is None else min(low, start), max(high, end)
            for slot in slots:
                if start <= slot < end:
                    writable[slot] = fields[1][1] == "w"
    if low is None:
        raise RuntimeError(f"{path} is not mapped in this process")
    return low, high, all(writable.values())


def _got_offsets(path: str, machine: str, name: bytes) -> list[int]:
    """Offsets of the GOT slots the dynamic linker fills with ``name`` (ELF64 LE),
    read from the file's section table, symbol tables and relocation tables only."""
    wanted_machine, jump_slot, glob_dat = _RELOCATIONS[machine]
    with open(path, "rb") as handle:
        elf = _Elf(handle.fileno())
        header = elf.read(0, 64)
        if header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
            raise RuntimeError(f"{path} is not a 64-bit little-endian ELF file")
        if struct.unpack_from("<H", header, 0x12)[0] != wanted_machine:
            raise RuntimeError(f"{path} is not built for {machine}")
        (table,) = struct.unpack_from("<Q", header, 0x28)
        entry_size, count = struct.unpack_from("<HH", header, 0x3A)
        raw = elf.read(table, entry_size * count)
        sections = [struct.unpack_from("<IIQQQQIIQQ", raw, i * entry_size) for i in range(count)]
        offsets = []
        for section in sections:
            if section[1] != _SHT_RELA or not 0 < section[6] < count:
                continue
            index = elf.symbol_index(sections, section[6], name)
            if index is None:
                continue
            for r_offset, r_info, _addend in struct.iter_unpack("<QQq", elf.section(section)):
                if r_info >> 32 == index and r_info & 0xFFFFFFFF in (jump_slot, glob_dat):
                    offsets.append(r_offset)
    return offsets


class _Elf:
    """Reads parts of an ELF file by offset."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._indexes: dict[int, int | None] = {}

    def read(self, offset: int, size: int) -> bytes:
        data = os.pread(self._fd, size, offset)
        if len(data) != size:
            raise RuntimeError("the ELF file is truncated")
        return data

    def section(self, section: tuple[int, ...]) -> bytes:
        return self.read(section[4], section[5])

    def symbol_index(self, sections: list[tuple[int, ...]], symtab: int, name: bytes) -> int | None:
        """The index of ``name`` in the symbol table ``sections[symtab]`` (None if absent)."""
        if symtab not in self._indexes:
            self._indexes[symtab] = self._find(sections, symtab, name)
        return self._indexes[symtab]

    def _find(self, sections: list[tuple[int, ...]], symtab: int, name: bytes) -> int | None:
        table = sections[symtab]
        if not 0 < table[6] < len(sections):
            return None
        strings = self.section(sections[table[6]])
        needle = name + b"\0"
        for index, (st_name, *_rest) in enumerate(
            struct.iter_unpack("<IBBHQQ", self.section(table))
        ):
            if strings.startswith(needle, st_name):
                return index
        return None
