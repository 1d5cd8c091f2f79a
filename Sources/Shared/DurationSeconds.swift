extension Duration {
    /// The duration as a count of seconds, for logs, rates and the settle clock: the one
    /// place that knows a Duration is whole seconds plus attoseconds.
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
