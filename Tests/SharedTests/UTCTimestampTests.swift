import Foundation
import Shared
import Testing

struct UTCTimestampTests {
    /// The ledger's older rows were written by ISO8601DateFormatter: the same text, or times
    /// would not sort and compare across versions.
    @Test(arguments: [0, 1, 59.999, 951_782_400, 1_764_662_400.5, 1_798_675_199, 4_102_444_800])
    func isWhatISO8601DateFormatterWrites(_ seconds: Double) {
        let date = Date(timeIntervalSince1970: seconds)
        #expect(UTCTimestamp.string(date) == ISO8601DateFormatter().string(from: date))
    }
}
