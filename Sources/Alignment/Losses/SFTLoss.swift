/// Supervised fine-tuning: the mean negative log-likelihood of the response tokens, -log M(y|x) / |y|,
/// with d/d logp(y) = -1 / |y|. Used for SFT phases and as IRPO's extra term.
public enum SFTLoss {
    public static func evaluate(logp: Double, length: Int) -> (loss: Double, dLogp: Double) {
        let n = Double(max(length, 1))
        return (-logp / n, -1 / n)
    }
}
