import Foundation

/// How all-reduce combines the ranks' values.
public enum ReduceOp: Sendable { case sum, average, max, min }

/// A message received from another rank.
public struct Message: Sendable {
    public let data: Data
    public let source: Int
    public let tag: Int
}

public enum DistributedError: Error, CustomStringConvertible, Sendable, Equatable {
    /// An MPI call failed: the call, MPI's error string and the rank where it failed.
    case mpi(call: String, message: String, rank: Int)
    /// Another rank reported a failure.
    case rankFailed(rank: Int, message: String)
    case protocolError(String)

    public var description: String {
        switch self {
        case .mpi(let call, let message, let rank): return "rank \(rank): \(call) failed: \(message)"
        case .rankFailed(let rank, let message): return "rank \(rank) failed: \(message)"
        case .protocolError(let m): return m
        }
    }
}

/// Message tags reserved by the runtime.
public enum Tags {
    /// A rank's failure report to rank 0 (payload: UTF-8 description).
    public static let failure = 32_000
    /// The ring of a reduce-scatter.
    public static let ring = 31_000
    /// Commands from rank 0 to a worker.
    public static let command = 1
    /// A worker's reply to a command.
    public static let reply = 2
}

/// The processes of a run: rank and size, collectives over float buffers and bytes, and typed
/// point-to-point messages. `MPICommunicator` runs under mpirun; `LocalCommunicator` is the one-process
/// stand-in used without mpirun, and in tests.
public protocol Communicator: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    func barrier() throws
    /// Makes every rank's `data` equal to the root's.
    func broadcast(_ data: inout Data, root: Int) throws
    func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int) throws
    /// In place: every rank ends with the combination of all ranks' buffers.
    func allReduce(_ buffer: UnsafeMutablePointer<Float>, count: Int, op: ReduceOp) throws
    func allReduce(_ values: UnsafeMutablePointer<Double>, count: Int, op: ReduceOp) throws
    /// ZeRO's collectives over a buffer cut into one piece per rank, piece r = bounds[r]..<bounds[r + 1]
    /// (`bounds` has size + 1 entries, from 0 to the count). Sum over ranks, each rank left with its own
    /// piece of the sum in place (the rest of its buffer is then undefined).
    func reduceScatter(_ buffer: UnsafeMutablePointer<Float>, bounds: [Int]) throws
    /// In place: every rank's piece r taken from rank r.
    func allGather(_ buffer: UnsafeMutablePointer<Float>, bounds: [Int]) throws
    /// Rank r's `piece` (bounds[r + 1] - bounds[r] values) into `whole` on the root (whole: nil elsewhere).
    func gather(_ piece: UnsafePointer<Float>, into whole: UnsafeMutablePointer<Float>?, bounds: [Int], root: Int) throws
    /// Every rank's bytes, in rank order, on the root (nil elsewhere).
    func gather(_ data: Data, root: Int) throws -> [Data]?
    func send(_ data: Data, to: Int, tag: Int) throws
    /// Blocks until a message arrives (any source / any tag when nil).
    func receive(from source: Int?, tag: Int?) throws -> Message
    /// Starts a send and returns at once; the returned handle must be waited on (it owns the buffer).
    func sendAsync(_ data: Data, to: Int, tag: Int) throws -> PendingSend
    /// A message if one is waiting, else nil (never blocks).
    func poll(from source: Int?, tag: Int?) throws -> Message?
    /// Throws `rankFailed` if some rank has reported a failure.
    func checkForFailures() throws
    /// Reports `message` to rank 0 and ends every rank's process with a non-zero status.
    func abort(reporting message: String) -> Never
}

extension Communicator {
    public var isCoordinator: Bool { rank == 0 }

    public func allReduce(_ values: inout [Double], op: ReduceOp) throws {
        try values.withUnsafeMutableBufferPointer { try allReduce($0.baseAddress!, count: $0.count, op: op) }
    }

    public func send<T: Encodable>(_ value: T, to: Int, tag: Int) throws {
        try send(try JSONEncoder().encode(value), to: to, tag: tag)
    }

    public func sendAsync<T: Encodable>(_ value: T, to: Int, tag: Int) throws -> PendingSend {
        try sendAsync(try JSONEncoder().encode(value), to: to, tag: tag)
    }

    public func receive<T: Decodable>(_ type: T.Type, from source: Int?, tag: Int?) throws -> (T, source: Int) {
        let m = try receive(from: source, tag: tag)
        do { return (try JSONDecoder().decode(T.self, from: m.data), m.source) } catch {
            throw DistributedError.protocolError("rank \(rank): undecodable \(T.self) from rank \(m.source): \(error)")
        }
    }
}

/// The single-process communicator: every collective is the identity.
public final class LocalCommunicator: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func barrier() throws {}
    public func broadcast(_ data: inout Data, root: Int) throws {}
    public func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int) throws {}
    public func allReduce(_ buffer: UnsafeMutablePointer<Float>, count: Int, op: ReduceOp) throws {}
    public func allReduce(_ values: UnsafeMutablePointer<Double>, count: Int, op: ReduceOp) throws {}
    public func reduceScatter(_ buffer: UnsafeMutablePointer<Float>, bounds: [Int]) throws {}
    public func allGather(_ buffer: UnsafeMutablePointer<Float>, bounds: [Int]) throws {}
    public func gather(_ piece: UnsafePointer<Float>, into whole: UnsafeMutablePointer<Float>?, bounds: [Int], root: Int) throws {
        whole?.update(from: piece, count: bounds[1] - bounds[0])
    }
    public func gather(_ data: Data, root: Int) throws -> [Data]? { [data] }
    public func send(_ data: Data, to: Int, tag: Int) throws {
        throw DistributedError.protocolError("rank 0: cannot send to rank \(to) in a one-process run")
    }
    public func receive(from source: Int?, tag: Int?) throws -> Message {
        throw DistributedError.protocolError("rank 0: nothing to receive in a one-process run")
    }
    public func poll(from source: Int?, tag: Int?) throws -> Message? { nil }
    public func sendAsync(_ data: Data, to: Int, tag: Int) throws -> PendingSend {
        throw DistributedError.protocolError("rank 0: cannot send to rank \(to) in a one-process run")
    }
    public func checkForFailures() throws {}
    public func abort(reporting message: String) -> Never {
        FileHandle.standardError.write("error: \(message)\n".data(using: .utf8)!)
        exit(1)
    }
}

/// An unfinished non-blocking send.
public protocol PendingSend: AnyObject {
    /// Whether the send has completed (never blocks).
    func test() throws -> Bool
    func wait() throws
}

/// Chooses the communicator: MPI when started by mpirun (Open MPI sets OMPI_COMM_WORLD_SIZE), else local.
public enum Communicators {
    public static func make() throws -> Communicator {
        if let s = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"], let n = Int(s), n >= 1 {
            return try MPICommunicator()
        }
        return LocalCommunicator()
    }
}
