import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Foundation
import Testing
import Yams

@Suite("cStor model")
struct ModelTests {
    // MARK: Every field of the CRD schemas

    /// A value for every property of an openAPIV3 schema: the fullest object the CRD allows.
    static func sample(_ schema: JSONValue) -> JSONValue {
        if schema["x-kubernetes-int-or-string"] == true { return "5Gi" }
        switch schema["type"]?.stringValue {
        case "object":
            if let properties = schema["properties"]?.objectValue {
                return .object(properties.mapValues { sample($0) })
            }
            if let additional = schema["additionalProperties"], additional.objectValue != nil {
                return ["key": sample(additional)]
            }
            return [:]
        case "array":
            return .array([sample(schema["items"] ?? [:])])
        case "string":
            return schema["format"] == "date-time" ? "2024-05-01T10:00:00Z" : "text"
        case "integer":
            return 7
        case "boolean":
            return true
        case "number":
            return 1.5
        default:
            return "text"
        }
    }

    /// The CRD's schema (version v1) and the fullest sample object of it.
    static func crdSample(_ file: String) throws -> (kind: String, sample: JSONValue) {
        let text = String(decoding: try Data(contentsOf: RepositoryFiles.crd(file)), as: UTF8.self)
        let crd = try YAMLDecoder().decode(JSONValue.self, from: text)
        let kind = try #require(crd[path: ["spec", "names", "kind"]]?.stringValue)
        let version = try #require(crd[path: ["spec", "versions"]]?.arrayValue?.first { $0["name"] == "v1" })
        let schema = try #require(version[path: ["schema", "openAPIV3Schema"]])
        var object = sample(schema)
        object["apiVersion"] = "cstor.openebs.io/v1"
        object["kind"] = .string(kind)
        object["metadata"] = [
            "name": "sample", "namespace": "openebs", "uid": "u-1", "resourceVersion": "42", "generation": 2,
            "labels": ["a": "b"], "annotations": ["c": "d"], "finalizers": ["f"], "creationTimestamp": "2024-05-01T10:00:00Z",
        ]
        return (kind, object)
    }

    /// Paths of every non-empty `UnknownFields` inside a value: fields without a typed home.
    static func unknownPaths(_ value: Any, _ path: String = "") -> [String] {
        if let unknown = value as? UnknownFields {
            return unknown.members.keys.sorted().map { "\(path).\($0)" }
        }
        if value is JSONValue || value is Quantity || value is String { return [] }
        let mirror = Mirror(reflecting: value)
        return mirror.children.flatMap { child in
            unknownPaths(child.value, child.label.map { "\(path).\($0)" } ?? path)
        }
    }

    static func check<Object: KubernetesResourceObject>(_ type: Object.Type, file: String) throws {
        let (kind, sample) = try crdSample(file)
        #expect(kind == Object.resource.kind)
        let decoded = try sample.decode(as: type)
        #expect(unknownPaths(decoded) == [], "fields of \(file) without a typed property")
        let encoded = try JSONValue(encoding: decoded)
        #expect(encoded.jsonEquals(sample), "\(file) round trip:\n\(encoded)\nvs\n\(sample)")
    }

    @Test("Every field of the CStorVolumeConfig CRD has a typed property and round-trips")
    func cvcSchema() throws { try Self.check(CStorVolumeConfig.self, file: "cstorvolumeconfigs.yaml") }

    @Test("Every field of the CStorVolume CRD has a typed property and round-trips")
    func cvSchema() throws { try Self.check(CStorVolume.self, file: "cstorvolumes.yaml") }

    @Test("Every field of the CStorVolumeAttachment CRD has a typed property and round-trips")
    func cvaSchema() throws { try Self.check(CStorVolumeAttachment.self, file: "cstorvolumeattachments.yaml") }

    @Test("Every field of the CStorVolumeReplica CRD has a typed property and round-trips")
    func cvrSchema() throws { try Self.check(CStorVolumeReplica.self, file: "cstorvolumereplicas.yaml") }

    @Test("Every field of the CStorPoolCluster CRD has a typed property and round-trips")
    func cspcSchema() throws { try Self.check(CStorPoolCluster.self, file: "cstorpoolclusters.yaml") }

    @Test("Every field of the CStorPoolInstance CRD has a typed property and round-trips")
    func cspiSchema() throws { try Self.check(CStorPoolInstance.self, file: "cstorpoolinstances.yaml") }

