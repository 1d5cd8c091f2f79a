extension Duration {
    /// In seconds, as logs and the ledger state it.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
