"""Raw unix-socket ping-pong between two processes (socketpair + fork): the floor of any RPC here.

usage: uds_pingpong.py [--rounds 20000] [--size 64]; prints JSON figures.
"""
import argparse
import json
import os
import socket
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20000)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        parent.close()
        while True:
            data = child.recv(65536)
            if not data:
                os._exit(0)
            child.sendall(data)
    child.close()
    message = b"x" * args.size
    latencies = []
    clock = time.perf_counter
    for index in range(args.rounds + 1000):
        start = clock()
        parent.sendall(message)
        received = 0
        while received < args.size:
            received += len(parent.recv(65536))
        if index >= 1000:
            latencies.append(clock() - start)
    parent.close()
    os.waitpid(pid, 0)
    latencies.sort()
    print(json.dumps({
        "rounds": len(latencies), "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "mean_ms": sum(latencies) / len(latencies) * 1000,
    }))


if __name__ == "__main__":
    main()
