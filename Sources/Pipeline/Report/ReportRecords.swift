import Foundation

/// What the report shows of one run folder, read from its files alone (so that it can be written while the
/// run goes on, from another process). Model outputs in the records are untrusted text: they are read as
/// UTF-8 with invalid bytes replaced, kept as text, and escaped where the page is written (`HTML`).
struct ReportedRun {
    /// The run's name in the report ("irpo", "irpo seed 1").
    var name: String
    var dir: URL
    /// `config.yaml` as written by the run, and the commands that started and resumed it.
    var config: String?
    var commands: [String]
    var status: String?
    /// Evaluations in schedule order (start, rounds, control), with the promotion gate's decisions.
    var rows: [(label: String, result: EvaluationResult, promoted: Bool)]
    var folders: [ReportedFolder]

    static let pairSamples = 3, answerSamples = 4

    init(name: String, dir: URL) throws {
        self.name = name
        self.dir = dir
        let state = try RunState.load(dir.appendingPathComponent(RunState.fileName))
        config = Self.text(dir.appendingPathComponent(RunState.configFileName))
        commands = state?.commands ?? []
        // The status line names the folder as it was given (relative paths stay relative).
        status = (try? RunStatus(dir: dir).text(figures: false).split(separator: "\n").first.map(String.init))?
            .replacingOccurrences(of: dir.path + ":", with: dir.relativePath + ":")
        rows = try SeedSweep.read(seed: 0, dir: dir).rows
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasPrefix("round-") }.sorted()
        folders = (["initial"] + names + ["control"]).map { RoundFolder($0, in: dir) }
            .filter { FileManager.default.fileExists(atPath: $0.url.path) }
            .map(ReportedFolder.init)
    }

    /// A file as text, invalid UTF-8 replaced.
    static func text(_ url: URL) -> String? {
        FileManager.default.contents(atPath: url.path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The JSON objects of a JSON Lines file (lines that are not objects are left out), the first `limit`.
    static func objects(_ url: URL, limit: Int = .max) -> [[String: Any]] {
        guard let text = text(url) else { return [] }
        var out: [[String: Any]] = []
        for line in text.split(separator: "\n") where out.count < limit {
            if let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] { out.append(o) }
        }
        return out
    }
}

/// One folder of a run (`initial`, `round-NN`, `control`) as the report shows it.
struct ReportedFolder {
    var name: String
    /// "start" / "SFT", "round N", "control": the evaluation's label when there is one.
    var label: String
    var metrics: [[String: Any]]
    var audit: JudgeAuditReport?
    var promotion: PromotionGate.Decision?
    var evaluationLengths: [Int]
    var pairs: [(prompt: String, chosen: String, rejected: String)]
    var answers: [(question: String, answer: String, correct: Bool)]

    init(_ folder: RoundFolder) {
        name = folder.name
        func decode<T: Decodable>(_ type: T.Type, _ file: RunFile) -> T? {
            FileManager.default.contents(atPath: folder.url(file).path).flatMap { try? JSONDecoder().decode(T.self, from: $0) }
        }
        let evaluation = decode(EvaluationResult.self, .evaluation)
        label = evaluation?.label ?? folder.round.map { "round \($0)" } ?? folder.name
        evaluationLengths = evaluation?.lengths ?? []
        metrics = ReportedRun.objects(folder.url(.metrics))
        audit = decode(JudgeAuditReport.self, .judgeAudit)
        promotion = decode(PromotionGate.Decision.self, .promotion)
        pairs = ReportedRun.objects(folder.url(.pairs), limit: ReportedRun.pairSamples).map {
            ($0["prompt"] as? String ?? "", $0["chosen"] as? String ?? "", $0["rejected"] as? String ?? "")
        }
        answers = ReportedRun.objects(folder.url(.evaluationAnswers), limit: ReportedRun.answerSamples).map {
            ($0["question"] as? String ?? "", $0["answer"] as? String ?? "", $0["correct"] as? Bool ?? false)
        }
    }

    /// Training steps by phase key, in the order the phases first appear.
    var trainingPhases: [(key: String, steps: [[String: Any]])] {
        var order: [String] = [], byKey: [String: [[String: Any]]] = [:]
        for m in metrics where m["step"] != nil {
            guard let key = m["phase"] as? String else { continue }
            if byKey[key] == nil { order.append(key) }
            byKey[key, default: []].append(m)
        }
        return order.map { ($0, byKey[$0]!) }
    }

    /// The summary line of phase `phase` (not a step line), if recorded.
    func phaseLine(_ phase: String) -> [String: Any]? {
        metrics.last { $0["step"] == nil && $0["phase"] as? String == phase && $0["key"] == nil }
    }

    /// Wall seconds by unit of work: phases (`key` lines), evaluations and dev evaluations.
    var seconds: [(name: String, value: Double)] {
        metrics.compactMap { m in
            guard m["step"] == nil, let s = m["seconds"] as? Double, let phase = m["phase"] as? String else { return nil }
            if m["key"] != nil || phase == "evaluate" { return (phase, s) }
            return nil
        }
    }
}
