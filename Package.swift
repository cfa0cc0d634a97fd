// swift-tools-version:6.2
import PackageDescription

/// Settings every target of ours shares: Swift 6 language mode and explicit existentials.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .swiftLanguageMode(.v6),
]

/// How the three release binaries are linked (BENCHMARKS.md §5): with lld, relative relocations
/// packed (DT_RELR, glibc >= 2.36: 3.6 MB of .rela.dyn become ~50 kB, read at every start), and
/// without exporting the executable's ~60,000 symbols (the static stdlib's link arguments ask
/// for --export-dynamic; nothing here looks itself up with dlsym). About 6 MB less resident memory
/// per process. Debug builds and the tests link as SwiftPM does by default.
let lean: [LinkerSetting] = [
    .unsafeFlags(
        ["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs", "-Xlinker", "--no-export-dynamic"],
        .when(platforms: [.linux], configuration: .release))
]

let package = Package(
    name: "cstor-csi",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "cstor-controller", targets: ["cstor-controller"]),
        .executable(name: "cstor-node", targets: ["cstor-node"]),
        .executable(name: "csictl", targets: ["csictl"]),
        .executable(name: "cstor-bench", targets: ["cstor-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/grpc/grpc-swift-2.git", exact: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", exact: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", exact: "2.4.1"),
        // Without its default traits: BinaryDelimitedStreams makes SwiftProtobuf import full Foundation,
        // and every module that imports SwiftProtobuf would then link Foundation and ICU's data
        // (BENCHMARKS.md §8; grpc-swift-protobuf opts out for the same reason).
        .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0", traits: []),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibMount",
            pkgConfig: "mount",
            providers: [.apt(["libmount-dev"])]
        ),
        .systemLibrary(
            name: "CLibBlkid",
            pkgConfig: "blkid",
            providers: [.apt(["libblkid-dev"])]
        ),
        .systemLibrary(name: "CLinux"),
        .systemLibrary(
            name: "CLibUdev",
            pkgConfig: "libudev",
            providers: [.apt(["libudev-dev"])]
        ),
        // CStorCore is one library in four rooms under Sources/CStorCore (DESIGN.md, README "Layout"):
        // the core every binary links (CSI, Server, Observability, System, CLI), the Kubernetes client
        // (Kubernetes/: HTTPS, TLS, in-cluster configuration), kubeconfig files (Kubeconfig/: YAML)
        // and the cStor model (Model/: the CRDs). The node links the core and, for its opt-in pod
        // restart (--restart-pods), the Kubernetes client; never YAML or the cStor model.
        .target(
            name: "CStorCore",
            dependencies: [
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            path: "Sources/CStorCore",
            exclude: ["CSI/Generated/README.md", "Kubernetes", "KubernetesHTTP", "Kubeconfig", "Model"],
            swiftSettings: strict
        ),
        .target(
            name: "CStorKubernetes",
            dependencies: [
                "CStorCore",
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/CStorCore/Kubernetes",
            swiftSettings: strict
        ),
        // The HTTP(S) client of the Kubernetes API (async-http-client: connection pools, watches).
        // It links full Foundation through NIOFoundationCompat, which async-http-client depends on,
        // so only the controller links it; the node's opt-in pod restart has its own
        // one-request client (cstor-node/Health/InClusterPodAPI.swift).
        .target(
            name: "CStorKubernetesHTTP",
            dependencies: [
                "CStorCore", "CStorKubernetes",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Sources/CStorCore/KubernetesHTTP",
            swiftSettings: strict
        ),
        // Kubeconfig files (YAML) and the client flags that find them: only what runs outside a
        // pod or beside kubectl needs them (the controller, csictl's users, tests). The node's
        // opt-in client uses the in-cluster service account only, so it never links YAML.
        .target(
            name: "CStorKubeconfig",
            dependencies: [
                "CStorCore", "CStorKubernetes",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ],
            path: "Sources/CStorCore/Kubeconfig",
            swiftSettings: strict
        ),
        .target(
            name: "CStorModel",
            dependencies: ["CStorCore", "CStorKubernetes"],
            path: "Sources/CStorCore/Model",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "cstor-controller",
            dependencies: [
                "CStorCore", "CStorKubernetes", "CStorKubernetesHTTP", "CStorKubeconfig", "CStorModel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strict,
            linkerSettings: lean
        ),
        .executableTarget(
            name: "cstor-node",
            dependencies: [
                "CStorCore", "CStorKubernetes", "CLibMount", "CLibUdev", "CLibBlkid", "CLinux",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict,
            linkerSettings: lean
        ),
        .executableTarget(
            name: "csictl",
            dependencies: [
                "CStorCore", "CStorKubernetes",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strict,
            linkerSettings: lean
        ),
        .target(
            name: "CSITestSupport",
            dependencies: [
                "CStorCore", "CStorKubernetes", "CStorKubernetesHTTP", "CStorModel",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Yams", package: "Yams"),
            ],
            path: "Tests/Support",
            // The iSCSI stand-in is a shell script the tests run from the checkout.
            exclude: ["iscsi-standin"],
            swiftSettings: strict
        ),
        // Benchmarks (scripts/bench): figures against their physical limits, not timed tests.
        .executableTarget(
            name: "cstor-bench",
            dependencies: [
                "CStorCore", "CStorKubernetes", "CStorKubernetesHTTP", "CStorModel", "CSITestSupport",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/cstor-bench",
            swiftSettings: strict
        ),
        .testTarget(
            name: "CStorCoreTests",
            dependencies: [
                "CStorCore", "CStorKubernetes", "CStorKubernetesHTTP", "CStorModel", "CSITestSupport",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "NodeTests",
            dependencies: ["cstor-node", "CStorCore", "CStorKubernetes", "CStorKubernetesHTTP", "CStorModel", "CSITestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "CStorEngineTests",
            dependencies: ["CStorCore", "CStorKubernetes", "CStorKubernetesHTTP", "CStorModel", "CSITestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ConformanceTests",
            dependencies: ["CStorCore", "CStorKubernetes", "CStorKubernetesHTTP", "CStorModel", "CSITestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["CStorCore", "CStorKubernetes", "CStorKubernetesHTTP", "CStorModel", "CSITestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "KubernetesTests",
            dependencies: [
                "CStorCore", "CStorKubernetes", "CStorKubernetesHTTP", "CStorKubeconfig", "CStorModel", "CSITestSupport",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            resources: [.copy("Fixtures")],
            swiftSettings: strict
        ),
    ]
)
