import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorKubernetesHTTP
import CStorModel
import Foundation
import Testing

/// The test API server must refuse what kube-apiserver refuses, with its words: the CRDs' OpenAPI
/// schemas (with pruning), object metadata rules, the status subresource, RBAC for service
/// accounts, and list options. The expected texts follow kube-apiserver's sources
/// (apiextensions-apiserver's `ValidateCustomResource`, kube-openapi's validators and messages,
/// apimachinery's `field.Error` and `IsQualifiedName`/`IsValidLabelValue`, the RBAC authorizer's
/// `forbiddenMessage`); the first row is the refusal a real cluster answered to the CVC the
/// controller wrote before this server checked schemas.
@Suite("The stand-in refuses what the API refuses")
struct StandInStrictnessTests {
    static let namespace = "openebs"
    static let quantityPattern = #"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"#

    /// The CVC as cstor-controller wrote it up to e7c29e4: no spec.policy, no versionDetails.
    static let cvcWithoutPolicy: JSONValue = [
        "apiVersion": "cstor.openebs.io/v1", "kind": "CStorVolumeConfig",
        "metadata": [
            "name": "pvc-1", "namespace": "openebs", "labels": ["openebs.io/cstor-pool-cluster": "cspc-test"],
            "annotations": ["openebs.io/volumeID": "pvc-1", "openebs.io/volume-policy": "", "openebs.io/persistent-volume-claim": "data-1"],
            "finalizers": ["cvc.openebs.io/finalizer"],
        ],
        "spec": ["capacity": ["storage": "5Gi"], "provision": ["capacity": ["storage": "5Gi"], "replicaCount": 3]],
        "status": ["phase": "Pending"],
    ]

    /// A CVC as it must be written: what openebs/cstor-csi wrote.
    static let validCVC: JSONValue = {
        var cvc = cvcWithoutPolicy
        cvc["spec"]?["policy"] = ["provision": ["replicaAffinity": false], "replica": [:], "target": [:]]
        cvc["versionDetails"] = ["status": ["dependentsUpgraded": true]]
        return cvc
    }()

    static let validCVA: JSONValue = [
        "metadata": ["name": "pvc-1-node-1", "namespace": "openebs", "labels": ["Volname": "pvc-1", "nodeID": "node-1"]],
        "spec": [
            "iscsi": ["iqn": "iqn.2016-09.com.openebs.cstor:pvc-1", "lun": "0", "targetPortal": "10.96.0.2:3260"],
            "volume": ["name": "pvc-1", "ownerNodeID": "node-1"],
        ],
    ]

    static func changed(_ object: JSONValue, _ path: [String], _ value: JSONValue?) -> JSONValue {
        guard let first = path.first else { return value ?? .null }
        var copy = object
        if path.count == 1 {
            copy[first] = value
        } else {
            copy[first] = changed(object[first] ?? [:], Array(path.dropFirst()), value)
        }
        return copy
    }

    struct Refusal: Sendable, CustomTestStringConvertible {
        var name: String
        var resource: KubernetesResource
        var object: JSONValue
        var message: String

        var testDescription: String { name }
    }

