"""Sequential unary CSI calls from a Python grpcio client over a unix socket; prints JSON figures.

usage: probe_client.py --stubs DIR --socket PATH [--method Probe] [--calls 10000] [--warmup 500]
"""
import argparse
import json
import sys
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--stubs", required=True)
    parser.add_argument("--socket", required=True)
    parser.add_argument("--method", default="Probe")
    parser.add_argument("--calls", type=int, default=10000)
    parser.add_argument("--warmup", type=int, default=500)
    args = parser.parse_args()
    sys.path.insert(0, args.stubs)
    import grpc
    import csi_pb2
    import csi_pb2_grpc

    channel = grpc.insecure_channel("unix://" + args.socket)
    stub = csi_pb2_grpc.IdentityStub(channel)
    call, request = {
        "Probe": (stub.Probe, csi_pb2.ProbeRequest()),
        "GetPluginInfo": (stub.GetPluginInfo, csi_pb2.GetPluginInfoRequest()),
    }[args.method]
    for _ in range(args.warmup):
        call(request, timeout=10)
    latencies = []
    clock = time.perf_counter
    for _ in range(args.calls):
        start = clock()
        call(request, timeout=10)
        latencies.append(clock() - start)
    channel.close()
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, max(0, int(round(p / 100 * len(latencies) + 0.4999)) - 1))] * 1000

    print(json.dumps({
        "calls": len(latencies), "p50_ms": pct(50), "p99_ms": pct(99), "p90_ms": pct(90),
        "mean_ms": sum(latencies) / len(latencies) * 1000, "min_ms": latencies[0] * 1000,
    }))


if __name__ == "__main__":
    main()
