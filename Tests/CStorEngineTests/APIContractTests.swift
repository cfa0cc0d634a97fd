import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import GRPCCore
import Testing

/// What the controller writes and calls must be what kube-apiserver accepts from the chart's
/// service account: the CVC the CRD requires, the right code when the API refuses an object, and
/// exactly the permissions the chart grants.
@Suite("Controller and the Kubernetes API contract", .serialized)
struct APIContractTests {
    static let gib: Int64 = 1 << 30
    static let parameters = CStorCluster.parameters

    func create(
        _ cluster: CStorCluster, _ name: String, source: Csi_V1_VolumeContentSource? = nil
    ) async throws -> Csi_V1_Volume {
        try await cluster.createVolume(name, source: source)
    }

    @Test("The CVC carries spec.policy and versionDetails as openebs/cstor-csi wrote them, without a version of its own")
    func cvcAsUpstreamWroteIt() async throws {
        try await withCStorCluster { cluster in
            _ = try await create(cluster, "pvc-contract")
            let post = try #require(cluster.server.requests.first { $0.verb == "create" && $0.path.hasSuffix("/cstorvolumeconfigs") })
            let written = try JSONValue(json: Data(post.body.utf8))
            #expect(written[path: ["spec", "policy"]] == ["provision": ["replicaAffinity": false], "replica": [:], "target": [:]])
            #expect(written["versionDetails"] == ["status": ["dependentsUpgraded": true]], "no current or desired version")
            #expect(written[path: ["status", "phase"]] == "Pending")
            // The operator took it as new and wrote its own version (its ShouldReconcile passes).
            let stored = try #require(cluster.server.store.object(CStorVolumeConfig.self, namespace: cluster.namespace, name: "pvc-contract"))
            #expect(stored.versionDetails?.status?.current == "3.6.0")
            #expect(stored.versionDetails?.desired == "3.6.0")
            #expect(stored.phase == .bound)
            #expect(cluster.operatorSimulator.refusedToReconcile.isEmpty)
        }
    }

    @Test("A CVC the API refuses because the driver built it wrong is Internal, with the API's message, logged at error")
    func refusedObjectIsInternal() async throws {
        try await withCStorCluster { cluster in
            // A CRD that requires a member the driver does not write stands for a driver bug.
            let crd = try CustomResourceDefinition.cstor(.cstorVolumeConfigs)
            var object = crd.object
            var versions = try #require(object[path: ["spec", "versions"]]?.arrayValue)
            var spec = try #require(versions[0][path: ["schema", "openAPIV3Schema", "properties", "spec"]])
            spec["required"] = .array((spec["required"]?.arrayValue ?? []) + ["tier"])
            spec["properties"]?["tier"] = ["type": "string"]
            versions[0]["schema"]?["openAPIV3Schema"]?["properties"]?["spec"] = spec
            object["spec"]?["versions"] = .array(versions)
            cluster.server.store.register(try CustomResourceDefinition(object))

            let error = await rpcError { try await create(cluster, "pvc-bug") }
            #expect(error?.code == .internalError, "not InvalidArgument: the provisioner would give up on the claim for good")
            #expect(error?.message.contains(#"CStorVolumeConfig.cstor.openebs.io "pvc-bug" is invalid: spec.tier: Required value"#) == true)
            let logged = cluster.controller?.logLines().compactMap(\.object).first {
                $0["level"] as? String == "error" && ($0["msg"] as? String)?.contains("refused an object cstor-csi built") == true
            }
            #expect(logged?["object"] as? String == "CStorVolumeConfig pvc-bug")
        }
    }

    @Test("A value from the request the API refuses is InvalidArgument naming it")
    func refusedInputIsInvalidArgument() async throws {
        try await withCStorCluster { cluster in
            let upper = await rpcError { try await create(cluster, "PVC-Upper") }
            #expect(upper?.code == .invalidArgument)
            #expect(upper?.message.contains(#"volume name "PVC-Upper" cannot be used"#) == true)
            #expect(upper?.message.contains("a lowercase RFC 1123 subdomain") == true)
        }
    }

