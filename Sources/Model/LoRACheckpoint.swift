import Foundation
import Kernels
import Tokenizer

/// LoRA adapters on disk in PEFT's layout: `adapter_config.json` (r, lora_alpha, target_modules, the base
/// model's path) and `adapter_model.safetensors` (PEFT's tensor names), with the tokenizer files beside
/// them. A directory holding `adapter_config.json` loads as its base with the adapters attached.
public enum AdapterCheckpoint {
    public static let configFile = "adapter_config.json", weightsFile = "adapter_model.safetensors"
    /// Where the base goes when the model has no file of its own (initialised from a shape): inside the
    /// adapter directory, named relatively.
    public static let inlineBase = "base"

    public static func isAdapterDirectory(_ dir: URL) -> Bool {
        FileManager.default.fileExists(atPath: dir.appendingPathComponent(configFile).path)
    }

    /// Writes the adapters of `model` (which must carry them) into `dir`, which must exist.
    static func save(_ model: LlamaModel, tokenizer: BPETokenizer?, to dir: URL) throws {
        guard let a = model.adapters else { throw ModelError("\(dir.path): the model has no adapters to save") }
        var base = a.base.map { nearby($0, from: dir) }
        if base == nil {
            try Checkpoint.saveFull(model, tokenizer: tokenizer, to: dir.appendingPathComponent(inlineBase))
            base = inlineBase
        }
        let config: [String: Any] = [
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": a.config.rank, "lora_alpha": Double(a.config.alpha),
            "target_modules": a.config.targets.map(\.rawValue), "base_model_name_or_path": base!, "lora_dropout": 0.0,
            "bias": "none", "fan_in_fan_out": false, "inference_mode": true, "init_lora_weights": true, "use_rslora": false,
            "use_dora": false, "modules_to_save": NSNull(), "layers_to_transform": NSNull(), "rank_pattern": [String: Any](),
            "alpha_pattern": [String: Any](), "revision": NSNull(),
        ]
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]),
                             to: dir.appendingPathComponent(configFile))
        try SafetensorsFile.write(a.layout.tensors.map { (name: $0.name, shape: $0.shape, data: UnsafePointer(a.params.pointer + $0.offset)) },
                                  to: dir.appendingPathComponent(weightsFile))
        if let tokenizer { try Checkpoint.saveTokenizer(tokenizer, to: dir) }
    }

    /// `path` relative to the adapter directory `dir` when the two are near (at most three levels up, as in
    /// one run directory: `../../initial/model`), so that a run directory can move; else as it is.
    static func nearby(_ path: String, from dir: URL) -> String {
        let target = URL(fileURLWithPath: path).standardizedFileURL.pathComponents
        let here = dir.standardizedFileURL.pathComponents
        var common = 0
        while common < min(target.count, here.count) && target[common] == here[common] { common += 1 }
        let up = here.count - common
        guard common > 1, up <= 3 else { return path }
        return (Array(repeating: "..", count: up) + target[common...]).joined(separator: "/")
    }

    /// The adapter configuration and the base's path (resolved against the adapter directory when
    /// relative and present there). Anything PEFT can express that this LoRA does not compute is refused by name.
    static func readConfig(_ dir: URL) throws -> (LoRAConfig, base: String) {
        let url = dir.appendingPathComponent(configFile)
        let json = try JSONValue.parse(try ModelError.mapped(url), file: url.path)
        func fail(_ key: String, _ message: String) -> ModelError { ModelError.config(url.path, key: key, message) }
        if let t = json["peft_type"]?.string, t != "LORA" { throw fail("peft_type", "'\(t)' is not supported (only LORA)") }
        guard let r = json["r"]?.int else { throw fail("r", "expected an integer rank") }
        guard let alpha = json["lora_alpha"]?.double else { throw fail("lora_alpha", "expected a number") }
        guard let list = json["target_modules"]?.array else { throw fail("target_modules", "expected a list of module names (a regular expression is not supported)") }
        var targets: [LoRATarget] = []
        for v in list {
            guard let name = v.string, let t = LoRATarget(rawValue: name) else {
                throw fail("target_modules", "'\(v.summary)' is not one of \(LoRATarget.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            targets.append(t)
        }
        for key in ["use_dora", "use_rslora", "fan_in_fan_out"] where json[key]?.bool == true { throw fail(key, "true is not supported") }
        if let b = json["bias"]?.string, b != "none" { throw fail("bias", "'\(b)' is not supported (only none)") }
        for key in ["modules_to_save", "layers_to_transform"] {
            if let v = json[key], v.array != nil || v.int != nil { throw fail(key, "is not supported (expected null)") }
        }
        for key in ["rank_pattern", "alpha_pattern"] where !(json[key]?.object?.isEmpty ?? true) { throw fail(key, "is not supported (expected {})") }
        guard var base = json["base_model_name_or_path"]?.string, !base.isEmpty else {
            throw fail("base_model_name_or_path", "expected the path of the base model")
        }
        let inside = dir.appendingPathComponent(base).standardizedFileURL.path
        if !base.hasPrefix("/") && FileManager.default.fileExists(atPath: inside) { base = inside }
        let config: LoRAConfig
        do { config = try LoRAConfig(rank: r, alpha: Float(alpha), targets: targets) } catch let e as ModelError { throw ModelError("\(url.path): \(e.description)") }
        return (config, base)
    }

    /// The base model with the directory's adapters attached (the tokenizer: the directory's, else the base's).
    static func load(directory dir: URL) throws -> LoadedModel {
        let (config, basePath) = try readConfig(dir)
        if AdapterCheckpoint.isAdapterDirectory(URL(fileURLWithPath: basePath)) {
            throw ModelError("\(dir.appendingPathComponent(configFile).path): the base \(basePath) is itself an adapter directory")
        }
        let base = try Checkpoint.load(path: basePath)
        let model = base.model
        let adapters = LoRAAdapters(layout: LoRALayout(model: model.config, lora: config))
        adapters.base = basePath
        try readWeights(into: adapters, from: dir)
        model.adapters = adapters
        model.origin = dir.standardizedFileURL.path
        var tokenizer = base.tokenizer
        let tokURL = dir.appendingPathComponent("tokenizer.json")
        if FileManager.default.fileExists(atPath: tokURL.path) {
            let t = try BPETokenizer.load(tokenizerJSON: tokURL)
            try Checkpoint.applyTokenizerConfig(t, dir: dir)
            t.eosTokenId = t.eosTokenId ?? base.tokenizer?.eosTokenId
            t.bosTokenId = t.bosTokenId ?? base.tokenizer?.bosTokenId
            tokenizer = t
        }
        return LoadedModel(model: model, tokenizer: tokenizer, source: dir.path, warnings: base.warnings)
    }

    /// Reads every adapter tensor of the directory into `adapters` (strict: each present with its shape, nothing else).
    public static func read(into adapters: LoRAAdapters, from dir: URL) throws {
        let (config, _) = try readConfig(dir)
        guard config == adapters.config else {
            throw ModelError("\(dir.appendingPathComponent(configFile).path): adapters of rank \(config.rank), alpha \(config.alpha) on \(config.targets.map(\.shortName)) where rank \(adapters.config.rank), alpha \(adapters.config.alpha) on \(adapters.config.targets.map(\.shortName)) are expected")
        }
        try readWeights(into: adapters, from: dir)
    }

    /// The tensors of `adapter_model.safetensors`, for adapters whose configuration was checked against the directory's.
    static func readWeights(into adapters: LoRAAdapters, from dir: URL) throws {
        let file = try SafetensorsFile(url: dir.appendingPathComponent(weightsFile))
        for spec in adapters.layout.tensors {
            guard let e = file.entries[spec.name] else { throw ModelError.format(file.path, "missing tensor '\(spec.name)'") }
            guard e.shape == spec.shape else { throw ModelError.format(file.path, "tensor '\(spec.name)' has shape \(e.shape), expected \(spec.shape)") }
            try file.read(spec.name, into: adapters.params.pointer + spec.offset)
            try Checkpoint.checkFinite(adapters.params.pointer + spec.offset, count: spec.count, name: spec.name, file: file.path)
        }
        if let extra = Set(file.entries.keys).subtracting(adapters.layout.tensors.map(\.name)).sorted().first {
            throw ModelError.format(file.path, "unexpected tensor '\(extra)'")
        }
    }
}
