@testable import dicomdrop
import Testing

@Suite struct VersionTests {
    @Test func versionPrintsTheOneVersionStringAndExitsZero() throws {
        let result = try ChildProcess.run(["--version"])
        #expect(result.status == 0)
        #expect(result.standardOutput == DicomdropVersion.current + "\n")
        #expect(result.standardError.isEmpty)
        // Three dot-separated numbers, as a release tag spells it.
        let parts = DicomdropVersion.current.split(separator: ".", omittingEmptySubsequences: false)
        #expect(parts.count == 3 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) }, "\(DicomdropVersion.current)")
    }
}
