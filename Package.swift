// swift-tools-version: 6.2
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "trawl",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "trawl", targets: ["trawl"]),
        .library(name: "TrawlCore", targets: ["TrawlCore"]),
        .library(name: "TrawlSources", targets: ["TrawlSources"]),
        .library(name: "TrawlSinks", targets: ["TrawlSinks"]),
        .library(name: "TrawlAWS", targets: ["TrawlAWS"]),
        .library(name: "TrawlFormats", targets: ["TrawlFormats"]),
        .library(name: "TrawlParquet", targets: ["TrawlParquet"]),
        .library(name: "TrawlMonitoring", targets: ["TrawlMonitoring"]),
        .library(name: "TrawlPostgres", targets: ["TrawlPostgres"]),
        .library(name: "TrawlApp", targets: ["TrawlApp"]),
        .library(name: "TrawlTesting", targets: ["TrawlTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-async-algorithms.git", from: "1.1.4"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        .target(
            name: "TrawlCore",
            dependencies: [
                "CTrawlSystem",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "TrawlAWS",
            dependencies: [
                "TrawlCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .target(name: "CTrawlSystem"),
        .target(name: "CTrawlText"),
        .systemLibrary(
            name: "CTrawlCompression",
            providers: [
                .apt(["libisal-dev", "libzstd-dev", "libsnappy-dev", "libbz2-dev", "liblz4-dev", "libbrotli-dev"])
            ]
        ),
        .target(
            name: "TrawlFormats",
            dependencies: [
                "TrawlCore", "CTrawlCompression", "CTrawlText",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "TrawlParquet",
            dependencies: ["CTrawlCompression", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict
        ),
        .target(
            name: "TrawlSources",
            dependencies: [
                "TrawlCore", "TrawlAWS", "TrawlFormats", "TrawlParquet",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "TrawlSinks",
            dependencies: [
                "TrawlCore",
                "CTrawlText",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "TrawlMonitoring",
            dependencies: [
                "TrawlCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "TrawlPostgres",
            dependencies: [
                "TrawlCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "TrawlApp",
            dependencies: [
                "TrawlCore", "TrawlSources", "TrawlSinks", "TrawlAWS", "TrawlFormats", "TrawlMonitoring",
                "TrawlPostgres",
                "CTrawlSystem",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "trawl",
            dependencies: ["TrawlApp"],
            swiftSettings: strict
        ),
        .target(
            name: "TrawlTesting",
            dependencies: [
                "TrawlCore",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "trawl-state-writer",
            dependencies: ["TrawlCore"],
            path: "Tests/Support/StateWriter",
            swiftSettings: strict
        ),
        .testTarget(
            name: "TrawlCoreTests",
            dependencies: [
                "TrawlCore", "TrawlTesting", "trawl-state-writer",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "trawl-s3-reader",
            dependencies: [
                "TrawlAWS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Tests/Support/S3Reader",
            swiftSettings: strict
        ),
        .testTarget(
            name: "TrawlAWSTests",
            dependencies: [
                "TrawlAWS", "TrawlTesting", "trawl-s3-reader",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "TrawlFormatsTests",
            dependencies: ["TrawlFormats", "TrawlTesting", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict
        ),
        .target(name: "CTrawlFuzzDriver", path: "Tests/Support/ParquetFuzzDriver"),
        .executableTarget(
            name: "trawl-parquet-fuzz",
            dependencies: ["TrawlParquet", "CTrawlFuzzDriver", .product(name: "NIOCore", package: "swift-nio")],
            path: "Tests/Support/ParquetFuzz",
            swiftSettings: strict
        ),
        .testTarget(
            name: "TrawlParquetTests",
            dependencies: ["TrawlParquet", "TrawlTesting", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "TrawlSourcesTests",
            dependencies: [
                "TrawlSources", "TrawlAWS", "TrawlFormats", "TrawlTesting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "TrawlSinksTests",
            dependencies: [
                "TrawlSinks", "TrawlTesting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "TrawlMonitoringTests",
            dependencies: [
                "TrawlMonitoring", "TrawlCore", "TrawlTesting",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "TrawlPostgresTests",
            dependencies: [
                "TrawlPostgres", "TrawlCore", "TrawlTesting",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "TrawlAppTests",
            dependencies: [
                "TrawlApp", "TrawlCore", "TrawlPostgres", "TrawlTesting", "trawl",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ],
            swiftSettings: strict
        ),
    ]
)
