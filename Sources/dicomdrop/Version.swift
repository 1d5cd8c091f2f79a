/// dicomdrop's version, printed by `dicomdrop --version`; the only place it is written.
enum DicomdropVersion {
    static let current = "0.11.0"
}
