import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorKubernetesHTTP
import CStorModel
import GRPCCore
import Testing

@Suite("Kubernetes client: CRUD against the test API server")
struct ClientTests {
    let namespace = "openebs"

    @Test("Create, get, update and delete a CVC; a finalizer keeps it until it is removed")
    func crud() async throws {
        try await withServerAndClient { server, client in
            let created = try await client.create(makeCVC("pvc-1"))
            #expect(!created.metadata.uid.isEmpty)
            #expect(!created.metadata.resourceVersion.isEmpty)
            #expect(created.metadata.generation == 1)
            #expect(created.metadata.creationTimestamp?.date != nil)

            var fetched = try await client.get(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace)
            #expect(fetched.metadata.uid == created.metadata.uid)
            #expect(fetched.requestedStorage == (try Quantity(parsing: "5Gi")))

            fetched.requestedStorage = try Quantity(parsing: "10Gi")
            let updated = try await client.update(fetched)
            #expect(updated.requestedStorage == (try Quantity(parsing: "10Gi")))
            #expect(Int(updated.metadata.resourceVersion) ?? 0 > Int(created.metadata.resourceVersion) ?? 0)
            #expect(updated.metadata.generation == 2)

            let deletion = try await client.delete(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace)
            guard case .markedForDeletion(let metadata) = deletion else {
                Issue.record("an object with a finalizer must only be marked, got \(deletion)")
                return
            }
            #expect(metadata.deletionTimestamp != nil)
            #expect(metadata.finalizers == [SimulatedCVCOperator.cvcFinalizer])
            #expect(server.store.object(.cstorVolumeConfigs, namespace: namespace, name: "pvc-1") != nil)

            var marked = try await client.get(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace)
            #expect(marked.metadata.isBeingDeleted)
            marked.metadata.finalizers = []
            _ = try await client.update(marked)
            let gone = await kubernetesError { try await client.get(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace) }
            #expect(gone?.kind == .notFound)
            #expect(try await client.getIfPresent(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace) == nil)
        }
    }

    @Test("An object without finalizers is deleted at once; deleting it again is NotFound, deleteIfPresent says alreadyGone")
    func deleteWithoutFinalizers() async throws {
        try await withServerAndClient { _, client in
            var cvc = makeCVC("pvc-2")
            cvc.metadata.finalizers = []
            _ = try await client.create(cvc)
            #expect(try await client.delete(CStorVolumeConfig.self, name: "pvc-2", namespace: namespace) == .deleted)
            let again = await kubernetesError { try await client.delete(CStorVolumeConfig.self, name: "pvc-2", namespace: namespace) }
            #expect(again?.kind == .notFound)
            #expect(try await client.deleteIfPresent(CStorVolumeConfig.self, name: "pvc-2", namespace: namespace) == .alreadyGone)
        }
    }

    @Test("Creating an existing name is AlreadyExists, with the server's Status message")
    func alreadyExists() async throws {
        try await withServerAndClient { _, client in
            _ = try await client.create(makeCVC("pvc-1"))
            let error = try #require(await kubernetesError { try await client.create(makeCVC("pvc-1")) })
            #expect(error.kind == .alreadyExists)
            #expect(error.httpStatus == 409)
            #expect(error.status?.reason == "AlreadyExists")
            #expect(error.message.contains("cstorvolumeconfigs.cstor.openebs.io \"pvc-1\" already exists"))
            #expect(error.csiError.code == .alreadyExists)
            #expect(error.csiError.message.contains("already exists"))
        }
    }

    @Test("A missing object is NotFound; the Status message reaches the error, the CSI error and the log")
    func notFound() async throws {
        let logs = LogCapture()
        try await withServerAndClient(logs: logs) { _, client in
            let error = try #require(await kubernetesError { try await client.get(CStorVolume.self, name: "nope", namespace: "openebs") })
            #expect(error.kind == .notFound)
            #expect(error.status?.details?.name == "nope")
            #expect(error.message.contains("cstorvolumes.cstor.openebs.io \"nope\" not found"))
            #expect(error.description.contains("get cstorvolumes.cstor.openebs.io openebs/nope"))
            let csi = CSIError.from(error)
            #expect(csi.code == .notFound)
            #expect(csi.message.contains("\"nope\" not found"))
            let line = try #require(logs.lines.first { $0.metadata["k8s_name"] == "nope" })
            #expect(line.metadata["k8s_verb"] == "get")
            #expect(line.metadata["k8s_resource"] == "cstorvolumes.cstor.openebs.io")
            #expect(line.metadata["http_status"] == "404")
            #expect(line.metadata["error"]?.contains("not found") == true)
        }
    }

