import Foundation

/// Finds changes by walking the drop directory every `interval` seconds and comparing each
/// file's stamp with the in-memory index: what works on NFS, SMB/CIFS and FUSE mounts, where
/// files written by the NAS or another host raise no inotify event on this machine.
public struct PollWatcher: ChangeSource {
    public let index: DropIndex
    public let interval: Double
    /// Told after each pass (for the live state and the log).
    let onPass: @Sendable (DropIndex.Pass) -> Void

    public init(index: DropIndex, interval: Double, onPass: @escaping @Sendable (DropIndex.Pass) -> Void = { _ in }) {
        self.index = index
        self.interval = interval
        self.onPass = onPass
    }

    public func run(report: @escaping @Sendable (WatchEvent) -> Void) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: .seconds(interval)) } catch { return }
            let pass = await index.pass()
            onPass(pass)
            for unit in pass.changedUnits { report(.touched(unit: unit)) }
        }
    }
}
