// Finds PCs running `chatvault serve` with Bonjour. Needs NSLocalNetworkUsageDescription
// and NSBonjourServices = [_chatvault._tcp] in Info.plist.
import Foundation
import Network

/// A PC offering to receive backups.
public struct DiscoveredPc: Sendable, Hashable {
    public let name: String
    public let endpoint: String
    public let fingerprint: String?
}

/// Browses `_chatvault._tcp` until the stream's consumer stops.
public func discoverPcs() -> AsyncStream<[DiscoveredPc]> {
    AsyncStream { continuation in
        let browser = NWBrowser(for: .bonjourWithTXTRecord(type: "_chatvault._tcp", domain: nil), using: .tcp)
        browser.browseResultsChangedHandler = { results, _ in
            let pcs = results.compactMap { result -> DiscoveredPc? in
                guard case let .service(name, _, _, _) = result.endpoint else { return nil }
                var fingerprint: String?
                if case let .bonjour(txt) = result.metadata {
                    fingerprint = txt.dictionary["fp"]
                }
                return DiscoveredPc(name: name, endpoint: "\(result.endpoint)", fingerprint: fingerprint)
            }
            continuation.yield(pcs)
        }
        browser.stateUpdateHandler = { state in
            if case .failed = state { continuation.finish() }
        }
        continuation.onTermination = { _ in browser.cancel() }
        browser.start(queue: .global(qos: .utility))
    }
}
