"""Network helpers of ci/services.sh (standard library only, so any python3 runs it).

    free-ports N                      N free TCP ports on 127.0.0.1, one per line
    activate HOST PORTS -- CMD ...    bind HOST:PORT for each comma-separated port, then exec CMD
                                      in a new session with the sockets passed as systemd passes
                                      them (LISTEN_FDS, from fd 3 on)
    listening PID ...                 the TCP/UDP sockets these processes listen on; exit 1 if one
                                      is bound to anything but a loopback address
    http-range URL                    exit 0 when URL answers a range request with 206 and "root"

``activate`` exists because XRootD has no directive to bind to one address (XrdNet::Bind always
binds the wildcard address), but it takes ready sockets through socket activation
(XrdInet::BindSD): sockets bound here to 127.0.0.1 are the only ones it listens on.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import urllib.request

_LISTEN_TCP = "0A"
_UNCONNECTED_UDP = "07"


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:  # all bound at once, so the ports differ
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def activate(host: str, ports: list[int], command: list[str]) -> None:
    for index, port in enumerate(ports):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(255)
        fd = 3 + index  # SD_LISTEN_FDS_START
        os.dup2(sock.detach(), fd)
        os.set_inheritable(fd, True)
    os.environ["LISTEN_FDS"] = str(len(ports))
    os.environ["LISTEN_PID"] = str(os.getpid())  # exec keeps the process id
    os.environ.pop("LISTEN_FDNAMES", None)
    os.setsid()  # detached from the caller's terminal and process group
    os.execvp(command[0], command)


def _address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))  # host-order words
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


def _bound_sockets() -> dict[str, tuple[str, str, int]]:
    """Socket inode → (protocol, local address, port) of every listening / bound socket."""
    found = {}
    for protocol, state in (("tcp", _LISTEN_TCP), ("udp", _UNCONNECTED_UDP)):
        for suffix in ("", "6"):
            with open(f"/proc/net/{protocol}{suffix}") as table:
                for line in table.readlines()[1:]:
                    fields = line.split()
                    address, port = fields[1].split(":")
                    if fields[3] == state and int(port, 16):
                        found[fields[9]] = (protocol, _address(address), int(port, 16))
    return found


def listening(pids: list[int]) -> int:
    sockets = _bound_sockets()
    exposed = 0
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            inode = target.removeprefix("socket:[").removesuffix("]")
            if inode in sockets:
                protocol, address, port = sockets[inode]
                loopback = ipaddress.ip_address(address).is_loopback
                exposed += not loopback
                print(f"{pid} {protocol} {address}:{port}{'' if loopback else '  NOT LOOPBACK'}")
    return 1 if exposed else 0


def http_range(url: str) -> int:
    request = urllib.request.Request(url, headers={"Range": "bytes=0-3"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return 0 if response.status == 206 and response.read() == b"root" else 1
    except OSError:
        return 1


def main(argv: list[str]) -> int:
    command, arguments = argv[0], argv[1:]
    if command == "free-ports":
        print("\n".join(map(str, free_ports(int(arguments[0])))))
        return 0
    if command == "activate":
        separator = arguments.index("--")
        host, ports = arguments[0], [int(p) for p in arguments[1].split(",")]
        activate(host, ports, arguments[separator + 1 :])
    if command == "listening":
        return listening([int(pid) for pid in arguments])
    if command == "http-range":
        return http_range(arguments[0])
    raise SystemExit(f"unknown command {command!r}; see {__file__}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
