#!/usr/bin/env python3
"""finwait.py N T1,T2,...: the server closes first and the client never closes its end, so the
server's side of each of N connections sits in FIN_WAIT_2 for net.ipv4.tcp_fin_timeout seconds.
Prints the number of FIN-WAIT-2 sockets at each of the given times (seconds after the close)."""
import socket, subprocess, sys, threading, time

n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
times = [float(x) for x in (sys.argv[2] if len(sys.argv) > 2 else "0.5,2,4,6,8").split(",")]
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 18090))
srv.listen(4096)

def serve():
    for _ in range(n):
        c, _ = srv.accept()
        c.close()

threading.Thread(target=serve, daemon=True).start()
clients = [socket.create_connection(("127.0.0.1", 18090)) for _ in range(n)]
t0 = time.time()

def count():
    out = subprocess.run(["ss", "-Htan", "state", "fin-wait-2"], capture_output=True, text=True).stdout
    return sum(1 for line in out.splitlines() if line.strip())

for t in times:
    time.sleep(max(0.0, t0 + t - time.time()))
    print(f"t={t:g}s fin-wait-2={count()}", end="  ", flush=True)
print()
