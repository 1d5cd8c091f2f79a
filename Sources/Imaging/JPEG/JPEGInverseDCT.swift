/// The inverse DCT of an 8x8 block, computed exactly as libjpeg's accurate integer method
/// (jidctint.c, "islow": the Loeffler-Ligtenberg-Moschytz factorisation in 13-bit fixed
/// point), so that frames decode to what libjpeg, dcmtk and pydicom's plugins produce.
///
/// Coefficients are at most 2^31 in magnitude (Int32); every product and sum then stays
/// far inside Int, so the wrapping operators only spare the overflow checks.
enum JPEGInverseDCT {
    /// Transforms `coefficients` (dequantized, natural order), level-shifts by 2^(P-1),
    /// clamps to 0...2^P-1 and writes the 8x8 samples at `output`, rows `stride` apart.
    /// `workspace` holds 64 values between the passes.
    @inline(__always)
    static func transform(_ coefficients: UnsafePointer<Int32>, workspace: UnsafeMutablePointer<Int>,
                          output: UnsafeMutablePointer<UInt16>, stride: Int, precision: Int) {
        // libjpeg keeps 2 extra bits between the passes for 8-bit samples, 1 for 12-bit
        // ones (where 2 could overflow its 32-bit workspace): the results depend on it.
        let pass1Bits = precision == 8 ? 2 : 1
        let center = 1 << (precision - 1), maximum = (1 << precision) - 1

        for column in 0..<8 {
            let input = coefficients + column
            let out = workspace + column
            if input[8] == 0 && input[16] == 0 && input[24] == 0 && input[32] == 0
                && input[40] == 0 && input[48] == 0 && input[56] == 0 {
                let dc = Int(input[0]) &<< pass1Bits
                for row in 0..<8 { out[row * 8] = dc }
                continue
            }
            let (r0, r1, r2, r3, r4, r5, r6, r7) = butterflies(Int(input[0]), Int(input[8]), Int(input[16]), Int(input[24]),
                                                               Int(input[32]), Int(input[40]), Int(input[48]), Int(input[56]))
            let shift = 13 - pass1Bits, round = 1 << (shift - 1)
            out[0] = (r0 &+ round) &>> shift
            out[8] = (r1 &+ round) &>> shift
            out[16] = (r2 &+ round) &>> shift
            out[24] = (r3 &+ round) &>> shift
            out[32] = (r4 &+ round) &>> shift
            out[40] = (r5 &+ round) &>> shift
            out[48] = (r6 &+ round) &>> shift
            out[56] = (r7 &+ round) &>> shift
        }

        let shift = 13 + pass1Bits + 3, round = 1 << (shift - 1)
        @inline(__always) func sample(_ value: Int) -> UInt16 {
            UInt16(truncatingIfNeeded: min(max(((value &+ round) &>> shift) &+ center, 0), maximum))
        }
        for row in 0..<8 {
            let input = workspace + row * 8
            let out = output + row * stride
            if input[1] == 0 && input[2] == 0 && input[3] == 0 && input[4] == 0
                && input[5] == 0 && input[6] == 0 && input[7] == 0 {
                // The full computation with only a DC term reduces to this, bit for bit.
                let dcShift = pass1Bits + 3
                let value = UInt16(truncatingIfNeeded: min(max(((input[0] &+ (1 << (dcShift - 1))) &>> dcShift) &+ center, 0), maximum))
                for column in 0..<8 { out[column] = value }
                continue
            }
            let (r0, r1, r2, r3, r4, r5, r6, r7) = butterflies(input[0], input[1], input[2], input[3],
                                                               input[4], input[5], input[6], input[7])
            out[0] = sample(r0)
            out[1] = sample(r1)
            out[2] = sample(r2)
            out[3] = sample(r3)
            out[4] = sample(r4)
            out[5] = sample(r5)
            out[6] = sample(r6)
            out[7] = sample(r7)
        }
    }

    /// One 8-point pass of jidctint.c, scaled by 2^13 (its CONST_BITS), before descaling.
    @inline(__always)
    private static func butterflies(_ x0: Int, _ x1: Int, _ x2: Int, _ x3: Int, _ x4: Int, _ x5: Int, _ x6: Int, _ x7: Int)
        -> (Int, Int, Int, Int, Int, Int, Int, Int) {
        // Even part: the rotation of terms 2 and 6.
        let z1 = (x2 &+ x6) &* 4433                       // FIX(0.541196100)
        let even2 = z1 &+ x6 &* -15137                    // FIX(1.847759065)
        let even3 = z1 &+ x2 &* 6270                      // FIX(0.765366865)
        let even0 = (x0 &+ x4) &<< 13
        let even1 = (x0 &- x4) &<< 13
        let tmp10 = even0 &+ even3, tmp13 = even0 &- even3
        let tmp11 = even1 &+ even2, tmp12 = even1 &- even2

        // Odd part.
        let zz1 = (x7 &+ x1) &* -7373                     // FIX(0.899976223)
        let zz2 = (x5 &+ x3) &* -20995                    // FIX(2.562915447)
        let z5 = (x7 &+ x3 &+ x5 &+ x1) &* 9633           // FIX(1.175875602)
        let zz3 = (x7 &+ x3) &* -16069 &+ z5              // FIX(1.961570560)
        let zz4 = (x5 &+ x1) &* -3196 &+ z5               // FIX(0.390180644)
        let odd0 = x7 &* 2446 &+ zz1 &+ zz3               // FIX(0.298631336)
        let odd1 = x5 &* 16819 &+ zz2 &+ zz4              // FIX(2.053119869)
        let odd2 = x3 &* 25172 &+ zz2 &+ zz3              // FIX(3.072711026)
        let odd3 = x1 &* 12299 &+ zz1 &+ zz4              // FIX(1.501321110)

        return (tmp10 &+ odd3, tmp11 &+ odd2, tmp12 &+ odd1, tmp13 &+ odd0,
                tmp13 &- odd0, tmp12 &- odd1, tmp11 &- odd2, tmp10 &- odd3)
    }
}
