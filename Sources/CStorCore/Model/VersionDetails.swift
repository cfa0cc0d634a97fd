import CStorCore
import CStorKubernetes
import FoundationEssentials

/// `versionDetails` of the cStor objects (beside `spec` and `status`): the version the operator runs and upgrades to.
public struct VersionDetails: Codable, Hashable, Sendable {
    public var autoUpgrade: Bool?
    public var desired: String?
    public var status: Status?
    /// Members this type has no property for, written back unchanged.
    public var unknownFields = UnknownFields()

    public init(
        autoUpgrade: Bool? = nil,
        desired: String? = nil,
        status: Status? = nil
    ) {
        self.autoUpgrade = autoUpgrade
        self.desired = desired
        self.status = status
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case autoUpgrade
        case desired
        case status
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        autoUpgrade = try container.decodeIfPresent(Bool.self, forKey: .autoUpgrade)
        desired = try container.decodeIfPresent(String.self, forKey: .desired)
        status = try container.decodeIfPresent(Status.self, forKey: .status)
        unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
    }

    public func encode(to encoder: any Encoder) throws {
        try unknownFields.encode(to: encoder, known: CodingKeys.self)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(autoUpgrade, forKey: .autoUpgrade)
        try container.encodeIfPresent(desired, forKey: .desired)
        try container.encodeIfPresent(status, forKey: .status)
    }

    /// Where an upgrade stands.
    public struct Status: Codable, Hashable, Sendable {
        public var current: String?
        public var dependentsUpgraded: Bool?
        public var lastUpdateTime: KubernetesTime?
        public var message: String?
        public var reason: String?
        public var state: String?
        /// Members this type has no property for, written back unchanged.
        public var unknownFields = UnknownFields()

        public init(
            current: String? = nil,
            dependentsUpgraded: Bool? = nil,
            lastUpdateTime: KubernetesTime? = nil,
            message: String? = nil,
            reason: String? = nil,
            state: String? = nil
        ) {
            self.current = current
            self.dependentsUpgraded = dependentsUpgraded
            self.lastUpdateTime = lastUpdateTime
            self.message = message
            self.reason = reason
            self.state = state
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case current
            case dependentsUpgraded
            case lastUpdateTime
            case message
            case reason
            case state
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            current = try container.decodeIfPresent(String.self, forKey: .current)
            dependentsUpgraded = try container.decodeIfPresent(Bool.self, forKey: .dependentsUpgraded)
            lastUpdateTime = try container.decodeIfPresent(KubernetesTime.self, forKey: .lastUpdateTime)
            message = try container.decodeIfPresent(String.self, forKey: .message)
            reason = try container.decodeIfPresent(String.self, forKey: .reason)
            state = try container.decodeIfPresent(String.self, forKey: .state)
            unknownFields = try UnknownFields(from: decoder, known: CodingKeys.self)
        }

        public func encode(to encoder: any Encoder) throws {
            try unknownFields.encode(to: encoder, known: CodingKeys.self)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(current, forKey: .current)
            try container.encodeIfPresent(dependentsUpgraded, forKey: .dependentsUpgraded)
            try container.encodeIfPresent(lastUpdateTime, forKey: .lastUpdateTime)
            try container.encodeIfPresent(message, forKey: .message)
            try container.encodeIfPresent(reason, forKey: .reason)
            try container.encodeIfPresent(state, forKey: .state)
        }
    }
}

extension VersionDetails {
    /// What openebs/cstor-csi writes into a CVC it creates: no version (the cvc-operator fills in
    /// its own; it refuses to reconcile a CVC that names another version than its own) and
    /// `dependentsUpgraded`. The CRD requires `versionDetails`.
    public static let newVolume = VersionDetails(status: Status(dependentsUpgraded: true))
}