    @Test("An update with a stale resourceVersion is a Conflict (ABORTED for CSI)")
    func conflict() async throws {
        try await withServerAndClient { _, client in
            let created = try await client.create(makeCVC("pvc-1"))
            var first = created
            first.metadata.labels["writer"] = "one"
            _ = try await client.update(first)
            var stale = created
            stale.metadata.labels["writer"] = "two"
            let error = try #require(await kubernetesError { try await client.update(stale) })
            #expect(error.kind == .conflict)
            #expect(error.message.contains("the object has been modified"))
            #expect(error.csiError.code == .aborted)
        }
    }

    @Test("updateWithRetry re-reads after a Conflict and keeps the other writer's change")
    func updateWithRetry() async throws {
        try await withServerAndClient { server, client in
            _ = try await client.create(makeCVC("pvc-1"))
            let attempts = Locked(0)
            let result = try await client.updateWithRetry(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace) { cvc in
                let attempt = attempts.withLock { value -> Int in
                    value += 1
                    return value
                }
                if attempt == 1 {
                    // Someone else writes between our read and our write.
                    server.store.modify(CStorVolumeConfig.self, namespace: "openebs", name: "pvc-1") {
                        $0.metadata.labels["other"] = "writer"
                    }
                }
                cvc.metadata.annotations["mine"] = "yes"
            }
            #expect(attempts.value == 2)
            #expect(result.metadata.labels["other"] == "writer")
            #expect(result.metadata.annotations["mine"] == "yes")
            #expect(server.requestCount(verb: "update") == 2)
        }
    }

    @Test("updateWithRetry writes nothing when the change is already there")
    func updateWithRetryNoOp() async throws {
        try await withServerAndClient { server, client in
            _ = try await client.create(makeCVC("pvc-1"))
            _ = try await client.updateWithRetry(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace) { cvc in
                cvc.metadata.labels["openebs.io/cstor-pool-cluster"] = "cspc-a"
            }
            #expect(server.requestCount(verb: "update") == 0)
        }
    }

    @Test("updateWithRetry gives up after its attempts when every write conflicts")
    func updateWithRetryGivesUp() async throws {
        try await withServerAndClient { server, client in
            _ = try await client.create(makeCVC("pvc-1"))
            let error = await kubernetesError {
                try await client.updateWithRetry(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace, attempts: 3) { cvc in
                    server.store.modify(CStorVolumeConfig.self, namespace: "openebs", name: "pvc-1") {
                        $0.metadata.labels["round"] = String(Int.random(in: 0...1_000_000))
                    }
                    cvc.metadata.annotations["mine"] = "yes"
                }
            }
            #expect(error?.kind == .conflict)
            #expect(server.requestCount(verb: "update") == 3)
        }
    }

    @Test("Paging: a list with a limit returns a continue token, and listAll follows it across pages")
    func paging() async throws {
        try await withServerAndClient { server, client in
            for index in 0..<7 {
                _ = try await client.create(makeCVC("pvc-\(index)"))
            }
            let first = try await client.list(CStorVolumeConfig.self, namespace: namespace, options: ListOptions(limit: 3))
            #expect(first.items.map(\.metadata.name) == ["pvc-0", "pvc-1", "pvc-2"])
            #expect(first.continueToken != nil)
            #expect(first.remainingItemCount == 4)
            let second = try await client.list(
                CStorVolumeConfig.self, namespace: namespace, options: ListOptions(limit: 3, continueToken: first.continueToken))
            #expect(second.items.map(\.metadata.name) == ["pvc-3", "pvc-4", "pvc-5"])
            #expect(second.resourceVersion == first.resourceVersion)

            server.clearRequestLog()
            let all = try await client.listAll(CStorVolumeConfig.self, namespace: namespace, pageSize: 3)
            #expect(all.items.map(\.metadata.name) == (0..<7).map { "pvc-\($0)" })
            #expect(all.continueToken == nil)
            #expect(server.requestCount(verb: "list") == 3)
        }
    }

