import Foundation
import FuzzTargets

// Built two ways. With -DFUZZING and -sanitize=fuzzer (make fuzz), libFuzzer supplies main and calls the
// entry point below; the target is chosen by the FUZZ_TARGET environment variable. Built plainly, it replays
// files: `autodidact-fuzz TARGET FILE...` prints what the target did with each (to reproduce a finding).

#if FUZZING
nonisolated(unsafe) private var target: String? = nil

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    if target == nil {
        guard let t = ProcessInfo.processInfo.environment["FUZZ_TARGET"], FuzzTargets.names.contains(t) else {
            FileHandle.standardError.write(Data("set FUZZ_TARGET to one of: \(FuzzTargets.names.joined(separator: ", "))\n".utf8))
            exit(2)
        }
        target = t
    }
    let data = bytes.map { Data(bytes: $0, count: count) } ?? Data()
    _ = try? FuzzTargets.run(target!, data)
    return 0
}

// SwiftPM links an executable with its entry point renamed to <product>_main; here that entry hands over to
// libFuzzer's driver (linked in by -sanitize=fuzzer), found at run time so that its C signature is explicit.
@_cdecl("autodidact_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    typealias Callback = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    typealias Driver = @convention(c) (UnsafeMutablePointer<CInt>, UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>, Callback) -> CInt
    guard let symbol = dlsym(nil, "LLVMFuzzerRunDriver") else {  // RTLD_DEFAULT
        FileHandle.standardError.write(Data("libFuzzer is not linked in: build with -sanitize=fuzzer (make fuzz)\n".utf8))
        return 2
    }
    var argc = argc
    var argv = argv
    return unsafeBitCast(symbol, to: Driver.self)(&argc, &argv, { fuzzOneInput($0, $1) })
}
#else
@main
struct Replay {
    static func main() {
        let args = Array(CommandLine.arguments.dropFirst())
        guard args.count >= 2, FuzzTargets.names.contains(args[0]) else {
            FileHandle.standardError.write(Data("usage: autodidact-fuzz TARGET FILE... (targets: \(FuzzTargets.names.joined(separator: ", ")))\n".utf8))
            exit(2)
        }
        for file in args.dropFirst() {
            guard let data = FileManager.default.contents(atPath: file) else {
                FileHandle.standardError.write(Data("\(file): cannot read\n".utf8))
                exit(1)
            }
            do { print("\(file): \(try FuzzTargets.run(args[0], data))") } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                exit(1)
            }
        }
    }
}
#endif
