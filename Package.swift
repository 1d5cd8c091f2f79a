// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "dicomdrop",
    products: [
        .executable(name: "dicomdrop", targets: ["dicomdrop"]),
        .library(name: "DICOM", targets: ["DICOM"]),
        .executable(name: "dicomdrop-parse-bench", targets: ["ParseBenchmark"]),
        .executable(name: "dicomdrop-render-bench", targets: ["RenderBenchmark"]),
        .executable(name: "dicomdrop-decode-bench", targets: ["DecodeBenchmark"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // The status server. Its default traits would also build swift-configuration, which
        // dicomdrop does not use (watch.yaml is read by Config).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // zlib for the Deflated Explicit VR Little Endian transfer syntax.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CInotifyTools", providers: [.apt(["libinotifytools0-dev"])]),
        // libpng's classic API behind setjmp, so that its errors return instead of aborting.
        .target(name: "CPNG", linkerSettings: [.linkedLibrary("png16")]),
        // libjpeg-turbo, OpenJPEG and CharLS behind one small C layer each: every library error
        // comes back as a code and a message (libjpeg's error_exit longjmps, never exits).
        .target(name: "CCodecs", linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("openjp2"), .linkedLibrary("charls")]),
        // Linux calls Swift cannot reach through Glibc: syncfs (_GNU_SOURCE), mallopt (malloc.h).
        .target(name: "CLinux", linkerSettings: [.linkedLibrary("sqlite3")]),
        // What modules that may not import one another share; imports nothing.
        .target(name: "Shared"),
        // The byte and pixel loops are optimized in debug builds too: unoptimized, they made
        // the test suite's pixel checks and bench-smoke's large files several times slower,
        // and CI runs the debug build. Stepping through them in a debugger is the price.
        .target(name: "DICOM", dependencies: ["Shared", "CZlib"], swiftSettings: optimizedInDebug),
        .target(name: "Imaging", dependencies: ["DICOM", "Shared", "CPNG", "CCodecs", "CZlib"], swiftSettings: optimizedInDebug),
        .target(name: "Deidentify", dependencies: ["DICOM", "Shared", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "Ledger", dependencies: ["Shared", .product(name: "GRDB", package: "GRDB.swift"),
                                               .product(name: "GRDBSQLite", package: "GRDB.swift")]),
        .target(
            name: "Pipeline",
            dependencies: [
                "Config", "Ledger", "Imaging", "DICOM", "Deidentify", "Watcher", "Shared", "CLinux",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(name: "Config", dependencies: ["Yams", "DICOM", "Imaging", "Deidentify", "Watcher"]),
        .target(name: "Watcher", dependencies: ["CInotifyTools", "CLinux", "Shared"]),
        .target(
            name: "Server",
            dependencies: [
                "Pipeline", "Ledger", "Config", "Imaging", "Shared",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            resources: [.embedInCode("Dashboard/index.html"), .embedInCode("Dashboard/dashboard.css"), .embedInCode("Dashboard/dashboard.js")]
        ),
        .executableTarget(
            name: "dicomdrop",
            dependencies: [
                "DICOM", "Config", "Ledger", "Pipeline", "Server", "Shared", "Watcher", "CLinux",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Measurement harness for scripts/bench-parse; not part of the product.
        .executableTarget(name: "ParseBenchmark", dependencies: ["DICOM", "Shared"]),
        .executableTarget(name: "RenderBenchmark", dependencies: ["DICOM", "Imaging", "Shared", "CZlib"]),
        .executableTarget(name: "DecodeBenchmark", dependencies: ["DICOM", "Imaging", "Shared"]),
        .testTarget(
            name: "DICOMTests",
            dependencies: ["DICOM", "TestSupport", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // Helpers shared by the test targets (not shipped).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "SharedTests", dependencies: ["Shared"]),
        .testTarget(name: "ConfigTests", dependencies: ["Config", "DICOM"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "DICOM", "TestSupport", "CZlib", .product(name: "Crypto", package: "swift-crypto")],
                    exclude: ["Fixtures"]),
        .testTarget(name: "LedgerTests", dependencies: ["Ledger", "Shared", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "WatcherTests", dependencies: ["Watcher"]),
        .testTarget(name: "DeidentifyTests", dependencies: ["Deidentify", "DICOM", "TestSupport", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Config", "Ledger", "Imaging", "DICOM", "Deidentify", "Shared", "Watcher", "CLinux",
                                                         .product(name: "GRDB", package: "GRDB.swift"),
                                                         .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]),
        // Runs the built executable as a user would; depending on it makes `swift test` build it.
        .testTarget(name: "DicomdropTests", dependencies: ["dicomdrop", "Ledger", "Imaging", "Deidentify", "DICOM", "Shared", "TestSupport",
                                                          .product(name: "Crypto", package: "swift-crypto")]),
    ],
    swiftLanguageModes: [.v6]
)

/// `-O` for a debug build (release builds are optimized anyway).
var optimizedInDebug: [SwiftSetting] { [.unsafeFlags(["-O"], .when(configuration: .debug))] }