    @Test("A continue token older than the server's history is Gone")
    func expiredContinueToken() async throws {
        try await withServerAndClient { server, client in
            for index in 0..<3 {
                _ = try await client.create(makeCVC("pvc-\(index)"))
            }
            let first = try await client.list(CStorVolumeConfig.self, namespace: namespace, options: ListOptions(limit: 1))
            _ = try await client.create(makeCVC("pvc-9"))
            server.store.compact()
            let error = await kubernetesError {
                try await client.list(CStorVolumeConfig.self, namespace: namespace, options: ListOptions(limit: 1, continueToken: first.continueToken))
            }
            #expect(error?.kind == .gone)
            #expect(error?.status?.reason == "Expired")
        }
    }

    @Test("Label and field selectors choose the objects a list returns")
    func selectors() async throws {
        try await withServerAndClient { _, client in
            for (volume, node) in [("pvc-1", "node-a"), ("pvc-2", "node-a"), ("pvc-3", "node-b")] {
                _ = try await client.create(
                    CStorVolumeAttachment(
                        metadata: ObjectMeta(name: "\(volume)-\(node)", namespace: namespace, labels: ["Volname": volume, "nodeID": node]),
                        spec: .init(
                            iscsi: .init(iqn: "iqn.2016-09.com.openebs.cstor:\(volume)", lun: "0", targetPortal: "10.96.0.2:3260"),
                            volume: .init(name: volume, ownerNodeID: node))))
            }
            let onA = try await client.list(CStorVolumeAttachment.self, namespace: namespace, options: ListOptions(labelSelector: "nodeID=node-a"))
            #expect(onA.items.map(\.metadata.name) == ["pvc-1-node-a", "pvc-2-node-a"])
            let selector = LabelSelector([.equals("Volname", "pvc-3"), .in("nodeID", ["node-a", "node-b"])]).description
            let three = try await client.list(CStorVolumeAttachment.self, namespace: namespace, options: ListOptions(labelSelector: selector))
            #expect(three.items.map(\.metadata.name) == ["pvc-3-node-b"])
            let byName = try await client.list(
                CStorVolumeAttachment.self, namespace: namespace, options: ListOptions(fieldSelector: "metadata.name=pvc-2-node-a"))
            #expect(byName.items.map(\.metadata.name) == ["pvc-2-node-a"])
            let notB = try await client.list(
                CStorVolumeAttachment.self, namespace: nil, options: ListOptions(labelSelector: "nodeID!=node-b"))
            #expect(notB.items.count == 2)
            let other = try await client.list(CStorVolumeAttachment.self, namespace: "elsewhere")
            #expect(other.items.isEmpty)
            let bad = await kubernetesError {
                try await client.list(CStorVolumeAttachment.self, namespace: namespace, options: ListOptions(fieldSelector: "spec.volume.name=x"))
            }
            #expect(bad?.kind == .badRequest)
            #expect(bad?.message.contains("field label not supported") == true)
        }
    }

    @Test("Merge and JSON patches change the object; a failed JSON patch test is Invalid")
    func patches() async throws {
        try await withServerAndClient { _, client in
            let created = try await client.create(makeCVC("pvc-1"))
            let bound = try await client.mergePatch(
                CStorVolumeConfig.self, name: "pvc-1", namespace: namespace,
                ["status": ["phase": "Bound", "capacity": ["storage": "5Gi"]], "publish": ["nodeId": "node-a"]])
            #expect(bound.phase == .bound)
            #expect(bound.publish?.nodeId == "node-a")

            let released = try await client.jsonPatch(
                CStorVolumeConfig.self, name: "pvc-1", namespace: namespace,
                [.test("/metadata/resourceVersion", .string(bound.metadata.resourceVersion)), .remove("/metadata/finalizers/0")])
            #expect(released.metadata.finalizers.isEmpty)

            let failed = await kubernetesError {
                try await client.jsonPatch(
                    CStorVolumeConfig.self, name: "pvc-1", namespace: namespace,
                    [.test("/metadata/resourceVersion", .string(created.metadata.resourceVersion)), .add("/metadata/labels/x", "y")])
            }
            #expect(failed?.kind == .invalid)
            #expect(failed?.csiError.code == .internalError, "an object the driver built and the API refused is the driver's fault")

            let stale = await kubernetesError {
                try await client.mergePatch(
                    CStorVolumeConfig.self, name: "pvc-1", namespace: namespace,
                    ["metadata": ["resourceVersion": .string(created.metadata.resourceVersion), "labels": ["x": "y"]]])
            }
            #expect(stale?.kind == .conflict)
        }
    }

