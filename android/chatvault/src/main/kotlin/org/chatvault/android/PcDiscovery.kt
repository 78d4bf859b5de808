// Finds PCs running `chatvault serve` on the local network (mDNS `_chatvault._tcp`).
package org.chatvault.android

import android.content.Context
import android.net.nsd.NsdManager
import android.net.nsd.NsdServiceInfo
import android.net.wifi.WifiManager
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.launch
import kotlinx.coroutines.suspendCancellableCoroutine
import kotlin.coroutines.resume

/** A PC offering to receive backups. */
data class DiscoveredPc(val name: String, val host: String, val port: Int, val fingerprint: String?) {
    /** `host:port` (IPv6 in brackets), what [org.chatvault.PcPairing.pairByCode] takes. */
    val address: String get() = if (host.contains(':')) "[$host]:$port" else "$host:$port"
}

/**
 * Discovers receivers while collected, holding a Wi-Fi multicast lock (without it many
 * phones drop mDNS replies): each element is every PC currently found and resolved (a PC
 * that leaves the network leaves the list). Services are resolved one at a time: before
 * Android 14, NsdManager fails a second concurrent resolve with FAILURE_ALREADY_ACTIVE.
 * Guest Wi-Fi and hotspots often isolate clients: if nothing is found, offer manual
 * address entry.
 */
fun discoverPcs(context: Context): Flow<List<DiscoveredPc>> = callbackFlow {
    val wifi = context.applicationContext.getSystemService(WifiManager::class.java)
    val lock = wifi.createMulticastLock("chatvault-discovery").apply { setReferenceCounted(false); acquire() }
    val nsd = context.getSystemService(NsdManager::class.java)
    val found = Channel<NsdServiceInfo>(Channel.UNLIMITED)
    // Guarded by itself: the two coroutines below may run on different threads.
    val pcs = linkedMapOf<String, DiscoveredPc>()
    val lost = Channel<String>(Channel.UNLIMITED)
    val listener = object : NsdManager.DiscoveryListener {
        override fun onServiceFound(info: NsdServiceInfo) { found.trySend(info) }
        override fun onServiceLost(info: NsdServiceInfo) { lost.trySend(info.serviceName) }
        override fun onDiscoveryStarted(type: String) {}
        override fun onDiscoveryStopped(type: String) {}
        override fun onStartDiscoveryFailed(type: String, errorCode: Int) { close(IllegalStateException("mDNS discovery failed ($errorCode)")) }
        override fun onStopDiscoveryFailed(type: String, errorCode: Int) {}
    }
    launch {
        for (name in lost) {
            val now = synchronized(pcs) { if (pcs.remove(name) != null) pcs.values.toList() else null }
            if (now != null) send(now)
        }
    }
    launch {
        for (info in found) {
            val pc = resolve(nsd, info) ?: continue
            send(synchronized(pcs) { pcs[pc.name] = pc; pcs.values.toList() })
        }
    }
    nsd.discoverServices("_chatvault._tcp", NsdManager.PROTOCOL_DNS_SD, listener)
    awaitClose {
        runCatching { nsd.stopServiceDiscovery(listener) }
        found.close()
        lost.close()
        lock.release()
    }
}

/** Resolves one service (the next waits for it); null when it cannot be resolved. */
private suspend fun resolve(nsd: NsdManager, info: NsdServiceInfo): DiscoveredPc? = suspendCancellableCoroutine { cont ->
    @Suppress("DEPRECATION")
    nsd.resolveService(info, object : NsdManager.ResolveListener {
        override fun onServiceResolved(s: NsdServiceInfo) {
            val fp = s.attributes["fp"]?.let { String(it, Charsets.UTF_8) }
            @Suppress("DEPRECATION")
            val host = s.host?.hostAddress
            cont.resume(host?.let { DiscoveredPc(s.serviceName, it.substringBefore('%'), s.port, fp) })
        }
        override fun onResolveFailed(s: NsdServiceInfo, errorCode: Int) { cont.resume(null) }
    })
}
