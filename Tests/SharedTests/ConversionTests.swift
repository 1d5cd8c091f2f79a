import Shared
import Testing

/// The conversions every module uses, against values worked out by hand.
@Suite struct ConversionTests {
    @Test func bytesBecomeTwoDigitsEachMostSignificantFirst() {
        #expect(Hexadecimal.string([0x00, 0x0F, 0xA5, 0xFF]) == "000fa5ff")
        #expect(Hexadecimal.string([0x00, 0x0F, 0xA5, 0xFF], uppercase: true) == "000FA5FF")
        #expect(Hexadecimal.string([UInt8]()) == "")
        var text = Array("u00".utf8)
        Hexadecimal.append(0x1B, to: &text)
        #expect(String(decoding: text, as: UTF8.self) == "u001b")
    }

    @Test func aDurationInSecondsKeepsItsFraction() {
        #expect(Duration.seconds(3).inSeconds == 3)
        #expect(Duration.milliseconds(1_500).inSeconds == 1.5)
        #expect(abs((Duration.seconds(2) + .nanoseconds(250)).inSeconds - 2.000_000_25) < 1e-15)
    }
}