    /// The controller's own rules in the chart as rendered: (group, resource, verb).
    static func grantedToTheController() throws -> Set<String> {
        var granted: Set<String> = []
        for object in try YAMLDocuments.load(contentsOf: RepositoryFiles.chartRBAC)
        where ["Role", "ClusterRole"].contains(object["kind"]?.stringValue ?? "")
            && object[path: ["metadata", "name"]]?.stringValue == CStorCluster.controllerServiceAccount.name
        {
            for rule in object["rules"]?.arrayValue ?? [] {
                for group in rule["apiGroups"]?.arrayValue ?? [] {
                    for resource in rule["resources"]?.arrayValue ?? [] {
                        for verb in rule["verbs"]?.arrayValue ?? [] {
                            let group = group.stringValue ?? ""
                            granted.insert("\(verb.stringValue ?? "") \(resource.stringValue ?? "")\(group.isEmpty ? "" : ".\(group)")")
                        }
                    }
                }
            }
        }
        return granted
    }

    @Test("Every API call of a full lifecycle, informers' watches included, is allowed by the chart's RBAC, and every rule is used")
    func lifecycleUnderChartRBAC() async throws {
        try await withCStorCluster(
            controllerArguments: ["--kube-api-timeout", "2"],
            // The pool cluster informer's first list hangs: the first CreateVolume reads the pool
            // cluster itself, as it does before the informers have synced.
            beforeStart: { $0.server.inject(.hang(verb: "list", path: "cstorpoolclusters")) }
        ) { cluster in
            _ = try await create(cluster, "pvc-life")
            try await cluster.server.store.waitForWatches(started: 3)
            _ = try await create(cluster, "pvc-life2")
            // A pool cluster missing from the synced cache is asked of the API server before the
            // final InvalidArgument (the cache may lag one created a moment ago).
            let missing = await rpcCode {
                _ = try await cluster.createVolume("pvc-nopool", parameters: Self.parameters.merging(["cstorPoolCluster": "cspc-absent"]) { $1 })
            }
            #expect(missing == .invalidArgument)
            try cluster.operatorSimulator.createReplicas(volume: "pvc-life", poolInstances: ["cspc-test-0"], snapshots: ["snap-life": 1024])
            try await cluster.client { client in
                _ = try await client.controllerPublishVolume(.with {
                    $0.volumeID = "pvc-life"
                    $0.nodeID = "node-1"
                    $0.volumeCapability = .mount()
                })
                _ = try await client.controllerGetVolume(.with { $0.volumeID = "pvc-life" })
                _ = try await client.createSnapshot(.with {
                    $0.sourceVolumeID = "pvc-life"
                    $0.name = "snap-life"
                })
                _ = try await client.listSnapshots(.init())
                _ = try await client.listVolumes(.init())
                _ = try await client.getCapacity(.with { $0.parameters = Self.parameters })
                _ = try await client.controllerExpandVolume(.with {
                    $0.volumeID = "pvc-life"
                    $0.capacityRange = .with { $0.requiredBytes = 6 * Self.gib }
                    $0.volumeCapability = .mount()
                })
            }
            _ = try await create(cluster, "pvc-restored", source: .with { $0.snapshot = .with { $0.snapshotID = "pvc-life@snap-life" } })
            try await cluster.client { client in
                _ = try await client.controllerUnpublishVolume(.with {
                    $0.volumeID = "pvc-life"
                    $0.nodeID = "node-1"
                })
                _ = try await client.deleteSnapshot(.with { $0.snapshotID = "pvc-life@snap-life" })
                for volume in ["pvc-restored", "pvc-life2", "pvc-life"] {
                    _ = try await client.deleteVolume(.with { $0.volumeID = volume })
                }
            }

            let calls = cluster.server.requests.filter { $0.user == CStorCluster.controllerUser && $0.attributes.nonResourcePath == nil }
            let forbidden = calls.filter { $0.status == 403 }
            #expect(forbidden.isEmpty, "forbidden: \(forbidden.map { "\($0.verb) \($0.path)" })")
            let used = Set(
                calls.map { call in
                    let group = call.attributes.group
                    return "\(call.attributes.verb) \(call.attributes.qualifiedResource)\(group.isEmpty ? "" : ".\(group)")"
                })
            let granted = try Self.grantedToTheController()
            #expect(used == granted, "used but not granted: \(used.subtracting(granted).sorted()); granted but unused: \(granted.subtracting(used).sorted())")
            print("API calls of a cstor lifecycle (\(calls.count) requests):\n  " + used.sorted().joined(separator: "\n  "))
        }
    }
}