    @Test("Every field of the CStorVolumePolicy CRD has a typed property and round-trips")
    func cvpSchema() throws { try Self.check(CStorVolumePolicy.self, file: "cstorvolumepolicies.yaml") }

    @Test("The schema check sees deep fields and notices a field without a typed property")
    func schemaCheckIsReal() throws {
        var (_, sample) = try Self.crdSample("cstorvolumeconfigs.yaml")
        #expect(sample[path: ["spec", "policy", "target", "affinity", "requiredDuringSchedulingIgnoredDuringExecution"]] != nil)
        #expect(sample[path: ["status", "condition"]]?.arrayValue?.first?["lastProbeTime"] == "2024-05-01T10:00:00Z")
        sample["spec"]?["provision"]?["notInTheModel"] = 1
        let decoded = try sample.decode(as: CStorVolumeConfig.self)
        #expect(Self.unknownPaths(decoded).count == 1)
        #expect(Self.unknownPaths(decoded).first?.hasSuffix("notInTheModel") == true)
        #expect(try JSONValue(encoding: decoded)[path: ["spec", "provision", "notInTheModel"]] == 1)
    }

    // MARK: Realistic objects

    static func fixture(_ name: String) throws -> JSONValue {
        try JSONValue(json: Fixtures.data("objects/\(name)"))
    }

    static let fixtures: [String] = ["cvc.json", "cv.json", "cva.json", "cvr.json", "cspc.json", "cspi.json"]

    @Test("Objects as the operators write them round-trip without losing a field", arguments: fixtures)
    func roundTrip(file: String) throws {
        let original = try Self.fixture(file)
        let encoded: JSONValue
        switch original["kind"]?.stringValue {
        case "CStorVolumeConfig": encoded = try JSONValue(encoding: original.decode(as: CStorVolumeConfig.self))
        case "CStorVolume": encoded = try JSONValue(encoding: original.decode(as: CStorVolume.self))
        case "CStorVolumeAttachment": encoded = try JSONValue(encoding: original.decode(as: CStorVolumeAttachment.self))
        case "CStorVolumeReplica": encoded = try JSONValue(encoding: original.decode(as: CStorVolumeReplica.self))
        case "CStorPoolCluster": encoded = try JSONValue(encoding: original.decode(as: CStorPoolCluster.self))
        case "CStorPoolInstance": encoded = try JSONValue(encoding: original.decode(as: CStorPoolInstance.self))
        default: throw TestFailureError("unknown kind in \(file)")
        }
        #expect(encoded.jsonEquals(original), "\(file):\n\(encoded)")
    }

    @Test("A change to a CVC keeps the fields the model does not know, at every level")
    func unknownFieldsSurviveAChange() throws {
        var cvc = try Self.fixture("cvc.json").decode(as: CStorVolumeConfig.self)
        cvc.requestedStorage = try Quantity(parsing: "10Gi")
        cvc.metadata.labels["openebs.io/extra"] = "yes"
        let written = try JSONValue(encoding: cvc)
        #expect(written[path: ["spec", "capacity", "storage"]] == "10Gi")
        #expect(written[path: ["spec", "futureSpecField"]] == ["enabled": true, "level": 2])
        #expect(written[path: ["status", "operatorNote"]] == "kept by a newer operator")
        #expect(written[path: ["metadata", "managedFields"]]?.arrayValue?.count == 1)
        #expect(written["extraTopLevel"] == [1, 2.5, "three", nil, ["four": 4]])
        #expect(written[path: ["spec", "policy", "target", "tolerations"]] == [["effect": "NoSchedule", "key": "storage", "operator": "Exists"]])
        #expect(written[path: ["metadata", "labels", "openebs.io/extra"]] == "yes")
    }

    @Test("A typed property set to nil is removed even if the object had it")
    func clearingAField() throws {
        var cvc = try Self.fixture("cvc.json").decode(as: CStorVolumeConfig.self)
        cvc.publish = nil
        cvc.metadata.finalizers.removeAll()
        let written = try JSONValue(encoding: cvc)
        #expect(written["publish"] == nil)
        #expect(written[path: ["metadata", "finalizers"]] == nil)
    }

