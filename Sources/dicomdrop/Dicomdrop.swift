import ArgumentParser
import Logging

@main
struct Dicomdrop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dicomdrop",
        abstract: "Watches a drop directory for DICOM studies and turns them into de-identified PNG images and metadata.",
        subcommands: [Dump.self]
    )

    static func main() {
        // Log lines go to standard error, so that standard output carries only data.
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        main(nil)
    }
}
