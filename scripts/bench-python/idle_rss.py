#!/usr/bin/env python3
"""Idle RSS side by side: start each release binary (page cache of the binary dropped first, as
scripts/bench's memory benchmark does), wait until its socket accepts, 2 s more, read VmRSS and
threads, SIGTERM. Usage: scripts/bench-python/idle_rss.py RUNS LABEL=DIR [LABEL=DIR ...] (root; plain python3)"""
import os, socket, subprocess, sys, tempfile, time, signal, statistics

def drop_cache(path):
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)

def measure(binary, kind):
    d = tempfile.mkdtemp(prefix="lean-idle.")
    sock = d + "/csi.sock"
    if kind == "node":
        for sub in ("kubelet", "state", "volumes"): os.makedirs(d + "/" + sub)
        args = [binary, "--endpoint", "unix://" + sock, "--node-id", "node-1", "--kubelet-dir", d + "/kubelet",
                "--state-dir", d + "/state", "--transports", "loop", "--loop-dir", d + "/volumes"]
    else:
        os.makedirs(d + "/state")
        args = [binary, "--endpoint", "unix://" + sock, "--engine", "local", "--state-dir", d + "/state"]
    drop_cache(binary)
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                s = socket.socket(socket.AF_UNIX); s.connect(sock); s.close(); break
            except OSError:
                time.sleep(0.01)
        else:
            raise RuntimeError("no socket: " + binary)
        time.sleep(2)
        status = open(f"/proc/{p.pid}/status").read()
        rss = int([l for l in status.splitlines() if l.startswith("VmRSS:")][0].split()[1]) / 1000
        threads = int([l for l in status.splitlines() if l.startswith("Threads:")][0].split()[1])
        return rss, threads
    finally:
        p.send_signal(signal.SIGTERM)
        try: p.wait(timeout=30)
        except subprocess.TimeoutExpired: p.kill(); p.wait()
        subprocess.run(["rm", "-rf", d])

runs = int(sys.argv[1])
dirs = [a.split("=", 1) for a in sys.argv[2:]]
results = {}
for _ in range(runs):
    for label, d in dirs:
        for kind, name in (("node", "cstor-node"), ("controller", "cstor-controller")):
            results.setdefault((label, name), []).append(measure(d + "/" + name, kind))
for (label, name), values in results.items():
    rss = [v[0] for v in values]
    print(f"{label:8} {name:17} idle RSS median {statistics.median(rss):5.1f} MB ({min(rss):.1f}-{max(rss):.1f}), threads {values[-1][1]}, runs {len(rss)}")