    @Test("The typed fields read what the cvc-operator and the target wrote")
    func typedFields() throws {
        let cvc = try Self.fixture("cvc.json").decode(as: CStorVolumeConfig.self)
        #expect(cvc.phase == .bound)
        #expect(cvc.actualStorage == (try Quantity(parsing: "5Gi")))
        #expect(cvc.spec.provision?.replicaCount == 1)
        #expect(cvc.publish?.nodeId == "worker-1")
        #expect(cvc.metadata.annotations["openebs.io/volumeID"] == cvc.metadata.name)
        #expect(cvc.versionDetails?.status?.current == "3.6.0")

        let cv = try Self.fixture("cv.json").decode(as: CStorVolume.self)
        #expect(cv.phase == .healthy)
        #expect(cv.spec.targetPortal == "10.96.113.189:3260")
        #expect(cv.spec.iqn == "iqn.2016-09.com.openebs.cstor:\(cv.metadata.name)")
        #expect(cv.spec.targetPort == "3260")
        #expect(cv.status?.replicaStatuses?.first?.mode == "Healthy")
        #expect(cv.metadata.ownerReferences.first?.kind == "CStorVolumeConfig")

        let cva = try Self.fixture("cva.json").decode(as: CStorVolumeAttachment.self)
        #expect(cva.spec.volume?.ownerNodeID == "worker-1")
        #expect(cva.spec.iscsi?.lun == "0")
        #expect(cva.status == "Mounted")

        let cvr = try Self.fixture("cvr.json").decode(as: CStorVolumeReplica.self)
        #expect(cvr.status?.snapshots?["snap-a"]?.logicalReferenced == 1_073_741_824)
        #expect(cvr.status?.pendingSnapshots?["snap-c"]?.logicalReferenced == 0)

        let cspi = try Self.fixture("cspi.json").decode(as: CStorPoolInstance.self)
        #expect(cspi.phase == .online)
        #expect(try cspi.status?.capacity?.free?.bytes == 95_000_000_000)
        #expect(cspi.spec.dataRaidGroups?.first?.blockDevices?.first?.capacity == 107_374_182_400)

        let cspc = try Self.fixture("cspc.json").decode(as: CStorPoolCluster.self)
        #expect(cspc.status?.healthyInstances == 1)
        #expect(cspc.spec.pools?.first?.poolConfig?.dataRaidGroupType == "stripe")
    }

    @Test("A phase this code does not know is kept as written")
    func unknownPhase() throws {
        var json = try Self.fixture("cv.json")
        json["status"]?["phase"] = "Recreate"
        let cv = try json.decode(as: CStorVolume.self)
        #expect(cv.phase?.rawValue == "Recreate")
        #expect(try JSONValue(encoding: cv)[path: ["status", "phase"]] == "Recreate")
    }

    @Test("JSON values keep 64-bit integers, booleans, nulls and nesting exactly")
    func jsonValues() throws {
        let text = #"{"big":9007199254740993,"flag":true,"none":null,"real":0.25,"list":[1,"a",{"b":false}]}"#
        let value = try JSONValue(json: Data(text.utf8))
        #expect(value["big"] == .int(9_007_199_254_740_993))
        #expect(value["flag"] == .bool(true))
        #expect(value["none"] == .null)
        #expect(value["real"] == .double(0.25))
        #expect(value.jsonString == #"{"big":9007199254740993,"flag":true,"list":[1,"a",{"b":false}],"none":null,"real":0.25}"#)
    }

    @Test("Timestamps keep the server's text and read as dates")
    func timestamps() throws {
        #expect(KubernetesTime(Date(timeIntervalSince1970: 86_400 + 3_661)).rawValue == "1970-01-02T01:01:01Z")
        #expect(KubernetesTime(rawValue: "2024-05-01T10:00:00Z").date == Date(timeIntervalSince1970: 1_714_557_600))
        #expect(KubernetesTime(rawValue: "2024-05-01T10:00:00.123456Z").date != nil)
        #expect(KubernetesTime(rawValue: "yesterday").date == nil)
    }

    @Test("A new CVC encodes only what was set, with apiVersion and kind")
    func newObjectEncoding() throws {
        let cvc = makeCVC("pvc-1")
        let json = try JSONValue(encoding: cvc)
        #expect(json["apiVersion"] == "cstor.openebs.io/v1")
        #expect(json["kind"] == "CStorVolumeConfig")
        #expect(json[path: ["spec", "capacity", "storage"]] == "5Gi")
        #expect(json[path: ["spec", "provision", "replicaCount"]] == 3)
        #expect(json[path: ["status", "phase"]] == "Pending")
        #expect(json[path: ["metadata", "uid"]] == nil)
        #expect(json["publish"] == nil)
    }
}

struct TestFailureError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
