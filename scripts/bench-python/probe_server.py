"""A Python grpcio CSI Identity server on a unix socket (the limit for Probe latency).

usage: probe_server.py --stubs DIR --socket PATH   (serves until SIGTERM)
"""
import argparse
import signal
import sys
import threading
from concurrent import futures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--stubs", required=True)
    parser.add_argument("--socket", required=True)
    args = parser.parse_args()
    sys.path.insert(0, args.stubs)
    import grpc
    import csi_pb2
    import csi_pb2_grpc

    class Identity(csi_pb2_grpc.IdentityServicer):
        def Probe(self, request, context):
            response = csi_pb2.ProbeResponse()
            response.ready.value = True
            return response

        def GetPluginInfo(self, request, context):
            return csi_pb2.GetPluginInfoResponse(name="bench.python.grpcio", vendor_version="0")

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    csi_pb2_grpc.add_IdentityServicer_to_server(Identity(), server)
    server.add_insecure_port("unix://" + args.socket)
    server.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    server.stop(0)


if __name__ == "__main__":
    main()
