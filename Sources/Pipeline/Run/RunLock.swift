import Foundation

/// One run at a time in a run directory: an exclusive `flock` on `DIR/.lock`, held while the run's
/// scheduler lives. The file names the holder (process id and host) for the message a second run gets. The
/// kernel drops the lock when its process dies however it dies, so a killed run leaves no stale lock: the
/// file stays, but the next run takes the lock over.
final class RunLock {
    static let fileName = ".lock"
    private let fd: Int32

    init(directory: URL) throws {
        let path = directory.appendingPathComponent(RunLock.fileName).path
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw PipelineError("\(path): cannot open the run's lock file (\(String(cString: strerror(errno))))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            var bytes = [UInt8](repeating: 0, count: 256)
            let n = pread(fd, &bytes, bytes.count, 0)
            close(fd)
            let holder = String(decoding: bytes.prefix(max(0, n)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if code == EWOULDBLOCK {
                throw PipelineError("\(directory.path) is in use by another run (\(holder.isEmpty ? "holder unknown" : holder), lock file \(path)); wait for it to end, or choose another run.output_dir")
            }
            throw PipelineError("\(path): cannot lock the run directory (\(String(cString: strerror(code))))")
        }
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        let text = Array("process \(getpid()) on \(String(cString: host))\n".utf8)
        ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    deinit { close(fd) }

    /// Who holds the lock of run directory `directory` (the holder's line, "process N on HOST"), or nil when
    /// no process does. Asked without taking the lock for longer than the question.
    static func holder(of directory: URL) -> String? {
        let path = directory.appendingPathComponent(RunLock.fileName).path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 { flock(fd, LOCK_UN); return nil }
        guard errno == EWOULDBLOCK else { return nil }
        var bytes = [UInt8](repeating: 0, count: 256)
        let n = pread(fd, &bytes, bytes.count, 0)
        let text = String(decoding: bytes.prefix(max(0, n)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "holder unknown" : text
    }
}