    @Test("Delete preconditions: a wrong uid or resourceVersion is a Conflict, the right ones delete")
    func deletePreconditions() async throws {
        try await withServerAndClient { _, client in
            var cvc = makeCVC("pvc-1")
            cvc.metadata.finalizers = []
            let created = try await client.create(cvc)
            let wrongUID = await kubernetesError {
                try await client.delete(
                    CStorVolumeConfig.self, name: "pvc-1", namespace: namespace, options: DeleteOptions(preconditionUID: "other"))
            }
            #expect(wrongUID?.kind == .conflict)
            #expect(wrongUID?.message.contains("Precondition failed") == true)
            let wrongVersion = await kubernetesError {
                try await client.delete(
                    CStorVolumeConfig.self, name: "pvc-1", namespace: namespace, options: DeleteOptions(preconditionResourceVersion: "1"))
            }
            #expect(wrongVersion?.kind == .conflict)
            let result = try await client.delete(
                CStorVolumeConfig.self, name: "pvc-1", namespace: namespace,
                options: DeleteOptions(preconditionUID: created.metadata.uid, preconditionResourceVersion: created.metadata.resourceVersion))
            #expect(result == .deleted)
        }
    }

    /// A CVC without finalizers that owns a CV holding a finalizer of its own.
    func ownerAndDependent(_ client: HTTPKubernetesClient) async throws -> (CStorVolumeConfig, CStorVolume) {
        var cvc = makeCVC("pvc-1")
        cvc.metadata.finalizers = []
        let owner = try await client.create(cvc)
        let dependent = try await client.create(
            CStorVolume(
                metadata: ObjectMeta(
                    name: "pvc-1", namespace: namespace, ownerReferences: [OwnerReference(controller: owner)],
                    finalizers: ["test.openebs.io/hold"]),
                spec: .init()))
        return (owner, dependent)
    }

    @Test("Foreground deletion keeps the owner until its dependents are gone")
    func foregroundDeletion() async throws {
        try await withServerAndClient { server, client in
            _ = try await ownerAndDependent(client)
            let result = try await client.delete(
                CStorVolumeConfig.self, name: "pvc-1", namespace: namespace, options: DeleteOptions(propagationPolicy: .foreground))
            guard case .markedForDeletion(let metadata) = result else {
                Issue.record("foreground deletion must keep the owner, got \(result)")
                return
            }
            #expect(metadata.finalizers.contains(KubeAPIStore.foregroundFinalizer))
            let dependent = try await client.get(CStorVolume.self, name: "pvc-1", namespace: namespace)
            #expect(dependent.metadata.isBeingDeleted)
            _ = try await client.jsonPatch(CStorVolume.self, name: "pvc-1", namespace: namespace, [.remove("/metadata/finalizers")])
            #expect(server.store.object(.cstorVolumes, namespace: namespace, name: "pvc-1") == nil)
            #expect(server.store.object(.cstorVolumeConfigs, namespace: namespace, name: "pvc-1") == nil)
        }
    }

