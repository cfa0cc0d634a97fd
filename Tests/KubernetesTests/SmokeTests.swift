import CSITestSupport
import CStorCore
import CStorKubernetes
import CStorModel
import Testing

@Suite("Smoke")
struct SmokeTests {
    @Test("A CVC created through the client is bound by the simulated operator and deleted")
    func lifecycle() async throws {
        try await withServerAndClient { server, client in
            try await SimulatedCVCOperator.with(store: server.store) { _ in
                let created = try await client.create(makeCVC("pvc-1"))
                #expect(created.metadata.resourceVersion != "")
                let bound = try await client.waitFor(CStorVolumeConfig.self, name: "pvc-1", namespace: "openebs", timeout: .seconds(5)) {
                    $0.phase == .bound
                }
                #expect(bound.actualStorage == (try Quantity(parsing: "5Gi")))
                let result = try await client.delete(CStorVolumeConfig.self, name: "pvc-1", namespace: "openebs")
                #expect(!result.isGone)
                try await client.waitForDeletion(CStorVolumeConfig.self, name: "pvc-1", namespace: "openebs", timeout: .seconds(5))
            }
        }
    }
}
