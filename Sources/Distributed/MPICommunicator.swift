import CMPI
import Foundation

/// Open MPI behind `Communicator`. Every call's return code is checked (errors return instead of
/// aborting) and turned into `DistributedError.mpi` with MPI's error string and the rank.
///
/// Collectives are Open MPI's blocking ones (its tuned algorithms; the non-blocking versions measured
/// 2-3x slower). Point-to-point waits are polled non-blocking requests that also look for failure
/// reports, so a coordinator waiting for replies learns of a worker's failure and reports it. A rank
/// that fails during a collective reports itself and ends the job a few seconds later (`abort`).
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    let comm: MPI_Comm
    /// The piece a ring step receives (reduce-scatter), kept between calls.
    var ringScratch: [Float] = []

    public init() throws {
        var provided: Int32 = 0
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        if initialized == 0 {
            // A rank waiting in a blocking call (another rank's share of a step not done yet) gives its
            // core away instead of polling at full speed, which matters when the cores are shared with other
            // ranks or jobs. Open MPI does this by itself only when it knows the node is oversubscribed.
            setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0)
            let rc = MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided)
            guard rc == MPI_SUCCESS else { throw DistributedError.mpi(call: "MPI_Init_thread", message: MPICommunicator.errorString(rc), rank: -1) }
        }
        comm = autodidact_comm_world()
        MPI_Comm_set_errhandler(comm, autodidact_errors_return())
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(comm, &r)
        MPI_Comm_size(comm, &s)
        rank = Int(r)
        size = Int(s)
    }

    deinit {
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if finalized == 0 { MPI_Finalize() }
    }

    static func errorString(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &buffer, &length)
        return String(cString: buffer)
    }

    @inline(__always)
    func check(_ rc: Int32, _ call: String) throws {
        if rc != MPI_SUCCESS { throw DistributedError.mpi(call: call, message: MPICommunicator.errorString(rc), rank: rank) }
    }

    /// Polls `request` to completion, checking for failure reports between polls. Polling drives the
    /// progress of non-blocking collectives, so it does not sleep.
    func wait(_ request: inout MPI_Request?, _ call: String) throws {
        var spins = 0
        while true {
            var done: Int32 = 0
            try check(MPI_Test(&request, &done, autodidact_status_ignore()), call)
            if done != 0 { return }
            spins += 1
            if spins % 256 == 0 { try checkForFailures() }
        }
    }

    public func checkForFailures() throws {
        var flag: Int32 = 0
        var status = MPI_Status()
        try check(MPI_Iprobe(autodidact_any_source(), Int32(Tags.failure), comm, &flag, &status), "MPI_Iprobe")
        if flag != 0 {
            let m = try receiveNow(source: Int(status.MPI_SOURCE), tag: Tags.failure, status: status)
            throw DistributedError.rankFailed(rank: m.source, message: String(decoding: m.data, as: UTF8.self))
        }
    }

    public func barrier() throws {
        try check(MPI_Barrier(comm), "MPI_Barrier")
    }

    public func broadcast(_ data: inout Data, root: Int) throws {
        var count = Int64(data.count)
        try check(MPI_Bcast(&count, 1, autodidact_int64(), Int32(root), comm), "MPI_Bcast")
        if rank != root { data = Data(count: Int(count)) }
        if count == 0 { return }
        try data.withUnsafeMutableBytes { raw in
            try forChunks(Int(count)) { offset, n in
                try check(MPI_Bcast(raw.baseAddress! + offset, Int32(n), autodidact_byte(), Int32(root), comm), "MPI_Bcast")
            }
        }
    }

    public func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int) throws {
        try forChunks(count) { offset, n in
            try check(MPI_Bcast(buffer + offset, Int32(n), autodidact_float(), Int32(root), comm), "MPI_Bcast")
        }
    }

    func mpiOp(_ op: ReduceOp) -> MPI_Op {
        switch op {
        case .sum, .average: return autodidact_op_sum()
        case .max: return autodidact_op_max()
        case .min: return autodidact_op_min()
        }
    }

    public func allReduce(_ buffer: UnsafeMutablePointer<Float>, count: Int, op: ReduceOp) throws {
        try forChunks(count) { offset, n in
            try check(MPI_Allreduce(autodidact_in_place(), buffer + offset, Int32(n), autodidact_float(), mpiOp(op), comm), "MPI_Allreduce")
        }
        if op == .average {
            let s = 1 / Float(size)
            for i in 0..<count { buffer[i] *= s }
        }
    }

    public func allReduce(_ values: UnsafeMutablePointer<Double>, count: Int, op: ReduceOp) throws {
        try forChunks(count) { offset, n in
            try check(MPI_Allreduce(autodidact_in_place(), values + offset, Int32(n), autodidact_double(), mpiOp(op), comm), "MPI_Allreduce")
        }
        if op == .average { for i in 0..<count { values[i] /= Double(size) } }
    }

    /// The per-rank counts and displacements of `bounds`, as MPI's 32-bit integers.
    func pieces(_ bounds: [Int], _ call: String) throws -> (counts: [Int32], displacements: [Int32]) {
        guard bounds.count == size + 1, bounds.first == 0, zip(bounds, bounds.dropFirst()).allSatisfy({ $0 <= $1 }) else {
            throw DistributedError.protocolError("rank \(rank): \(call) needs \(size + 1) ascending bounds from 0, got \(bounds.count)")
        }
        guard bounds.last! <= Int(Int32.max) else {
            throw DistributedError.protocolError("rank \(rank): \(call) of \(bounds.last!) values exceeds MPI's 32-bit counts")
        }
        return (zip(bounds, bounds.dropFirst()).map { Int32($1 - $0) }, bounds.dropLast().map { Int32($0) })
    }

    /// A ring: at step s (0..<size-1) rank r sends its partial sum of piece (r - s - 1) to rank r + 1 and adds
    /// the partial sum of piece (r - s - 2) it receives from rank r - 1 into its own; after size - 1 steps
    /// piece r is complete on rank r. Each rank moves (size - 1) / size of the buffer, and every piece is
    /// summed in one fixed order. (Open MPI's own in-place MPI_Reduce_scatter measured 2.4x slower than its
    /// all-reduce of the whole buffer at 2 ranks; this ring takes about half of that all-reduce's time.)
    public func reduceScatter(_ buffer: UnsafeMutablePointer<Float>, bounds: [Int]) throws {
        let (counts, _) = try pieces(bounds, "reduce-scatter")
        guard size > 1 else { return }
        let largest = Int(counts.max()!)
        if ringScratch.count < largest { ringScratch = [Float](repeating: 0, count: largest) }
        let next = Int32((rank + 1) % size), previous = Int32((rank + size - 1) % size)
        try ringScratch.withUnsafeMutableBufferPointer { scratch in
            let tmp = scratch.baseAddress!
            for s in 0..<(size - 1) {
                let out = ((rank - s - 1) % size + size) % size, into = ((rank - s - 2) % size + size) % size
                try check(MPI_Sendrecv(buffer + bounds[out], counts[out], autodidact_float(), next, Int32(Tags.ring),
                                       tmp, counts[into], autodidact_float(), previous, Int32(Tags.ring), comm, autodidact_status_ignore()),
                          "MPI_Sendrecv (reduce-scatter)")
                let p = buffer + bounds[into]
                for i in 0..<Int(counts[into]) { p[i] += tmp[i] }
            }
        }
    }

    public func allGather(_ buffer: UnsafeMutablePointer<Float>, bounds: [Int]) throws {
        var (counts, displacements) = try pieces(bounds, "MPI_Allgatherv")
        try check(MPI_Allgatherv(autodidact_in_place(), 0, autodidact_float(), buffer, &counts, &displacements, autodidact_float(), comm),
                  "MPI_Allgatherv")
    }

    public func gather(_ piece: UnsafePointer<Float>, into whole: UnsafeMutablePointer<Float>?, bounds: [Int], root: Int) throws {
        var (counts, displacements) = try pieces(bounds, "MPI_Gatherv")
        if rank == root { guard whole != nil else { throw DistributedError.protocolError("rank \(rank): gather root without a buffer") } }
        try check(MPI_Gatherv(piece, counts[rank], autodidact_float(), whole, &counts, &displacements, autodidact_float(), Int32(root), comm),
                  "MPI_Gatherv")
    }

    public func gather(_ data: Data, root: Int) throws -> [Data]? {
        var mine = Int64(data.count)
        var counts = [Int64](repeating: 0, count: size)
        try check(MPI_Gather(&mine, 1, autodidact_int64(), &counts, 1, autodidact_int64(), Int32(root), comm), "MPI_Gather")
        // Variable sizes as point-to-point messages (no 2 GiB limit on the total).
        let tag = 7
        if rank != root {
            if !data.isEmpty { try send(data, to: root, tag: tag) }
            return nil
        }
        var out = [Data](repeating: Data(), count: size)
        out[rank] = data
        for source in 0..<size where source != rank && counts[source] > 0 {
            out[source] = try receive(from: source, tag: tag).data
        }
        return out
    }

    public func send(_ data: Data, to: Int, tag: Int) throws {
        guard data.count < Int(Int32.max) else {
            throw DistributedError.protocolError("rank \(rank): message of \(data.count) bytes to rank \(to) is too large")
        }
        var copy = data
        try copy.withUnsafeMutableBytes { raw in
            var r: MPI_Request? = nil
            let base = raw.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 1)!
            try check(MPI_Isend(base, Int32(raw.count), autodidact_byte(), Int32(to), Int32(tag), comm, &r), "MPI_Isend")
            try wait(&r, "MPI_Isend")
        }
    }

    public func sendAsync(_ data: Data, to: Int, tag: Int) throws -> PendingSend {
        guard data.count < Int(Int32.max) else {
            throw DistributedError.protocolError("rank \(rank): message of \(data.count) bytes to rank \(to) is too large")
        }
        let pending = MPIPendingSend(communicator: self, data: data)
        try check(MPI_Isend(pending.buffer, Int32(data.count), autodidact_byte(), Int32(to), Int32(tag), comm, &pending.request), "MPI_Isend")
        return pending
    }

    public func receive(from source: Int?, tag: Int?) throws -> Message {
        var spins = 0
        while true {
            if let m = try poll(from: source, tag: tag) { return m }
            spins += 1
            if spins % 64 == 0 { try checkForFailures() }
            if spins > 2000 { usleep(200) }
        }
    }

    public func poll(from source: Int?, tag: Int?) throws -> Message? {
        var flag: Int32 = 0
        var status = MPI_Status()
        try check(MPI_Iprobe(Int32(source ?? Int(autodidact_any_source())), Int32(tag ?? Int(autodidact_any_tag())), comm, &flag, &status), "MPI_Iprobe")
        guard flag != 0 else { return nil }
        if Int(status.MPI_TAG) == Tags.failure && tag != Tags.failure {
            let m = try receiveNow(source: Int(status.MPI_SOURCE), tag: Tags.failure, status: status)
            throw DistributedError.rankFailed(rank: m.source, message: String(decoding: m.data, as: UTF8.self))
        }
        return try receiveNow(source: Int(status.MPI_SOURCE), tag: Int(status.MPI_TAG), status: status)
    }

    func receiveNow(source: Int, tag: Int, status: MPI_Status) throws -> Message {
        var status = status
        var count: Int32 = 0
        try check(MPI_Get_count(&status, autodidact_byte(), &count), "MPI_Get_count")
        var data = Data(count: Int(count))
        try data.withUnsafeMutableBytes { raw in
            let base = raw.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 1)!
            try check(MPI_Recv(base, count, autodidact_byte(), Int32(source), Int32(tag), comm, autodidact_status_ignore()), "MPI_Recv")
        }
        return Message(data: data, source: source, tag: tag)
    }

    public func abort(reporting message: String) -> Never {
        FileHandle.standardError.write("error: rank \(rank): \(message)\n".data(using: .utf8)!)
        if rank != 0 {
            // Tell rank 0, then give it a moment to print the report and end the job itself.
            let payload = Data(message.utf8)
            var copy = payload
            copy.withUnsafeMutableBytes { raw in
                var r: MPI_Request? = nil
                _ = MPI_Isend(raw.baseAddress!, Int32(raw.count), autodidact_byte(), 0, Int32(Tags.failure), comm, &r)
            }
            for _ in 0..<30 { usleep(100_000) }
        }
        MPI_Abort(comm, 1)
        exit(1)
    }

    /// Splits a count into pieces that fit MPI's 32-bit counts.
    func forChunks(_ count: Int, _ body: (Int, Int) throws -> Void) throws {
        let limit = 1 << 30
        var offset = 0
        while offset < count {
            let n = min(limit, count - offset)
            try body(offset, n)
            offset += n
        }
    }
}

/// A non-blocking send and the copy of its bytes it keeps until it completes.
final class MPIPendingSend: PendingSend {
    let communicator: MPICommunicator
    let buffer: UnsafeMutableRawPointer
    var request: MPI_Request? = nil
    var done = false

    init(communicator: MPICommunicator, data: Data) {
        self.communicator = communicator
        buffer = UnsafeMutableRawPointer.allocate(byteCount: max(data.count, 1), alignment: 16)
        data.withUnsafeBytes { if let b = $0.baseAddress { buffer.copyMemory(from: b, byteCount: $0.count) } }
    }

    deinit {
        if !done { try? wait() }
        buffer.deallocate()
    }

    func test() throws -> Bool {
        if done { return true }
        var flag: Int32 = 0
        try communicator.check(MPI_Test(&request, &flag, autodidact_status_ignore()), "MPI_Test")
        done = flag != 0
        return done
    }

    func wait() throws {
        if done { return }
        try communicator.wait(&request, "MPI_Isend")
        done = true
    }
}
