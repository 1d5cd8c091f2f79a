import Config
import Deidentify
import Foundation
import Ledger

/// Turns a dropped annotation file into the labels the ledger records with its content.
struct AnnotationStage: Sendable {
    let settings: AnnotationSettings
    let pseudonyms: Pseudonymizer
    let map: PseudonymMap
    let ledger: Ledger
    /// `retain_uids`: the outputs carry the original UIDs, so a label's UID is kept as written.
    let retainsUIDs: Bool

    func isAnnotationFile(_ path: String) -> Bool { settings.isAnnotationFile(path) }

    /// The file's labels, or why it could not be read. `bytes` is nil for a file too large
    /// to hold: annotation files are tables of labels, never that large.
    func read(bytes: Data?, path: String) -> Result<AnnotationFile, AnnotationFileReader.Failure> {
        guard let bytes else {
            return .failure(.tooLarge(limit: ContentHasher.inMemoryLimit))
        }
        do {
            return .success(try AnnotationFileReader(resolveUID: resolveUID).read(bytes, path: path))
        } catch {
            return .failure(error)
        }
    }

    /// The UID the outputs carry for a UID as written: the pseudonym map's entry for an
    /// original already seen; the UID itself when an instance already carries it (it was
    /// given pseudonymized); else the pseudonym the key gives it, which is what its image
    /// will carry when it comes.
    func resolveUID(_ uid: String) -> String {
        if retainsUIDs { return uid }
        if let known = try? map.pseudonym(of: uid, kind: "uid") { return known }
        if (try? ledger.hasInstance(withSOPInstanceUID: uid)) == true { return uid }
        return pseudonyms.uid(uid)
    }
}
