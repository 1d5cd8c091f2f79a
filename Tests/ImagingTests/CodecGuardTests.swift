import Foundation
@testable import Imaging
import Testing

/// The limits the C layer sets on hostile frames, each with the frame that needs it.
@Suite struct CodecGuardTests {
    /// A 64 x 64 progressive JPEG (Pillow, quality 90).
    static let progressive: [UInt8] = hexBytes([
        "ffd8ffe000104a46494600010100000100010000ffdb0043000302020302020303030304030304050805050404050a07",
        "0706080c0a0c0c0b0a0b0b0d0e12100d0e110e0b0b1016101113141515150c0f171816141812141514ffc2000b080040",
        "004001011100ffc400190001010101010100000000000000000000040605030102ffda00080101000000019c5a96b57b",
        "21d96b52cb21d75d4b5e2cd2d7acb548e7ad4bd6f6439296b57d48755ad4b5c0ad6a5ad58b8ea5ad4b9007ffc4001b10",
        "010100030101010000000000000000000200030406050115ffda00080101000105023cfc79f8f3f1e7e3cfc79fb3f958",
        "74706d66d5794f3f1e7e3cfc79f8f3f6e6ae97993c83ee52a3cfc79f8f3f1e7eddfced3454545479f8f3f1e7edad8f39",
        "e22a2a2a2a3cfd9fcac3a3836b36abca5454545455b9aba5e64f20fb94a8a8a8a8a8a8a8a8a8a8a8a8ab77dbc1811515",
        "151515156d7bd836b11dfbffc4002c1000000307040103040300000000000000000103020405113393e31236a4e27113",
        "2122143132813561a5ffda0008010100063f02db7c8e836df23a0db7c8e836df23a0db7c8e836df23a06967880a6ee8b",
        "3f75157bd2c97ef402374660c8272f765679250e7e48d91b6f91d06dbe4741b6f91d06dbe4741b6f91d031f590741d35",
        "fe3ebbe931abc4d90d9a6d40994e7f165a566645e758a900b9906dbe4741b6f91d06dbe4741b6f91d02a8290f72757a2",
        "2fc577e67e272f69b322152017320a900b99054805cc836df23a0db7c8e836df23a0227446148293f76967d65429782d",
        "22a402e64152017320a900b99054805cc836df23a06967880a6ee8b3f75157bd2c97ef402374660c8272f765679250e7",
        "e48d9152017320a900b99054805cc82a402e6415201732063eb20e83a6bfc7d77d2635789b21b34da81329cfe2cb4acc",
        "c8bceb152017320a900b99054805cc82a402e64152017320a900b99054805cc82a402e64152017320a900b99054805cc",
        "82a402e6415201732055dcdb8730a4a5ea20ecaa92f6fb9194d93152017320a900b99054805cc82a402e64152017320a",
        "900b9901329bcbb399ce7ad17154ccff00af9118fe6ffcec63ffc4002010010100010500020300000000000000000111",
        "2100203141817191103061ffda0008010100013f21dc739ce73ca38c8a58550650f758955a6e9cf052627bb8e739cfd9",
        "fbd592e0d94fb3498bb4bb98102b3b87c1b9439ce71127c196a4cc99194a77bd451439cf9955a4e1c762ccdf3728a28a",
        "1e51c6452c2a83287bac4aad374e7829313ddca28a28a767ef564b83653ecd262ed2ee6040acee1f07ee514514514514",
        "51451453851dbadc16617fa5c2726f51451451431d6c728f4f3cb8e7f05fffda0008010100000010b4d966ab8d36db6e",
        "ffc4001910010101010101000000000000000000000100311121f0ffda0008010100013f10cad95b2b656cad95b3be4d",
        "c3957403afa8358b801e822008e83d5117ae8195b2b656cad95be71a756379de7a69313546b5ca65c083514e9c33a32b",
        "656cad9598ef8306e25cf594f0746ce8ce8ce8cad95b2b1b003d084088e8bd4013ae899d19d19d19d195b3be4dc39574",
        "03afa8358b801e822008e83d5117ae819d19d19d19d19d1f38d3ab1bcef3d34989aa35ae532e041a8a74e19d19d19d19",
        "d19d19d19d19d19d19d19d19d19d047b22294f0101e3c8747233a33a33a33a33a33a09bf88c01476ca3d0f4380e8e51f",
        "ffd9",
    ].joined())

    static func hexBytes(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = [], high: UInt8?
        for character in text.utf8 {
            let nibble = character <= 0x39 ? character - 0x30 : character - 0x61 + 10
            if let first = high { bytes.append(first << 4 | nibble); high = nil } else { high = nibble }
        }
        return bytes
    }

    @Test func aProgressiveFrameDecodes() throws {
        let frame = try LibJPEGTurboDecoder.decode(Data(Self.progressive), datasetSaysRGB: false)
        #expect(frame.width == 64 && frame.height == 64 && frame.components == 1 && frame.samples.count == 64 * 64)
    }

    /// Thousands of scans in a few kilobytes would each walk every block of the image: the
    /// 501st is refused (each costs ~100 bytes here; at 16384^2 each would cost seconds).
    @Test func aFrameOfMoreThan500ScansIsRefused() throws {
        let bytes = Self.progressive
        var sos: [Int] = []
        for index in 0..<(bytes.count - 1) where bytes[index] == 0xFF && bytes[index + 1] == 0xDA { sos.append(index) }
        #expect(sos.count >= 3)
        // The second scan, header and entropy-coded data, repeated 700 times after itself.
        let scan = Array(bytes[sos[1]..<sos[2]])
        var crafted = Array(bytes[..<sos[2]])
        for _ in 0..<700 { crafted += scan }
        crafted += bytes[sos[2]...]
        #expect(throws: RenderError.corruptFrame("libjpeg-turbo: more than 500 scans")) {
            try LibJPEGTurboDecoder.decode(Data(crafted), datasetSaysRGB: false)
        }
    }
}