    static let refusals: [Refusal] = [
        Refusal(
            name: "the CVC the controller wrote up to e7c29e4", resource: .cstorVolumeConfigs, object: cvcWithoutPolicy,
            message: #"CStorVolumeConfig.cstor.openebs.io "pvc-1" is invalid: [spec.policy: Required value, versionDetails: Required value]"#),
        Refusal(
            name: "a CVC without replicaCount", resource: .cstorVolumeConfigs,
            object: changed(validCVC, ["spec", "provision", "replicaCount"], nil),
            message: #"CStorVolumeConfig.cstor.openebs.io "pvc-1" is invalid: spec.provision.replicaCount: Required value"#),
        Refusal(
            name: "replicaCount as a string", resource: .cstorVolumeConfigs,
            object: changed(validCVC, ["spec", "provision", "replicaCount"], "3"),
            message: #"CStorVolumeConfig.cstor.openebs.io "pvc-1" is invalid: spec.provision.replicaCount: Invalid value: "string": spec.provision.replicaCount in body must be of type integer: "string""#),
        Refusal(
            name: "a capacity that is not a quantity", resource: .cstorVolumeConfigs,
            object: changed(validCVC, ["spec", "capacity", "storage"], "5 GiB"),
            message: #"CStorVolumeConfig.cstor.openebs.io "pvc-1" is invalid: spec.capacity.storage: Invalid value: "5 GiB": spec.capacity.storage in body should match '"#
                + quantityPattern + "'"),
        Refusal(
            name: "a capacity that is neither integer nor string (int-or-string, anyOf)", resource: .cstorVolumeConfigs,
            object: changed(validCVC, ["spec", "capacity", "storage"], true),
            message: #"CStorVolumeConfig.cstor.openebs.io "pvc-1" is invalid: [spec.capacity.storage: Invalid value: "boolean": spec.capacity.storage in body must be of type integer,string: "boolean", <nil>: Invalid value: "": "spec.capacity.storage" must validate at least one schema (anyOf), spec.capacity.storage: Invalid value: "boolean": spec.capacity.storage in body must be of type integer: "boolean"]"#),
        Refusal(
            name: "policy.provision without replicaAffinity", resource: .cstorVolumeConfigs,
            object: changed(validCVC, ["spec", "policy", "provision"], [:]),
            message: #"CStorVolumeConfig.cstor.openebs.io "pvc-1" is invalid: spec.policy.provision.replicaAffinity: Required value"#),
        Refusal(
            name: "a status condition without reason and message (array items)", resource: .cstorVolumeConfigs,
            object: changed(validCVC, ["status", "condition"], [["type": "Resizing"]]),
            message: #"CStorVolumeConfig.cstor.openebs.io "pvc-1" is invalid: [status.condition[0].message: Required value, status.condition[0].reason: Required value]"#),
        Refusal(
            name: "a label value longer than 63 characters", resource: .cstorVolumeConfigs,
            object: changed(validCVC, ["metadata", "labels", "openebs.io/cstor-pool-cluster"], .string(String(repeating: "c", count: 64))),
            message: #"CStorVolumeConfig.cstor.openebs.io "pvc-1" is invalid: metadata.labels: Invalid value: ""#
                + String(repeating: "c", count: 64) + #"": must be no more than 63 characters"#),
        Refusal(
            name: "an annotation key whose name part is longer than 63 characters", resource: .cstorVolumeConfigs,
            object: changed(validCVC, ["metadata", "annotations", "snapshot.cstor.csi.openebs.io/" + String(repeating: "s", count: 64)], "t"),
            message: #"CStorVolumeConfig.cstor.openebs.io "pvc-1" is invalid: metadata.annotations: Invalid value: "snapshot.cstor.csi.openebs.io/"#
                + String(repeating: "s", count: 64) + #"": name part must be no more than 63 characters"#),
        Refusal(
            name: "an upper-case name", resource: .cstorVolumeConfigs, object: changed(validCVC, ["metadata", "name"], "PVC-1"),
            message: #"CStorVolumeConfig.cstor.openebs.io "PVC-1" is invalid: metadata.name: Invalid value: "PVC-1": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"#),
        Refusal(
            name: "a CVA without spec.iscsi", resource: .cstorVolumeAttachments, object: changed(validCVA, ["spec", "iscsi"], nil),
            message: #"CStorVolumeAttachment.cstor.openebs.io "pvc-1-node-1" is invalid: spec.iscsi: Required value"#),
        Refusal(
            name: "a CVA volume without ownerNodeID", resource: .cstorVolumeAttachments,
            object: changed(validCVA, ["spec", "volume", "ownerNodeID"], nil),
            message: #"CStorVolumeAttachment.cstor.openebs.io "pvc-1-node-1" is invalid: spec.volume.ownerNodeID: Required value"#),
        Refusal(
            name: "a CV timestamp that is not a date-time", resource: .cstorVolumes,
            object: ["metadata": ["name": "pvc-1", "namespace": "openebs"], "spec": [:], "status": ["lastUpdateTime": "yesterday"]],
            message: #"CStorVolume.cstor.openebs.io "pvc-1" is invalid: status.lastUpdateTime: Invalid value: "yesterday": status.lastUpdateTime in body must be of type date-time: "yesterday""#),
        Refusal(
            name: "a CV without spec", resource: .cstorVolumes, object: ["metadata": ["name": "pvc-1", "namespace": "openebs"]],
            message: #"CStorVolume.cstor.openebs.io "pvc-1" is invalid: spec: Required value"#),
        Refusal(
            name: "a pool cluster whose pool has no nodeSelector", resource: .cstorPoolClusters,
            object: [
                "metadata": ["name": "cspc-1", "namespace": "openebs"],
                "spec": ["pools": [["dataRaidGroups": [["blockDevices": [["blockDeviceName": "bd-1"]]]]]]],
            ],
            message: #"CStorPoolCluster.cstor.openebs.io "cspc-1" is invalid: spec.pools[0].nodeSelector: Required value"#),
        Refusal(
            name: "a pool instance capacity without zfs", resource: .cstorPoolInstances,
            object: [
                "metadata": ["name": "cspc-1-a", "namespace": "openebs"],
                "spec": ["dataRaidGroups": [], "nodeSelector": ["kubernetes.io/hostname": "node-1"]],
                "status": [
                    "healthyReplicas": 0, "provisionedReplicas": 0, "readOnly": false,
                    "capacity": ["free": "1Gi", "total": "2Gi", "used": "1Gi"],
                ],
            ],
            message: #"CStorPoolInstance.cstor.openebs.io "cspc-1-a" is invalid: status.capacity.zfs: Required value"#),
    ]

    @Test("Objects the API refuses are refused with its Status and causes", arguments: refusals)
    func refuses(_ refusal: Refusal) throws {
        let store = try KubeAPIStore(resources: KubeAPITestServer.defaultResources)
        let response = store.create(refusal.resource, namespace: Self.namespace, body: refusal.object)
        #expect(response.status == 422)
        #expect(response.body["reason"] == "Invalid")
        #expect(response.body["message"]?.stringValue == refusal.message)
        #expect(response.body[path: ["details", "kind"]]?.stringValue == refusal.resource.kind)
        #expect(response.body[path: ["details", "group"]]?.stringValue == refusal.resource.group)
        let causes = response.body[path: ["details", "causes"]]?.arrayValue ?? []
        #expect(!causes.isEmpty)
        for cause in causes {
            let field = cause["field"]?.stringValue ?? ""
            let message = cause["message"]?.stringValue ?? ""
            #expect(refusal.message.contains("\(field): \(message)"), "cause \(cause) is part of the message")
        }
        #expect(store.objects(refusal.resource).isEmpty, "nothing is stored")
    }

    @Test("Objects as openebs/cstor-csi and the operators wrote them pass, upstream's leftovers included")
    func acceptsValidObjects() throws {
        let store = try KubeAPIStore(resources: KubeAPITestServer.defaultResources)
        #expect(store.create(.cstorVolumeConfigs, namespace: Self.namespace, body: Self.validCVC).status == 201)
        #expect(store.create(.cstorVolumeAttachments, namespace: Self.namespace, body: Self.validCVA).status == 201)
        let text = String(decoding: try Fixtures.data("upstream-3.6/objects-left-by-upstream.yaml"), as: UTF8.self)
        let resources = Dictionary(uniqueKeysWithValues: KubeAPITestServer.defaultResources.map { ($0.kind, $0) })
        var seeded = 0
        for document in try YAMLDocuments.load(text) {
            guard let kind = document["kind"]?.stringValue, let resource = resources[kind] else { continue }
            var object = document
            // The upstream file names owners by placeholder; any uid will do here.
            if var owners = object[path: ["metadata", "ownerReferences"]]?.arrayValue {
                for index in owners.indices { owners[index]["uid"] = "0b5c3f4e-0000-4000-8000-000000000001" }
                object["metadata"]?["ownerReferences"] = .array(owners)
            }
            let response = store.create(resource, namespace: object[path: ["metadata", "namespace"]]?.stringValue, body: object)
            #expect(response.status == 201, "\(kind) \(object[path: ["metadata", "name"]] ?? .null): \(response.body)")
            seeded += 1
        }
        #expect(seeded >= 10)
    }

    @Test("Unknown fields are pruned with a warning, not stored; nulls of fields that are not nullable are dropped")
    func pruning() throws {
        let store = try KubeAPIStore(resources: KubeAPITestServer.defaultResources)
        var object = Self.validCVC
        object["spec"]?["surprise"] = "x"
        object["spec"]?["cstorVolumeSource"] = nil
        object["spec"]?["cstorVolumeSource"] = .null
        object["metadata"]?["color"] = "blue"
        object["versionDetails"]?["status"]?["lastUpdateTime"] = .null
        let response = store.create(.cstorVolumeConfigs, namespace: Self.namespace, body: object)
        #expect(response.status == 201)
        let stored = try #require(store.object(.cstorVolumeConfigs, namespace: Self.namespace, name: "pvc-1"))
        #expect(stored[path: ["spec", "surprise"]] == nil)
        #expect(stored[path: ["metadata", "color"]] == nil)
        #expect(stored["spec"]?.objectValue?.keys.contains("cstorVolumeSource") == false, "a null that is not nullable is dropped")
        #expect(stored[path: ["versionDetails", "status", "lastUpdateTime"]] == .null, "a nullable null is kept")
        let warnings = response.headers.filter { $0.0 == "Warning" }.map(\.1)
        #expect(warnings == [#"299 - "unknown field \"metadata.color\"""#, #"299 - "unknown field \"spec.surprise\"""#])
    }

    // MARK: - Keywords the cStor CRDs do not use, and the status subresource

    static let widgetCRD = """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata:
          name: widgets.test.cstor.io
        spec:
          group: test.cstor.io
          names: {kind: Widget, plural: widgets}
          scope: Namespaced
          versions:
          - name: v1
            served: true
            storage: true
            subresources: {status: {}}
            schema:
              openAPIV3Schema:
                type: object
                properties:
                  spec:
                    type: object
                    required: [mode]
                    properties:
                      mode: {type: string, enum: [slow, safe]}
                      replicas: {type: integer, minimum: 1, maximum: 64}
                      ratio: {type: number, maximum: 1.5, exclusiveMaximum: true}
                      note: {type: string, nullable: true}
                      extra: {type: object, x-kubernetes-preserve-unknown-fields: true}
                  status:
                    type: object
                    properties:
                      phase: {type: string}
        """

    static func widgets() throws -> (KubeAPIStore, KubernetesResource) {
        let definition = try CustomResourceDefinition(try #require(YAMLDocuments.load(widgetCRD).first))
        let store = try KubeAPIStore(resources: KubeAPITestServer.defaultResources)
        store.register(definition)
        return (store, definition.resource)
    }

    static func widget(_ spec: JSONValue, status: JSONValue? = nil) -> JSONValue {
        var object: JSONValue = ["metadata": ["name": "w-1", "namespace": "openebs"], "spec": spec]
        if let status { object["status"] = status }
        return object
    }

    static let keywordCases: [(spec: JSONValue, errors: String)] = [
            (["mode": "fast"], #"spec.mode: Unsupported value: "fast": supported values: "slow", "safe""#),
            (["mode": "safe", "replicas": 0], "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1"),
            (["mode": "safe", "replicas": 65], "spec.replicas: Invalid value: 65: spec.replicas in body should be less than or equal to 64"),
            (["mode": "safe", "ratio": 1.5], "spec.ratio: Invalid value: 1.5: spec.ratio in body should be less than 1.5"),
            (["replicas": 2], "spec.mode: Required value"),
            (
                ["mode": "fast", "replicas": 0],
                #"[spec.mode: Unsupported value: "fast": supported values: "slow", "safe", spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1]"#
            ),
    ]

    @Test("enum, minimum, maximum and exclusiveMaximum are enforced with the API's words", arguments: keywordCases)
    func keywords(_ keywordCase: (spec: JSONValue, errors: String)) throws {
        let (spec, errors) = keywordCase
        let (store, resource) = try Self.widgets()
        let response = store.create(resource, namespace: Self.namespace, body: Self.widget(spec))
        #expect(response.status == 422)
        #expect(response.body["message"]?.stringValue == #"Widget.test.cstor.io "w-1" is invalid: "# + errors)
    }

    @Test("nullable keeps a null, x-kubernetes-preserve-unknown-fields keeps unknown members, valid values pass")
    func keywordsThatAccept() throws {
        let (store, resource) = try Self.widgets()
        let spec: JSONValue = ["mode": "safe", "replicas": 64, "ratio": 1.25, "note": .null, "extra": ["anything": ["goes": 1]], "bogus": 1]
        #expect(store.create(resource, namespace: Self.namespace, body: Self.widget(spec)).status == 201)
        let stored = try #require(store.object(resource, namespace: Self.namespace, name: "w-1"))
        #expect(stored[path: ["spec", "note"]] == .null)
        #expect(stored[path: ["spec", "extra", "anything", "goes"]] == 1)
        #expect(stored[path: ["spec", "bogus"]] == nil)
    }

    @Test("With a status subresource, status goes only through /status and spec only through the main resource")
    func statusSubresource() throws {
        let (store, resource) = try Self.widgets()
        let created = store.create(resource, namespace: Self.namespace, body: Self.widget(["mode": "slow"], status: ["phase": "Ready"]))
        #expect(created.status == 201)
        #expect(created.body["status"] == nil, "status is not set by a create")
        let first = try #require(store.object(resource, namespace: Self.namespace, name: "w-1"))

        var main = first
        main["spec"]?["mode"] = "safe"
        main["status"] = ["phase": "Ready"]
        let updated = store.update(resource, namespace: Self.namespace, name: "w-1", body: main)
        #expect(updated.status == 200)
        #expect(updated.body[path: ["spec", "mode"]] == "safe")
        #expect(updated.body["status"] == nil, "status written through the main resource is ignored")
        #expect(updated.body[path: ["metadata", "generation"]] == 2)

        var viaStatus = updated.body
        viaStatus["spec"]?["mode"] = "slow"
        viaStatus["status"] = ["phase": "Ready"]
        let statusWrite = store.update(resource, namespace: Self.namespace, name: "w-1", body: viaStatus, subresource: "status")
        #expect(statusWrite.status == 200)
        #expect(statusWrite.body[path: ["status", "phase"]] == "Ready")
        #expect(statusWrite.body[path: ["spec", "mode"]] == "safe", "spec written through /status is ignored")
        #expect(statusWrite.body[path: ["metadata", "generation"]] == 2, "a status change is not a new generation")

        // The cStor CRDs declare `subresources: {}`: no /status; status is part of the object.
        let cvcStore = try KubeAPIStore(resources: KubeAPITestServer.defaultResources)
        #expect(cvcStore.create(.cstorVolumeConfigs, namespace: Self.namespace, body: Self.validCVC).status == 201)
        let cvc = try #require(cvcStore.object(.cstorVolumeConfigs, namespace: Self.namespace, name: "pvc-1"))
        #expect(cvc[path: ["status", "phase"]] == "Pending")
        #expect(cvcStore.update(.cstorVolumeConfigs, namespace: Self.namespace, name: "pvc-1", body: cvc, subresource: "status").status == 404)
    }

    @Test("A keyword the stand-in does not implement makes the CRD fail to load instead of being ignored")
    func unknownKeyword() throws {
        let text = Self.widgetCRD.replacingOccurrences(of: "mode: {type: string, enum: [slow, safe]}", with: "mode: {type: string, maxLength: 4}")
        let document = try #require(try YAMLDocuments.load(text).first)
        #expect(throws: (any Error).self) { try CustomResourceDefinition(document) }
    }

    // MARK: - List options

    @Test("resourceVersionMatch and resourceVersion on a list and a watch, as kube-apiserver validates and serves them")
    func listOptions() throws {
        let store = try KubeAPIStore(resources: KubeAPITestServer.defaultResources)
        #expect(store.create(.cstorVolumeConfigs, namespace: Self.namespace, body: Self.validCVC).status == 201)
        let before = String(store.currentRevision)
        #expect(store.create(.cstorVolumeConfigs, namespace: Self.namespace, body: Self.changed(Self.validCVC, ["metadata", "name"], "pvc-2")).status == 201)
        func list(_ version: String?, _ match: String?) -> KubeAPIResponse {
            store.list(
                .cstorVolumeConfigs, namespace: Self.namespace, labelSelector: nil, fieldSelector: nil, limit: nil, continueToken: nil,
                resourceVersion: version, resourceVersionMatch: match)
        }
        let noVersion = list(nil, "NotOlderThan")
        #expect(noVersion.status == 422)
        #expect(
            noVersion.body["message"]
                == #"ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"#)
        #expect(
            list("1", "Newest").body["message"]
                == #"ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Unsupported value: "Newest": supported values: "Exact", "NotOlderThan", """#)
        #expect(
            list("0", "Exact").body["message"]
                == #"ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0""#)
        let exact = list(before, "Exact")
        #expect(exact.status == 200)
        #expect(exact.body[path: ["metadata", "resourceVersion"]]?.stringValue == before)
        #expect(exact.body["items"]?.arrayValue?.count == 1, "the state at that version")
        #expect(list(before, "NotOlderThan").body["items"]?.arrayValue?.count == 2)
        #expect(list("0", nil).body["items"]?.arrayValue?.count == 2)
        let future = list(String(store.currentRevision + 10), "NotOlderThan")
        #expect(future.status == 504)
        #expect(future.body[path: ["details", "causes"]]?.arrayValue?.first?["reason"] == "ResourceVersionTooLarge")
        store.compact()
        #expect(list(before, "Exact").status == 410)
        let watch = store.watch(
            .cstorVolumeConfigs, namespace: Self.namespace, resourceVersion: before, labelSelector: nil, fieldSelector: nil, bookmarks: true,
            resourceVersionMatch: "NotOlderThan")
        guard case .failure(let refused) = watch else {
            Issue.record("a watch with resourceVersionMatch is refused")
            return
        }
        #expect(
            refused.body["message"]
                == #"ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"#)
    }

    // MARK: - RBAC

    static let controller = KubeAPIUser.serviceAccount(namespace: "openebs", name: "cstor-csi-controller")

    @Test("The chart's controller account gets kube-apiserver's 403 for anything its rules do not grant")
    func rbacDenies() async throws {
        try await withServerAndClient { server, _ in
            let token = server.serviceAccountToken(namespace: "openebs", name: "cstor-csi-controller")
            try await HTTPKubernetesClient.withClient(configuration: server.clientConfiguration(token: token), logger: LogCapture().logger) { client in
                let user = Self.controller.name
                let watchVolumes = await kubernetesError {
                    try await client.watchConnection(
                        .cstorVolumes, as: CStorVolume.self, namespace: "openebs", options: WatchOptions(resourceVersion: "1"))
                }
                #expect(watchVolumes?.kind == .forbidden)
                #expect(
                    watchVolumes?.status?.message
                        == #"cstorvolumes.cstor.openebs.io is forbidden: User "\#(user)" cannot watch resource "cstorvolumes" in API group "cstor.openebs.io" in the namespace "openebs""#
                )
                #expect(watchVolumes?.status?.details?.kind == "cstorvolumes")
                // (The sidecars' ClusterRoles, bound to the same account, let it read nodes.)
                let deleteNode = await kubernetesError { try await client.delete(Node.self, name: "node-1", namespace: nil) }
                #expect(
                    deleteNode?.status?.message
                        == #"nodes "node-1" is forbidden: User "\#(user)" cannot delete resource "nodes" in API group "" at the cluster scope"#)
                let elsewhere = await kubernetesError { try await client.get(CStorVolumeConfig.self, name: "pvc-1", namespace: "default") }
                #expect(
                    elsewhere?.status?.message
                        == #"cstorvolumeconfigs.cstor.openebs.io "pvc-1" is forbidden: User "\#(user)" cannot get resource "cstorvolumeconfigs" in API group "cstor.openebs.io" in the namespace "default""#
                )
                let patchAttachment = await kubernetesError {
                    try await client.mergePatch(CStorVolumeAttachment.self, name: "a", namespace: "openebs", ["metadata": ["labels": ["x": "y"]]])
                }
                #expect(patchAttachment?.kind == .forbidden)
                // What it is granted works (here: NotFound, not Forbidden), discovery included.
                let missing = await kubernetesError { try await client.get(CStorVolumeConfig.self, name: "pvc-1", namespace: "openebs") }
                #expect(missing?.kind == .notFound)
                let served = try await client.servedResources(group: "cstor.openebs.io", version: "v1")
                #expect(served.contains("cstorvolumeconfigs"))
                let watchPools = try await client.watchConnection(
                    .cstorPoolClusters, as: CStorPoolCluster.self, namespace: "openebs",
                    options: WatchOptions(resourceVersion: String(server.store.currentRevision), timeoutSeconds: 1))
                for try await _ in watchPools {}
            }
        }
    }

    @Test("The chart's Role before this fix (no watch on cstorpoolclusters) is refused with the text a real cluster gave")
    func rbacOfTheFieldRun() async throws {
        var rendering = try YAMLDocuments.load(contentsOf: RepositoryFiles.chartRBAC)
        for index in rendering.indices where rendering[index]["kind"] == "Role" && rendering[index][path: ["metadata", "name"]] == "cstor-csi-controller" {
            var rules = rendering[index]["rules"]?.arrayValue ?? []
            for rule in rules.indices where rules[rule]["resources"]?.arrayValue?.contains("cstorpoolclusters") == true {
                rules[rule]["verbs"] = ["get", "list"]
            }
            rendering[index]["rules"] = .array(rules)
        }
        let policy = try RBACPolicy(objects: rendering)
        let decision = policy.authorize(
            Self.controller,
            KubeAPIRequestAttributes(verb: "watch", group: "cstor.openebs.io", resource: "cstorpoolclusters", namespace: "openebs"))
        guard case .deny(let reason) = decision else {
            Issue.record("watch is allowed without a rule granting it")
            return
        }
        let response = RBACPolicy.forbidden(
            Self.controller, KubeAPIRequestAttributes(verb: "watch", group: "cstor.openebs.io", resource: "cstorpoolclusters", namespace: "openebs"),
            reason: reason)
        #expect(response.status == 403)
        #expect(
            response.body["message"]
                == #"cstorpoolclusters.cstor.openebs.io is forbidden: User "system:serviceaccount:openebs:cstor-csi-controller" cannot watch resource "cstorpoolclusters" in API group "cstor.openebs.io" in the namespace "openebs""#
        )
    }

    @Test("Accounts with no binding, unknown tokens and bindings to missing roles are refused as kube-apiserver refuses them")
    func rbacEdges() async throws {
        try await withServerAndClient { server, _ in
            let nodeToken = server.serviceAccountToken(namespace: "openebs", name: "cstor-csi-node")
            try await HTTPKubernetesClient.withClient(configuration: server.clientConfiguration(token: nodeToken), logger: LogCapture().logger) { client in
                #expect(await kubernetesError { try await client.list(CStorVolumeConfig.self, namespace: "openebs") }?.kind == .forbidden)
                let served = try await client.servedResources(group: "cstor.openebs.io", version: "v1")
                #expect(!served.isEmpty, "discovery is for everyone")
            }
            try await HTTPKubernetesClient.withClient(configuration: server.clientConfiguration(token: "not-a-token"), logger: LogCapture().logger) { client in
                #expect(await kubernetesError { try await client.list(CStorVolumeConfig.self, namespace: "openebs") }?.kind == .unauthorized)
            }
        }
        let policy = try RBACPolicy(objects: [
            [
                "kind": "RoleBinding", "metadata": ["name": "b", "namespace": "openebs"],
                "roleRef": ["kind": "Role", "name": "gone"], "subjects": [["kind": "ServiceAccount", "name": "x", "namespace": "openebs"]],
            ]
        ])
        let user = KubeAPIUser.serviceAccount(namespace: "openebs", name: "x")
        let request = KubeAPIRequestAttributes(verb: "get", group: "cstor.openebs.io", resource: "cstorvolumes", name: "pvc-1", namespace: "openebs")
        #expect(policy.authorize(user, request) == .deny(reason: #"RBAC: role.rbac.authorization.k8s.io "gone" not found"#))
        #expect(
            RBACPolicy.forbidden(user, request, reason: #"RBAC: role.rbac.authorization.k8s.io "gone" not found"#).body["message"]
                == #"cstorvolumes.cstor.openebs.io "pvc-1" is forbidden: User "system:serviceaccount:openebs:x" cannot get resource "cstorvolumes" in API group "cstor.openebs.io" in the namespace "openebs": RBAC: role.rbac.authorization.k8s.io "gone" not found"#
        )
    }
}
