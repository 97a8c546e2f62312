// swift-tools-version:6.0
import PackageDescription

// The numeric targets are compiled for x86-64 with AVX2 and FMA (Haswell and later; OpenBLAS runs its
// Haswell kernels here too), so SIMD8<Float> is one register and `addingProduct` one instruction.
// Release builds also drop exclusivity checks in hot loops; bounds are the kernels' callers' business
// (every kernel works on raw pointers sized by its caller).
let fast: [SwiftSetting] = [
    .unsafeFlags(["-target-cpu", "haswell"]),
    .unsafeFlags(["-Ounchecked", "-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

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
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .target(name: "CQuant", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "Kernels", dependencies: ["CBLAS", "CQuant"], swiftSettings: fast),
        .target(name: "Tokenizer", dependencies: [], swiftSettings: fast),
        .target(name: "Model", dependencies: ["Kernels", "Tokenizer"], swiftSettings: fast),
        .target(name: "Distributed", dependencies: ["CMPI"]),
        .target(name: "Generation", dependencies: ["Kernels", "Model", "Tokenizer"], swiftSettings: fast),
        .target(name: "Alignment", dependencies: ["Kernels", "Model", "Tokenizer", "Generation", "Distributed"],
                swiftSettings: fast),
        .target(name: "Cluster", dependencies: [
            "Kernels", "Model", "Tokenizer", "Generation", "Distributed", "Alignment", .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Pipeline", dependencies: [
            "Kernels", "Model", "Tokenizer", "Generation", "Distributed", "Alignment", "Cluster", .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
        ]),
        .executableTarget(name: "autodidact", dependencies: [
            "Pipeline", "Cluster", "Kernels", "Generation", "Distributed", "Alignment",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "AllocationCounter", path: "Benchmarks/AllocationCounter"),
        .executableTarget(name: "autodidact-bench", dependencies: [
            "Kernels", "Model", "Tokenizer", "Generation", "Distributed", "Alignment", "Pipeline", "CMPI", "AllocationCounter",
        ], path: "Benchmarks/autodidact-bench", swiftSettings: fast),
        // Fuzzing (make fuzz): the parsers as fuzz targets, and the libFuzzer entry point / replayer.
        .target(name: "FuzzTargets", dependencies: ["Model", "Tokenizer", "Alignment", "Pipeline"], path: "Tests/Fuzz/FuzzTargets"),
        .executableTarget(name: "autodidact-fuzz", dependencies: ["FuzzTargets"], path: "Tests/Fuzz/autodidact-fuzz"),
        .target(name: "TestSupport", dependencies: ["Kernels"], path: "Tests/TestSupport"),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "TestSupport"]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "Kernels", "Tokenizer", "Generation", "TestSupport"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "TestSupport"]),
        .testTarget(name: "GenerationTests", dependencies: ["Generation", "Model", "Tokenizer", "Kernels", "TestSupport"]),
        .testTarget(name: "AlignmentTests", dependencies: ["Alignment", "Model", "Kernels", "Generation", "Distributed", "TestSupport"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Model", "Tokenizer", "TestSupport", "FuzzTargets"]),
    ],
    swiftLanguageModes: [.v5]
)
