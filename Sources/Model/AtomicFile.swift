import Foundation

/// The one way files are written: under a temporary name in the same folder (`.NAME.tmp-PID-R`), synced to
/// disk, renamed into place, and the folder synced, so that a reader (or a resumed run after a crash or a
/// power cut) sees the old file or the whole new one, never half of one. A directory of files (a
/// checkpoint) is written the same way with `directory(at:)`.
public enum AtomicFile {
    public static func write(to url: URL, _ body: (FileHandle) throws -> Void) throws {
        let dir = url.deletingLastPathComponent()
        let tmp = temporary(for: url)
        guard FileManager.default.createFile(atPath: tmp.path, contents: nil) else {
            throw ModelError.format(url.path, "cannot create \(tmp.path)")
        }
        do {
            let handle = try FileHandle(forWritingTo: tmp)
            do { try body(handle); try handle.synchronize(); try handle.close() } catch {
                try? handle.close()
                throw ModelError.format(url.path, "cannot write it: \(describe(error))")
            }
            if rename(tmp.path, url.path) != 0 {
                throw ModelError.format(url.path, "cannot rename \(tmp.lastPathComponent) into place: \(String(cString: strerror(errno)))")
            }
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw error
        }
        syncDirectory(dir)
    }

    public static func write(_ data: Data, to url: URL) throws {
        try write(to: url) { try $0.write(contentsOf: data) }
    }

    /// A directory that appears at `url` only when complete: `fill` writes into a temporary one, which then
    /// replaces whatever was at `url`. `beforeRename` runs between the two (a test's kill point).
    public static func directory(at url: URL, beforeRename: (() -> Void)? = nil, _ fill: (URL) throws -> Void) throws {
        let fm = FileManager.default
        let tmp = temporary(for: url)
        try? fm.removeItem(at: tmp)
        do { try fill(tmp) } catch { try? fm.removeItem(at: tmp); throw error }
        beforeRename?()
        try? fm.removeItem(at: url)
        do { try fm.moveItem(at: tmp, to: url) } catch {
            try? fm.removeItem(at: tmp)
            throw ModelError.format(url.path, "cannot move the written directory into place: \(describe(error))")
        }
        syncDirectory(url.deletingLastPathComponent())
    }

    /// What went wrong, in words that name the cause (a full disk says so).
    static func describe(_ error: Error) -> String {
        let e = error as NSError
        if e.domain == NSCocoaErrorDomain && e.code == NSFileWriteOutOfSpaceError { return "no space left on the device" }
        if let posix = e.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(posix.code)))
        }
        if e.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(e.code))) }
        return "\(error)"
    }

    /// The temporary name of `url` while it is written; `RunState.removeLeftovers` removes such names.
    static func temporary(for url: URL) -> URL {
        url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    }

    /// fsync of a folder, so that a rename in it survives a power cut (best effort: some file systems refuse).
    static func syncDirectory(_ dir: URL) {
        let fd = open(dir.path, O_RDONLY)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }
}
