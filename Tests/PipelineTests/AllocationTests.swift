import Testing
import Foundation
import TestSupport

/// Heap allocations during steady-state training steps, counted by `autodidact-bench allocations` (a
/// separate process, so that the test runner's own threads are not counted). With one thread a step
/// allocates nothing; with more, each parallel region costs exactly one closure context and nothing else.
/// OpenBLAS 0.3.21's AVX-512 small-matrix sgemm path mallocs a scratch block on every call, which is not
/// ours to fix, so the measuring subprocess runs OpenBLAS's Haswell kernels (as CI's environment does).
struct AllocationTests {
    @Test func steadyStateTrainingStepsAllocateNothingButRegionContexts() throws {
        let bench = Paths.executable.deletingLastPathComponent().appendingPathComponent("autodidact-bench")
        let r = try run([bench.path, "--threads", "2", "allocations"], environment: ["OPENBLAS_CORETYPE": "Haswell"])
        #expect(r.status == 0, "\(r.stderr)")
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let runs = obj["runs"] as! [[String: Any]]
        let one = try #require(runs.first { $0["threads"] as? Int == 1 })
        #expect(one["heap_allocations"] as? Int == 0, "\(one)")
        let two = try #require(runs.first { $0["threads"] as? Int == 2 })
        #expect((two["parallel_regions"] as! Int) > 0)
        #expect(two["heap_allocations"] as? Int == two["parallel_regions"] as? Int, "\(two)")
    }
}
