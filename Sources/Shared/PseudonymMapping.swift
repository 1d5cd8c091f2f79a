/// One replacement de-identification made: the original value of a kind (patient,
/// accession, uid, ...) and the pseudonym that stands for it in the outputs. Deidentify
/// makes these and Ledger's PseudonymMap stores them; the two may not import each other,
/// so the one definition lives here.
public struct PseudonymMapping: Sendable, Hashable {
    public let kind: String
    public let original: String
    public let pseudonym: String

    public init(kind: String, original: String, pseudonym: String) {
        self.kind = kind
        self.original = original
        self.pseudonym = pseudonym
    }
}
