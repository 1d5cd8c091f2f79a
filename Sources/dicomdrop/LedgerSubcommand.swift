import ArgumentParser
import Config
import Foundation
import Ledger

/// What the subcommands that read watch.yaml and the ledger (`check`, `export`, `status`)
/// share: one way to open both and one way to fail, a line naming the subcommand and exit
/// status 2.
protocol LedgerSubcommand: ParsableCommand {
    var dicomdrop: Dicomdrop { get }
}

extension LedgerSubcommand {
    func fail(_ reason: String) -> Never {
        let name = Self.configuration.commandName ?? String(describing: Self.self).lowercased()
        FileHandle.standardError.write(Data("dicomdrop \(name): \(reason)\n".utf8))
        Dicomdrop.exit(withError: ExitCode(2))
    }

    /// `--config`'s configuration and its ledger; `readOnly`: an existing ledger, opened
    /// without creating or migrating anything (beside a running daemon).
    func configurationAndLedger(readOnly: Bool = false) -> (WatchConfiguration, Ledger) {
        do {
            let configuration = try ConfigurationLoader.load(path: dicomdrop.config)
            return (configuration, readOnly ? try Ledger(readingOnly: configuration.database) : try Ledger(path: configuration.database))
        } catch {
            fail("\(error)")
        }
    }
}
