"""The channel between the tray (or the CLI) and the elevated updater on Windows: a
local, message-mode named pipe that authenticated users may write but not serve
(:data:`CHANNEL_SDDL`). The elevated side knows each client by impersonating it at
identification level; a client checks that the pipe's server runs as the elevated
updater before it sends anything.

May import :mod:`._win32`, :mod:`.security` and :mod:`updater.platform.base`.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
from ctypes import wintypes
from typing import Any

from updater.platform.base import Channel
from updater.platform.windows._win32 import (
    ERROR_ACCESS_DENIED,
    ERROR_FILE_NOT_FOUND,
    ERROR_PIPE_BUSY,
    FILE_FLAG_FIRST_PIPE_INSTANCE,
    FILE_FLAG_OVERLAPPED,
    GENERIC_READ,
    GENERIC_WRITE,
    OPEN_EXISTING,
    PIPE_ACCESS_DUPLEX,
    PIPE_READMODE_MESSAGE,
    PIPE_REJECT_REMOTE_CLIENTS,
    PIPE_TYPE_MESSAGE,
    PIPE_UNLIMITED_INSTANCES,
    SECURITY_IDENTIFICATION,
    SECURITY_SQOS_PRESENT,
    TOKEN_QUERY,
    WAIT_OBJECT_0,
    SecurityAttributes,
    advapi32,
    closing_handle,
    kernel32,
    last_error,
    local_free,
)
from updater.platform.windows.security import process_sid, token_sid

#: Who may use the elevated updater's pipe (SDDL): SYSTEM and Administrators
#: everything; authenticated users read and write data and attributes (0x12019b is
#: FILE_GENERIC_READ | FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES) but not
#: FILE_CREATE_PIPE_INSTANCE, so that nobody else can serve the pipe beside us.
#: Protected: nothing is inherited.
CHANNEL_SDDL = "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;0x12019b;;;AU)"


def _pipe_path(name: str) -> str:
    return "\\\\.\\pipe\\" + name


def _pipe_client_sid(pipe: int) -> str:
    """The user at the client end of a pipe, by impersonating it (identification
    level: enough to read its token, never to act as it). Only after a read."""
    if sys.platform != "win32":
        raise NotImplementedError("ImpersonateNamedPipeClient exists only on Windows")
    advapi = advapi32()
    if not advapi.ImpersonateNamedPipeClient(pipe):
        raise last_error()
    token = wintypes.HANDLE()
    try:
        if not advapi.OpenThreadToken(
            kernel32().GetCurrentThread(), TOKEN_QUERY, True, ctypes.byref(token)
        ):
            raise last_error()
    finally:
        # Never go on as the client. (Were this to fail, the thread would hold an
        # identification-level token, with which Windows refuses every access.)
        if not advapi.RevertToSelf():
            raise last_error()
    with closing_handle(token):
        return token_sid(token.value or 0)


def _pipe_server_pid(pipe: int) -> int:
    if sys.platform != "win32":
        raise NotImplementedError("GetNamedPipeServerProcessId exists only on Windows")
    pid = wintypes.ULONG(0)
    if not kernel32().GetNamedPipeServerProcessId(wintypes.HANDLE(pipe), ctypes.byref(pid)):
        raise last_error()
    return int(pid.value)


class _PipeChannel(Channel):
    """Messages on a message-mode pipe: read through ``PipeConnection`` (which refuses
    a message longer than the limit before reading it), written with an overlapped
    ``WriteFile`` that gives up after the timeout."""

    def __init__(self, handle: int, identify: Any) -> None:
        if sys.platform != "win32":
            raise NotImplementedError("named pipes exist only on Windows")
        # Only Windows' typeshed has PipeConnection.
        from multiprocessing.connection import PipeConnection  # type: ignore[attr-defined,unused-ignore]

        super().__init__(identify)
        self._handle = handle
        self._connection: Any = PipeConnection(handle)

    def send(self, data: bytes, timeout: float) -> None:
        if sys.platform != "win32":
            raise NotImplementedError("named pipes exist only on Windows")
        import _winapi

        try:
            overlapped, error = _winapi.WriteFile(self._handle, data, overlapped=True)
        except OSError as exc:
            raise EOFError(str(exc)) from exc
        if error == _winapi.ERROR_IO_PENDING:
            waited = _winapi.WaitForMultipleObjects(
                [overlapped.event], False, max(1, int(timeout * 1000))
            )
            if waited != WAIT_OBJECT_0:
                overlapped.cancel()
                with contextlib.suppress(OSError):
                    overlapped.GetOverlappedResult(True)
                raise TimeoutError("the other side does not read")
        try:
            written, _error = overlapped.GetOverlappedResult(True)
        except OSError as exc:
            raise EOFError(str(exc)) from exc
        if written != len(data):
            raise EOFError("the message was cut short")

    def receive(self, timeout: float, limit: int) -> bytes | None:
        if not self._connection.poll(timeout):
            return None
        return bytes(self._connection.recv_bytes(limit))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._connection.close()


class PipeListener:
    """The elevated side of the pipe. One instance always waits for the next client,
    made before the connected one is handed out, so that the name never lapses while
    we serve it (a lapse would let someone else create it)."""

    def __init__(self, name: str) -> None:
        if sys.platform != "win32":
            raise NotImplementedError("named pipes exist only on Windows")
        self._path = _pipe_path(name)
        self._descriptor = wintypes.LPVOID()
        if not advapi32().ConvertStringSecurityDescriptorToSecurityDescriptorW(
            CHANNEL_SDDL, 1, ctypes.byref(self._descriptor), None
        ):
            raise last_error()
        self._attributes = SecurityAttributes(
            ctypes.sizeof(SecurityAttributes), self._descriptor, False
        )
        self._waiting: int | None = None
        self._waiting = self._instance(first=True)

    def _instance(self, *, first: bool) -> int:
        if sys.platform != "win32":
            raise NotImplementedError("named pipes exist only on Windows")
        import _winapi

        flags = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED
        if first:  # fails when the name exists: someone else serves it
            flags |= FILE_FLAG_FIRST_PIPE_INSTANCE
        return int(_winapi.CreateNamedPipe(
            self._path, flags,
            PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_REJECT_REMOTE_CLIENTS,
            PIPE_UNLIMITED_INSTANCES, 65536, 65536, 0, ctypes.addressof(self._attributes),
        ))  # fmt: skip

    def accept(self, timeout: float) -> Channel | None:
        if sys.platform != "win32":
            raise NotImplementedError("named pipes exist only on Windows")
        import _winapi

        pipe = self._waiting
        if pipe is None:
            raise OSError("the channel is closed")
        overlapped = _winapi.ConnectNamedPipe(pipe, overlapped=True)
        waited = _winapi.WaitForMultipleObjects(
            [overlapped.event], False, max(0, int(timeout * 1000))
        )
        if waited != WAIT_OBJECT_0:
            overlapped.cancel()
            with contextlib.suppress(OSError):
                overlapped.GetOverlappedResult(True)
            return None
        overlapped.GetOverlappedResult(True)
        self._waiting = self._instance(first=False)
        return _PipeChannel(pipe, lambda: _pipe_client_sid(pipe))

    def close(self) -> None:
        if sys.platform != "win32":
            raise NotImplementedError("named pipes exist only on Windows")
        import _winapi

        if self._waiting is not None:
            with contextlib.suppress(OSError):
                _winapi.CloseHandle(self._waiting)
            self._waiting = None
        if self._descriptor:
            local_free(self._descriptor)
            self._descriptor.value = None


def connect_pipe(name: str, server_sid: str) -> Channel:
    """The requester's end of the pipe, once its server is known to be ``server_sid``."""
    if sys.platform != "win32":
        raise NotImplementedError("A named pipe exists only on Windows")
    import _winapi

    path = _pipe_path(name)
    try:
        pipe = _winapi.CreateFile(
            path, GENERIC_READ | GENERIC_WRITE, 0, 0, OPEN_EXISTING,
            FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION, 0,
        )  # fmt: skip
    except OSError as exc:
        if getattr(exc, "winerror", None) == ERROR_PIPE_BUSY:  # all instances taken
            _winapi.WaitNamedPipe(path, 1000)
            raise FileNotFoundError(ERROR_FILE_NOT_FOUND, "the pipe is busy", path) from exc
        raise
    try:
        _winapi.SetNamedPipeHandleState(pipe, PIPE_READMODE_MESSAGE, None, None)
        server = process_sid(_pipe_server_pid(pipe))
        if server != server_sid:
            raise PermissionError(
                ERROR_ACCESS_DENIED, f"the pipe is served by {server}, not the updater", path
            )
    except OSError:
        _winapi.CloseHandle(pipe)
        raise
    return _PipeChannel(pipe, lambda: server)
