import Ledger

/// `dicomdrop status`'s section on plain image datasets: each image a `metadata.csv` row
/// names that is not there, each image no row names, and each CSV that cannot be read.
enum PlainImageProblemsText {
    static func lines(_ problems: [PlainImageProblem]) -> [String] {
        ["plain image datasets: \(problems.count) problem(s)"] + problems.map { problem in
            let place = [problem.csv, problem.line.map { "line \($0)" }].compactMap { $0 }.joined(separator: " ")
            return "  \(problem.unit)  \(problem.kind.rawValue)  \(problem.name)\(place.isEmpty ? "" : " (\(place))"): \(problem.detail)"
        }
    }
}
