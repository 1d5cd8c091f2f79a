import ArgumentParser
import Foundation
import Imaging
import Ledger

/// `dicomdrop render-boxes NAME`: an image's labelled boxes drawn over its PNG, to check them.
struct RenderBoxes: LedgerSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "render-boxes",
        abstract: "Draw the labelled boxes of an image over its PNG, to check them by eye.",
        discussion: """
            NAME is the image's output name (the PNG's name without .png, as in manifest.csv).
            Writes NAME.boxes.png (one per frame with boxes, for a multi-frame image) and prints
            which colour is which label. Withdrawn labels are not drawn.
            """
    )

    @ParentCommand var dicomdrop: Dicomdrop

    @Argument(help: "The image's output name.")
    var name: String

    @Option(help: "Folder to write the drawings into.")
    var output = "."

    func run() throws {
        let (configuration, ledger) = configurationAndLedger(readOnly: true)
        let found: (pngs: [String], rows: Int?, columns: Int?, boxes: [Ledger.DrawableBox])?
        do { found = try ledger.boxes(ofImage: name) } catch { fail("\(error)") }
        guard let found else { fail("no image named \(name) in the ledger") }
        guard !found.boxes.isEmpty else { fail("\(name) has no labelled boxes") }
        guard !found.pngs.isEmpty else { fail("\(name) has no PNG") }
        let labels = Array(Set(found.boxes.map(\.label))).sorted()
        let colors = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, BoxOverlay.palette[$0 % BoxOverlay.palette.count]) })
        // A box without a frame is on every frame; the PNGs are `<name>.png` or `<name>-f0001.png`, ...
        let frames = Set(found.boxes.map { $0.frame ?? 1 })
        for (index, png) in found.pngs.enumerated() {
            let frame = found.pngs.count == 1 ? 1 : Self.frame(of: png) ?? index + 1
            guard frames.contains(frame) || found.boxes.contains(where: { $0.frame == nil }) else { continue }
            let raster: Raster
            do {
                raster = try PNGCodec.decode(try Data(contentsOf: configuration.output.appendingPathComponent(png)))
            } catch {
                fail("\(png): \(error)")
            }
            let boxes = found.boxes.filter { $0.frame == nil || $0.frame == frame }.map { drawable in
                let box = drawable.box
                let (scaleX, scaleY) = box.units == .normalized ? (Double(raster.width), Double(raster.height)) : (1, 1)
                return BoxOverlay.Box(x: box.x * scaleX, y: box.y * scaleY, width: box.width * scaleX, height: box.height * scaleY,
                                      color: colors[drawable.label]!)
            }
            let drawn = BoxOverlay.draw(boxes, on: raster, thickness: BoxOverlay.thickness(width: raster.width, height: raster.height))
            let file = URL(fileURLWithPath: output).appendingPathComponent(
                (found.pngs.count == 1 ? name : "\(name)-f\(String(format: "%04d", frame))") + ".boxes.png")
            do {
                try PNGCodec.encode(drawn, compressionLevel: 6).write(to: file)
            } catch {
                fail("\(file.path): \(error)")
            }
            print("\(file.path): \(boxes.count) box(es)")
        }
        for label in labels {
            let color = colors[label]!
            print("  \(label): rgb(\(color.red), \(color.green), \(color.blue))")
        }
    }

    /// The frame a PNG's `-fNNNN` suffix names.
    static func frame(of png: String) -> Int? {
        guard let match = png.range(of: #"-f[0-9]{4,}\.png$"#, options: .regularExpression) else { return nil }
        return Int(png[match].dropFirst(2).dropLast(4))
    }
}
