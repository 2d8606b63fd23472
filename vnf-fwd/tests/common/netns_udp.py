"""Real kernel UDP (and TCP) for the chain tests, run inside an outside host's
namespace (`ip netns exec NS python3 netns_udp.py ...`). Prints one JSON line.

  recv IFACE PORT COUNT TIMEOUT_S
      binds a UDP socket to PORT, prints "ready", and waits for COUNT datagrams
      (or the timeout); also captures the frames that carried them on IFACE.
      {"datagrams": [hex payloads], "frames": [hex frames], "times": [arrival, s]}
  send IFACE DST PORT COUNT SIZE GAP_MS
      sends COUNT datagrams of SIZE bytes ("vnf-chain NNNNNN" padded) to DST:PORT
      from a UDP socket, GAP_MS apart, and captures the frames the kernel sent.
      {"frames": [hex frames]}
  tcp-recv PORT TIMEOUT_S
      listens on TCP PORT, prints "ready", takes one connection and reads it
      to its end (or the timeout). {"bytes": N}
  tcp-send DST PORT BYTES
      connects to DST:PORT and sends BYTES as fast as TCP goes. {"bytes": N, "seconds": T}
"""

import json
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def capture(iface):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    s.setblocking(False)
    return s


def udp_to(frame, port):
    """The frame is IPv4/UDP (no VLAN) to `port`."""
    if len(frame) < 42 or frame[12:14] != b"\x08\x00" or frame[23] != 17:
        return False
    ihl = (frame[14] & 0x0F) * 4
    return struct.unpack("!H", frame[14 + ihl + 2:14 + ihl + 4])[0] == port


def drain(raw, port, outgoing, frames):
    while True:
        try:
            frame, addr = raw.recvfrom(65535)
        except BlockingIOError:
            return
        if (addr[2] == PACKET_OUTGOING) == outgoing and udp_to(frame, port):
            frames.append(frame.hex())


def recv(iface, port, count, timeout):
    raw = capture(iface)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("0.0.0.0", port))
    print("ready", flush=True)
    datagrams, frames, times = [], [], []
    end = time.time() + timeout
    while len(datagrams) < count and time.time() < end:
        r, _, _ = select.select([udp, raw], [], [], 0.1)
        if udp in r:
            datagrams.append(udp.recv(65535).hex())
            times.append(time.time())
        if raw in r:
            drain(raw, port, False, frames)
    time.sleep(0.05)
    drain(raw, port, False, frames)
    print(json.dumps({"datagrams": datagrams, "frames": frames, "times": times}), flush=True)


def send(iface, dst, port, count, size, gap_ms):
    raw = capture(iface)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    frames = []
    for i in range(count):
        udp.sendto(f"vnf-chain {i:06d}".encode().ljust(size, b"."), (dst, port))
        time.sleep(gap_ms / 1000)
        drain(raw, port, True, frames)
    time.sleep(0.1)
    drain(raw, port, True, frames)
    print(json.dumps({"frames": frames}), flush=True)


def tcp_recv(port, timeout):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(1)
    srv.settimeout(timeout)
    print("ready", flush=True)
    conn, _ = srv.accept()
    conn.settimeout(timeout)
    n = 0
    while True:
        data = conn.recv(1 << 16)
        if not data:
            break
        n += len(data)
    conn.close()
    print(json.dumps({"bytes": n}), flush=True)


def tcp_send(dst, port, nbytes):
    s = socket.create_connection((dst, port), timeout=30)
    chunk = b"vnf-chain tcp ".ljust(1 << 16, b".")
    t0, sent = time.time(), 0
    while sent < nbytes:
        sent += s.send(chunk[:min(len(chunk), nbytes - sent)])
    s.shutdown(socket.SHUT_WR)
    s.recv(1)  # the receiver's close: everything arrived
    s.close()
    print(json.dumps({"bytes": sent, "seconds": time.time() - t0}), flush=True)


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[:1] == ["recv"] and len(a) == 5:
        recv(a[1], int(a[2]), int(a[3]), float(a[4]))
    elif a[:1] == ["send"] and len(a) == 7:
        send(a[1], a[2], int(a[3]), int(a[4]), int(a[5]), float(a[6]))
    elif a[:1] == ["tcp-recv"] and len(a) == 3:
        tcp_recv(int(a[1]), float(a[2]))
    elif a[:1] == ["tcp-send"] and len(a) == 4:
        tcp_send(a[1], int(a[2]), int(a[3]))
    else:
        sys.exit(__doc__)
