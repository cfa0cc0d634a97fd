import CStorCore
import CStorKubernetes
import FoundationEssentials

/// CStorVolumePolicy (CVP, `cstor.openebs.io/v1`): a named policy a StorageClass's `cstorVolumePolicy` refers to.
public typealias CStorVolumePolicy = CustomResource<CStorVolumePolicyKind>

/// The types of `CStorVolumePolicy`: its spec, status and the parts they are made of.
public enum CStorVolumePolicyKind: CustomResourceKind {
    public static let resource = KubernetesResource.cstorVolumePolicies
    public typealias Spec = CStorVolumePolicySpec
}

extension CStorVolumePolicyKind {
    /// `status` of a policy.
    public struct Status: Codable, Hashable, Sendable {
        public var phase: String?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            phase: String? = nil
        ) {
            self.phase = phase
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case phase
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            phase = try container.decodeIfPresent(String.self, forKey: .phase)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(phase, forKey: .phase)
        }
    }
}
