// swift-tools-version:6.0
import PackageDescription

// Release builds of the numeric targets drop exclusivity checks in their hot loops; bounds are checked
// by the code itself (every kernel works on raw pointers sized by its caller).
let fast: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "autodidact",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "autodidact", targets: ["autodidact"]),
        .executable(name: "autodidact-bench", targets: ["autodidact-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .target(name: "Kernels", dependencies: ["CBLAS"], swiftSettings: fast),
        .target(name: "Tokenizer", dependencies: [], swiftSettings: fast),
        .target(name: "Model", dependencies: ["Kernels", "Tokenizer", .product(name: "Logging", package: "swift-log")],
                swiftSettings: fast),
        .target(name: "Pipeline", dependencies: [
            "Kernels", "Model", "Tokenizer", .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "autodidact", dependencies: [
            "Pipeline", "Kernels",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "AllocationCounter", path: "Benchmarks/AllocationCounter"),
        .executableTarget(name: "autodidact-bench", dependencies: [
            "Kernels", "Model", "Tokenizer", "AllocationCounter",
        ], path: "Benchmarks/autodidact-bench", swiftSettings: fast),
        .target(name: "TestSupport", dependencies: ["Kernels"], path: "Tests/TestSupport"),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "TestSupport"]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "Kernels", "Tokenizer", "TestSupport"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "TestSupport"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Model", "Tokenizer", "TestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
