import Config
import DICOM
import Ledger

/// Output names come from the SOP Instance UID, or the content hash when there is none:
/// never from anything about the patient.
enum OutputNaming {
    /// Where datasets without an image go (Config's ReservedBucket holds the names).
    static let nonImageBucket = ReservedBucket.nonImage.rawValue
    /// Where images that may show burned-in identity go.
    static let reviewBucket = ReservedBucket.review.rawValue
    /// Where images no one should train on go.
    static let suboptimalBucket = ReservedBucket.suboptimal.rawValue

    /// `<bucket>/<name>.png` for a single-frame image; `<name>-f0001.png`, ... for each frame
    /// of a multi-frame one (the suffix cannot collide with a name, which holds only digits
    /// and dots, or hex).
    static func imagePath(bucket: String, name: String, frame: Int, of frames: Int) -> String {
        frames == 1 ? "\(bucket)/\(name).png" : "\(bucket)/\(name)-f\(String(format: "%04d", frame + 1)).png"
    }

    /// A UID's text (PS3.5 9.1): components of digits separated by dots, at most 64 characters.
    static func isUID(_ text: String) -> Bool {
        text.count <= 64 && text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { component in
            !component.isEmpty && component.allSatisfy { ("0"..."9").contains($0) }
        }
    }

    /// `keyedName` stands in for the content hash (a keyed hash of it, Pseudonymizer.contentName):
    /// the SHA-256 of a source file would let anyone holding the file find its outputs. It
    /// is computed only when a name needs it (no usable UID, or a UID already taken).
    static func baseName(for dataSet: DataSet, keyedName: () -> String) -> String {
        if let uid = dataSet.string(.sopInstanceUID), isUID(uid) {
            return uid
        }
        // No UID, or not one (a file may plant anything there, and `retain_uids` keeps it).
        return keyedName()
    }

    /// The name, made unique against outputs the ledger gives to other content and names
    /// claimed in this run: two different files with one SOP Instance UID both survive.
    static func claimName(for dataSet: DataSet, sha: String, keyedName: () -> String, bucket: String, ledger: Ledger,
                          claimed: ClaimSet<String>) -> String {
        claimName(base: baseName(for: dataSet, keyedName: keyedName), sha: sha, keyedName: keyedName, bucket: bucket, ledger: ledger,
                  claimed: claimed)
    }

    /// The same for a name chosen otherwise (a plain image's is always the keyed content name).
    static func claimName(base: String, sha: String, keyedName: () -> String, bucket: String, ledger: Ledger,
                          claimed: ClaimSet<String>) -> String {
        func isFree(_ candidate: String) -> Bool {
            let key = "\(bucket)/\(candidate)"
            // A held content keeps its name under held/: it comes back here when released.
            // A ledger that cannot answer leaves the name to this run's claims, as before.
            if (try? ledger.anyOutput(of: [key + ".json", HeldImages.prefix + key + ".json"], ownedByOtherThan: sha)) == true { return false }
            return claimed.claim(key)
        }
        if isFree(base) { return base }
        let keyed = keyedName()
        if isFree(base + "-" + keyed.prefix(16)) { return base + "-" + keyed.prefix(16) }
        return base + "-" + keyed
    }
}
