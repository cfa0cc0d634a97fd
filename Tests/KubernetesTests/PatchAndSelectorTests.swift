import CStorCore
import CStorKubernetes
import CStorModel
import Testing

@Suite("Merge patch, JSON patch and label selectors")
struct PatchAndSelectorTests {
    let document: JSONValue = [
        "metadata": ["name": "pvc-1", "labels": ["a": "1", "b": "2"], "finalizers": ["x", "y"]],
        "spec": ["capacity": ["storage": "5Gi"], "list": [1, 2, 3]],
    ]

    @Test("A merge patch merges objects, deletes null members and replaces arrays (RFC 7386)")
    func mergePatch() {
        let patched = document.applying(mergePatch: [
            "metadata": ["labels": ["a": nil, "c": "3"]], "spec": ["list": [9], "capacity": ["storage": "10Gi"]],
            "status": ["phase": "Bound"],
        ])
        #expect(patched[path: ["metadata", "labels"]] == ["b": "2", "c": "3"])
        #expect(patched[path: ["spec", "list"]] == [9])
        #expect(patched[path: ["spec", "capacity", "storage"]] == "10Gi")
        #expect(patched[path: ["status", "phase"]] == "Bound")
        #expect(patched[path: ["metadata", "name"]] == "pvc-1")
    }

    @Test("The merge patch between two objects turns the first into the second")
    func mergePatchDiff() {
        var changed = document
        changed["spec"]?["capacity"] = ["storage": "10Gi"]
        changed["metadata"]?["labels"] = ["a": "1"]
        let patch = JSONValue.mergePatch(from: document, to: changed)
        #expect(patch == ["spec": ["capacity": ["storage": "10Gi"]], "metadata": ["labels": ["b": nil]]])
        #expect(document.applying(mergePatch: patch) == changed)
    }

    @Test("JSON patch operations add, remove, replace, move, copy and test (RFC 6902)")
    func jsonPatch() throws {
        let patched = try document.applying(jsonPatch: [
            .test("/metadata/name", "pvc-1"),
            .add("/metadata/finalizers/-", "z"),
            .remove("/metadata/finalizers/0"),
            .replace("/spec/capacity/storage", "10Gi"),
            .add(JSONPatchOperation.pointer("metadata", "annotations"), ["openebs.io/volumeID": "pvc-1"]),
            .copy(from: "/metadata/name", to: "/spec/volume"),
            .move(from: "/spec/list", to: "/spec/moved"),
            .add("/spec/moved/1", 7),
        ])
        #expect(patched[path: ["metadata", "finalizers"]] == ["y", "z"])
        #expect(patched[path: ["spec", "capacity", "storage"]] == "10Gi")
        #expect(patched[path: ["metadata", "annotations", "openebs.io/volumeID"]] == "pvc-1")
        #expect(patched[path: ["spec", "volume"]] == "pvc-1")
        #expect(patched[path: ["spec", "list"]] == nil)
        #expect(patched[path: ["spec", "moved"]] == [1, 7, 2, 3])
    }

    @Test("A failed JSON patch test or a missing path changes nothing and says why")
    func jsonPatchFailures() {
        #expect(throws: JSONPatchError.self) {
            try document.applying(jsonPatch: [.remove("/metadata/finalizers/0"), .test("/metadata/name", "other")])
        }
        do {
            _ = try document.applying(jsonPatch: [.test("/metadata/name", "other")])
        } catch {
            #expect(error.testFailed)
            #expect(error.message.contains("pvc-1"))
        }
        #expect(throws: JSONPatchError.self) { try document.applying(jsonPatch: [.remove("/spec/missing")]) }
        #expect(throws: JSONPatchError.self) { try document.applying(jsonPatch: [.add("/spec/list/7", 1)]) }
        #expect(throws: JSONPatchError.self) { try document.applying(jsonPatch: [.replace("nopointer", 1)]) }
    }

    @Test("JSON pointers escape ~ and /")
    func pointers() throws {
        #expect(JSONPatchOperation.pointer("metadata", "labels", "openebs.io/version") == "/metadata/labels/openebs.io~1version")
        let patched = try document.applying(jsonPatch: [.add(JSONPatchOperation.pointer("metadata", "labels", "a/b~c"), "v")])
        #expect(patched[path: ["metadata", "labels", "a/b~c"]] == "v")
    }

    @Test("The patch document and content type are what the API server expects")
    func patchDocument() {
        let patch = KubernetesPatch.json([.test("/metadata/resourceVersion", "5"), .remove("/metadata/finalizers/0")])
        #expect(patch.contentType == "application/json-patch+json")
        #expect(patch.document == [["op": "test", "path": "/metadata/resourceVersion", "value": "5"], ["op": "remove", "path": "/metadata/finalizers/0"]])
        #expect(patch.isIdempotent)
        #expect(!KubernetesPatch.json([.add("/metadata/finalizers/-", "x")]).isIdempotent)
        #expect(KubernetesPatch.merge(["a": 1]).contentType == "application/merge-patch+json")
    }

    static let selectors: [(String, [String: String], Bool)] = [
        ("app=x", ["app": "x"], true), ("app=x", ["app": "y"], false), ("app==x", ["app": "x"], true),
        ("app!=x", ["app": "y"], true), ("app!=x", [:], true), ("app!=x", ["app": "x"], false),
        ("env in (a, b)", ["env": "b"], true), ("env in (a,b)", ["env": "c"], false), ("env in (a,b)", [:], false),
        ("env notin (a,b)", ["env": "c"], true), ("env notin (a,b)", [:], true), ("env notin (a,b)", ["env": "a"], false),
        ("app", ["app": ""], true), ("app", [:], false), ("!app", [:], true), ("!app", ["app": "x"], false),
        ("app=x,tier!=db,!legacy", ["app": "x", "tier": "web"], true),
        ("app=x,tier!=db,!legacy", ["app": "x", "tier": "web", "legacy": "1"], false),
        ("Volname=pvc-1,nodeID=node-a", ["Volname": "pvc-1", "nodeID": "node-a"], true), ("", ["any": "x"], true),
    ]

    @Test("Label selectors match like the API server's", arguments: selectors)
    func labelSelector(text: String, labels: [String: String], matches: Bool) throws {
        #expect(try LabelSelector(parsing: text).matches(labels) == matches)
    }

    @Test("A selector prints back as the text the API server parses")
    func labelSelectorText() throws {
        let selector = LabelSelector([.equals("app", "x"), .notIn("env", ["a", "b"]), .doesNotExist("legacy")])
        #expect(selector.description == "app=x,env notin (a,b),!legacy")
        #expect(try LabelSelector(parsing: selector.description) == selector)
        #expect(LabelSelector(matching: ["b": "2", "a": "1"]).description == "a=1,b=2")
    }

    @Test("Malformed label selectors are refused", arguments: ["app=x,", "env in (a", "env in ()", "a b", ",app"])
    func badSelector(text: String) {
        #expect(throws: LabelSelector.ParseError.self) { try LabelSelector(parsing: text) }
    }
}