    @Test("Background deletion removes the owner at once and then its dependents; orphan keeps them")
    func backgroundAndOrphanDeletion() async throws {
        try await withServerAndClient { server, client in
            _ = try await ownerAndDependent(client)
            let result = try await client.delete(
                CStorVolumeConfig.self, name: "pvc-1", namespace: namespace, options: DeleteOptions(propagationPolicy: .background))
            #expect(result == .deleted)
            let dependent = try await client.get(CStorVolume.self, name: "pvc-1", namespace: namespace)
            #expect(dependent.metadata.isBeingDeleted)

            var cvc = makeCVC("pvc-2")
            cvc.metadata.finalizers = []
            let owner = try await client.create(cvc)
            _ = try await client.create(
                CStorVolume(
                    metadata: ObjectMeta(name: "pvc-2", namespace: namespace, ownerReferences: [OwnerReference(controller: owner)]),
                    spec: .init()))
            #expect(try await client.delete(
                CStorVolumeConfig.self, name: "pvc-2", namespace: namespace, options: DeleteOptions(propagationPolicy: .orphan)) == .deleted)
            let orphan = try await client.get(CStorVolume.self, name: "pvc-2", namespace: namespace)
            #expect(orphan.metadata.ownerReferences.isEmpty)
            #expect(!orphan.metadata.isBeingDeleted)
            #expect(server.store.object(.cstorVolumes, namespace: namespace, name: "pvc-2") != nil)
        }
    }

    @Test("No finalizer can be added to an object that is being deleted")
    func noNewFinalizersWhileDeleting() async throws {
        try await withServerAndClient { _, client in
            _ = try await client.create(makeCVC("pvc-1"))
            _ = try await client.delete(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace)
            let error = await kubernetesError {
                try await client.updateWithRetry(CStorVolumeConfig.self, name: "pvc-1", namespace: namespace) {
                    $0.metadata.finalizers.append("another")
                }
            }
            #expect(error?.kind == .invalid)
        }
    }

    @Test("An object without a name is Invalid, the cause names the field, and by default it is the driver's fault (Internal)")
    func invalidObject() async throws {
        var nameless = makeCVC("")
        nameless.metadata.name = ""
        let (missing, badName) = try await withServerAndClient { [nameless] _, client in
            (await Self.createError(client, nameless), await Self.createError(client, makeCVC("Bad_Name")))
        }
        let error = try #require(missing)
        #expect(error.kind == .invalid)
        #expect(error.causes.first?.field == "metadata.name")
        #expect(error.csiError.code == .internalError)
        #expect(error.csiError.message.contains("metadata.name"))
        #expect(error.csiError.message.contains("cstor-csi built"))
        #expect(badName?.kind == .invalid)
        #expect(badName?.message.contains("RFC 1123") == true)
    }

    static func createError(_ client: HTTPKubernetesClient, _ cvc: CStorVolumeConfig) async -> KubernetesError? {
        do {
            _ = try await client.create(cvc)
            return nil
        } catch {
            return error as? KubernetesError
        }
    }

    @Test("generateName makes a unique name")
    func generateName() async throws {
        try await withServerAndClient { _, client in
            var cvc = makeCVC("")
            cvc.metadata.name = ""
            cvc.metadata.generateName = "pvc-"
            let first = try await client.create(cvc)
            let second = try await client.create(cvc)
            #expect(first.metadata.name.hasPrefix("pvc-"))
            #expect(first.metadata.name != second.metadata.name)
        }
    }

    @Test("Cluster-scoped and core resources: nodes, persistent volumes, claims with a status subresource, events")
    func coreResources() async throws {
        try await withServerAndClient { _, client in
            _ = try await client.create(Node(metadata: ObjectMeta(name: "node-a", labels: ["topology.cstor.openebs.io/nodeName": "node-a"])))
            let nodes = try await client.list(Node.self, namespace: nil)
            #expect(nodes.items.map(\.metadata.name) == ["node-a"])
            #expect(nodes.items.first?.kind == "Node")

            let volume = try await client.create(
                PersistentVolume(
                    metadata: ObjectMeta(name: "pvc-1"),
                    spec: .init(capacity: ["storage": try Quantity(parsing: "5Gi")], csi: .init(driver: "cstor.csi.openebs.io", volumeHandle: "pvc-1"))))
            #expect(volume.metadata.namespace.isEmpty)
            #expect(volume.spec.csi?.volumeHandle == "pvc-1")

            var claim = try await client.create(
                PersistentVolumeClaim(
                    metadata: ObjectMeta(name: "data", namespace: "default"),
                    spec: .init(accessModes: ["ReadWriteOnce"], resources: .init(requests: ["storage": try Quantity(parsing: "5Gi")])),
                    status: .init(phase: "Bound")))
            #expect(claim.status == nil)
            claim.status = .init(phase: "Bound")
            claim = try await client.update(claim)
            #expect(claim.status == nil)
            claim.status = .init(phase: "Bound", capacity: ["storage": try Quantity(parsing: "5Gi")])
            claim = try await client.update(claim, subresource: "status")
            #expect(claim.status?.phase == "Bound")

            let event = try await client.create(
                KubernetesEvent(
                    metadata: ObjectMeta(name: "pvc-1.17a", namespace: "default"),
                    involvedObject: ObjectReference(kind: "PersistentVolumeClaim", name: "data", namespace: "default"),
                    reason: "Provisioning", message: "provisioning pvc-1", type: "Normal", source: .init(component: "cstor-csi")))
            #expect(event.reason == "Provisioning")
            let events = try await client.list(
                KubernetesEvent.self, namespace: "default", options: ListOptions(fieldSelector: "involvedObject.name=data"))
            #expect(events.items.count == 1)
        }
    }

    @Test("missingResources reports the cStor CRDs the server does not serve")
    func missingCRDs() async throws {
        try await withServerAndClient { server, client in
            let none = try await client.missingResources(KubernetesResource.cstorResources)
            #expect(none.isEmpty)
            server.store.unregister(.cstorVolumeConfigs)
            let one = try await client.missingResources(KubernetesResource.cstorResources)
            #expect(one == [KubernetesResource.cstorVolumeConfigs])
            for resource in KubernetesResource.cstorResources {
                server.store.unregister(resource)
            }
            let all = try await client.missingResources([.cstorVolumes, .nodes])
            #expect(all == [KubernetesResource.cstorVolumes])
            let error = await kubernetesError { try await client.list(CStorVolume.self, namespace: "openebs") }
            #expect(error?.kind == .notFound)
        }
    }

    @Test("The observer hears of every request with verb, resource, status code and duration")
    func observer() async throws {
        let records = Locked<[KubernetesRequestRecord]>([])
        try await withServerAndClient(observer: { record in records.withLock { $0.append(record) } }) { _, client in
            _ = try await client.create(makeCVC("pvc-1"))
            _ = await kubernetesError { try await client.get(CStorVolume.self, name: "none", namespace: "openebs") }
        }
        let seen = records.value
        #expect(seen.map(\.verb) == ["create", "get"])
        #expect(seen.map(\.statusCode) == [201, 404])
        #expect(seen.first?.resource == "cstorvolumeconfigs.cstor.openebs.io")
        #expect(seen.allSatisfy { $0.seconds >= 0 && $0.seconds < 10 })
    }
}

