import Crypto
import Foundation
import Shared
import Synchronization

/// Keyed, one-way, consistent replacements: HMAC-SHA256 under the installation's secret key.
/// The same input under the same key always gives the same pseudonym, so images of one
/// patient or study stay together across folders, days and restarts; without the key there
/// is no way back (the pseudonym map database is the only reverse lookup).
public struct Pseudonymizer: Sendable {
    /// HMAC keyed and not yet fed: each code starts from a copy (the digest state is copied
    /// on write), so the key's inner and outer pads are derived once, not per value.
    private let keyed: HMAC<SHA256>
    /// Pseudonyms already made, shared by every copy of this pseudonymizer (the workers'):
    /// the files of a series repeat its patient, study, series and frame-of-reference
    /// identifiers, and each repeat would otherwise cost an HMAC.
    let recent = RecentPseudonyms()

    public init(key: SymmetricKey) { keyed = HMAC<SHA256>(key: key) }

    private func mac(_ kind: String, _ value: String) -> HashedAuthenticationCode<SHA256> {
        // The kind is part of the message, so one value gives unrelated pseudonyms as a
        // patient ID and as an accession number.
        // NFC first: one name typed precomposed in one file and decomposed in another
        // (UTF-8 NFD, or decoded from another character set) is one patient. ASCII text is
        // its own NFC (UIDs, IDs, most names), and is not handed to Foundation's normaliser.
        let normalized = value.utf8.allSatisfy { $0 < 0x80 } ? value : value.precomposedStringWithCanonicalMapping
        var code = keyed
        code.update(data: Data((kind + "\u{0}" + normalized).utf8))
        return code.finalize()
    }

    /// 32 lower-case hexadecimal digits keyed from a content hash: names an output whose
    /// dataset gives no usable UID without letting a holder of the source file find it.
    public func contentName(_ sha256: String) -> String {
        Hexadecimal.string(mac("content-name", sha256).prefix(16))
    }

    /// 16 upper-case hexadecimal digits (64 bits): fits every text VR including SH and CS.
    public func identifier(_ value: String, kind: String) -> String {
        let key = kind + "\u{0}" + value
        if let known = recent.identifier(key) { return known }
        let made = Hexadecimal.string(mac(kind, value).prefix(8), uppercase: true)
        recent.remember(identifier: made, for: key)
        return made
    }

    /// `2.25.` and the decimal of 128 bits of the HMAC (PS3.5 B.2: a UUID-derived UID), so
    /// that every reference to the original UID, in any file, maps to the same new one.
    public func uid(_ original: String) -> String {
        if let known = recent.uid(original) { return known }
        var value: UInt128 = 0
        for byte in mac("uid", original).prefix(16) { value = value << 8 | UInt128(byte) }
        let made = "2.25." + String(value)
        recent.remember(uid: made, for: original)
        return made
    }

    /// Days to move a patient's dates back, 1 to 3,650, the same for every file of that
    /// patient: intervals between their studies are kept, the true dates are not.
    public func dayShift(forPatient patientID: String) -> Int {
        let bytes = Array(mac("date-shift", patientID).prefix(4))
        let value = bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        return Int(value % 3650) + 1
    }
}

/// The pseudonyms made lately, by input: at most `capacity` of each kind, forgotten all at
/// once when full (a daemon runs for months; a series' identifiers come together, so a
/// fresh table soon holds the current ones again). Only speed depends on it: a forgotten
/// pseudonym is made again, the same.
final class RecentPseudonyms: Sendable {
    static let capacity = 4096
    private let identifiers = Mutex<[String: String]>([:])
    private let uids = Mutex<[String: String]>([:])

    func identifier(_ key: String) -> String? { identifiers.withLock { $0[key] } }
    func uid(_ original: String) -> String? { uids.withLock { $0[original] } }

    func remember(identifier: String, for key: String) { Self.remember(identifier, for: key, in: identifiers) }
    func remember(uid: String, for original: String) { Self.remember(uid, for: original, in: uids) }

    private static func remember(_ value: String, for key: String, in table: borrowing Mutex<[String: String]>) {
        table.withLock { table in
            if table.count >= capacity { table.removeAll(keepingCapacity: true) }
            table[key] = value
        }
    }

    var count: (identifiers: Int, uids: Int) { (identifiers.withLock { $0.count }, uids.withLock { $0.count }) }
}
