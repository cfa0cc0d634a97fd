import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import GRPCCore
import Testing

/// Concurrency and shutdown: many calls at once, and SIGTERM in the middle of an operation.
@Suite("Robustness under concurrency and shutdown", .serialized)
struct RobustnessTests {
    @Test("100 concurrent calls on one volume: one wins, the others are Aborted, nothing deadlocks")
    func hundredOnOneVolume() async throws {
        try await withLocalCluster { cluster in
            _ = try await cluster.controllerClient {
                try await $0.createVolume(.with {
                    $0.name = "pvc-hot"
                    $0.volumeCapabilities = [.mount()]
                    $0.capacityRange = .with { $0.requiredBytes = 1 << 30 }
                })
            }
            // Expansions of the same volume; every one needs the volume's lock.
            let started = ContinuousClock.now
            let codes = try await withCSIClient(socket: cluster.controllerSocket) { connection in
                let controller = Csi_V1_Controller.Client(wrapping: connection)
                return await withTaskGroup(of: RPCError.Code?.self) { group in
                    for index in 0..<100 {
                        group.addTask {
                            await rpcCode {
                                try await controller.controllerExpandVolume(.with {
                                    $0.volumeID = "pvc-hot"
                                    $0.capacityRange = .with { $0.requiredBytes = Int64(2 + index) << 30 }
                                })
                            }
                        }
                    }
                    return await group.reduce(into: [RPCError.Code?]()) { $0.append($1) }
                }
            }
            #expect(ContinuousClock.now - started < .seconds(30), "no deadlock")
            #expect(codes.count == 100)
            #expect(codes.allSatisfy { $0 == nil || $0 == .aborted || $0 == .outOfRange }, "\(Set(codes.map { "\(String(describing: $0))" }))")
            #expect(codes.contains(nil), "at least one call won")
            #expect(codes.contains(.aborted), "concurrent calls for the same volume are Aborted")
            // The volume is usable afterwards: the lock was released.
            _ = try await cluster.controllerClient {
                try await $0.controllerExpandVolume(.with {
                    $0.volumeID = "pvc-hot"
                    $0.capacityRange = .with { $0.requiredBytes = 200 << 30 }
                })
            }
        }
    }

    @Test("1000 concurrent creates of distinct volumes all succeed, each exactly once")
    func thousandCreates() async throws {
        try await withLocalCluster(controllerArguments: ["--max-concurrent-operations", "16"]) { cluster in
            let failures = try await withCSIClient(socket: cluster.controllerSocket) { connection in
                let controller = Csi_V1_Controller.Client(wrapping: connection)
                return await withTaskGroup(of: String?.self) { group in
                    for index in 0..<1000 {
                        group.addTask {
                            let error = await rpcError {
                                try await controller.createVolume(.with {
                                    $0.name = String(format: "pvc-many-%04d", index)
                                    $0.volumeCapabilities = [.mount()]
                                    $0.capacityRange = .with { $0.requiredBytes = 1 << 20 }
                                })
                            }
                            return error.map { "\(index): \($0.code) \($0.message)" }
                        }
                    }
                    return await group.reduce(into: [String]()) { list, failure in if let failure { list.append(failure) } }
                }
            }
            #expect(failures.isEmpty, "\(failures.prefix(5))")
            let files = try FileManager.default.contentsOfDirectory(atPath: cluster.stateDirectory + "/volumes")
            #expect(files.count == 1000)
            var listed = 0
            var token = ""
            repeat {
                let page = try await cluster.controllerClient {
                    try await $0.listVolumes(.with {
                        $0.maxEntries = 300
                        $0.startingToken = token
                    })
                }
                listed += page.entries.count
                token = page.nextToken
            } while !token.isEmpty
            #expect(listed == 1000)
        }
    }

    @Test("SIGTERM during a NodeStageVolume lets it finish; the next calls complete and nothing is left behind",
          .enabled(if: runningAsRoot))
    func sigtermDuringStage() async throws {
        let harness = try NodeHarness()
        defer { Task { await harness.tearDown() } }
        try await harness.start()
        let volume = try harness.makeVolume("pvc-term", size: 8 << 30)
        let stage = Csi_V1_NodeStageVolumeRequest.with {
            $0.volumeID = "pvc-term"
            $0.stagingTargetPath = harness.stagingPath("pvc-term")
            $0.publishContext = volume.context
            $0.volumeCapability = .mount()
        }
        async let staged = rpcCode { try await harness.node { try await $0.nodeStageVolume(stage) } }
        // SIGTERM once the stage is under way (its record written), never before the call reached
        // the node: a call that was never accepted is refused (Unavailable) and proves nothing.
        let underway = ContinuousClock.now + .seconds(60)
        while harness.recordFiles().isEmpty && ContinuousClock.now < underway {
            try await Task.sleep(for: .milliseconds(5))
        }
        let status = try await harness.process?.stop(signal: SIGTERM) ?? -1
        let stageCode = await staged
        #expect(status == 0, "a graceful exit")
        #expect(stageCode == nil, "the in-flight stage finished during the grace period")
        try await harness.start()
        // Repeating the call is success; the volume can be unstaged cleanly.
        _ = try await harness.node { try await $0.nodeStageVolume(stage) }
        _ = try await harness.node {
            try await $0.nodeUnstageVolume(.with {
                $0.volumeID = "pvc-term"
                $0.stagingTargetPath = harness.stagingPath("pvc-term")
            })
        }
        #expect(harness.mountsBelowDirectory().isEmpty)
        #expect(harness.loopDevicesInUse().isEmpty)
        #expect(harness.recordFiles().isEmpty)
        await harness.tearDown()
    }

    @Test("SIGTERM with a grace period shorter than the operation: the next call finishes the job", .enabled(if: runningAsRoot))
    func sigtermCutsOperationShort() async throws {
        let harness = try NodeHarness(extraArguments: ["--shutdown-grace-period", "0"])
        defer { Task { await harness.tearDown() } }
        try await harness.start()
        let volume = try harness.makeVolume("pvc-cut", size: 8 << 30)
        let stage = Csi_V1_NodeStageVolumeRequest.with {
            $0.volumeID = "pvc-cut"
            $0.stagingTargetPath = harness.stagingPath("pvc-cut")
            $0.publishContext = volume.context
            $0.volumeCapability = .mount()
        }
        async let staged = rpcCode { try await harness.node { try await $0.nodeStageVolume(stage) } }
        try await Task.sleep(for: .milliseconds(40))
        _ = try await harness.process?.stop(signal: SIGTERM)
        _ = await staged
        try await harness.start()
        for attempt in 1...50 {
            let code = await rpcCode { try await harness.node { try await $0.nodeStageVolume(stage) } }
            if code == nil { break }
            #expect(code == .aborted, "only 'still settling' is acceptable: \(String(describing: code))")
            if attempt == 50 { Issue.record("the stage never completed") }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(FileManager.default.fileExists(atPath: harness.stagingPath("pvc-cut") + "/lost+found"))
        _ = try await harness.node {
            try await $0.nodeUnstageVolume(.with {
                $0.volumeID = "pvc-cut"
                $0.stagingTargetPath = harness.stagingPath("pvc-cut")
            })
        }
        #expect(harness.mountsBelowDirectory().isEmpty)
        #expect(harness.loopDevicesInUse().isEmpty)
        await harness.tearDown()
    }
}