@Suite("Kubernetes errors as CSI errors")
struct KubernetesErrorMappingTests {
    static let table: [(KubernetesError.Kind, RPCError.Code)] = [
        (.notFound, .notFound), (.alreadyExists, .alreadyExists), (.conflict, .aborted), (.gone, .aborted),
        (.invalid, .internalError), (.forbidden, .failedPrecondition), (.unauthorized, .unavailable),
        (.tooManyRequests, .unavailable), (.serverError, .unavailable), (.timeout, .unavailable), (.transport, .unavailable),
        (.badRequest, .internalError), (.methodNotAllowed, .internalError), (.unexpectedResponse, .internalError),
        (.configuration, .failedPrecondition),
    ]

    @Test("Each kind maps to the code the CSI sidecars expect, and the message survives", arguments: table)
    func mapping(kind: KubernetesError.Kind, code: RPCError.Code) {
        let error = KubernetesError(kind, "server says: details here", httpStatus: 418, operation: "get cstorvolumes.cstor.openebs.io openebs/x")
        let csi = CSIError.from(error)
        #expect(csi.code == code)
        #expect(csi.message.contains("server says: details here"))
        #expect(csi.message.contains("openebs/x"))
    }

    @Test("Forbidden and Unauthorized tell the operator what to check")
    func hints() {
        #expect(KubernetesError(.forbidden, "denied").csiError.message.contains("RBAC"))
        #expect(KubernetesError(.unauthorized, "denied").csiError.message.contains("credentials"))
    }

    @Test("Every kind has a mapping test", arguments: KubernetesError.Kind.allCases)
    func everyKindCovered(kind: KubernetesError.Kind) {
        #expect(Self.table.contains { $0.0 == kind })
    }
}
