// Finds PCs running `chatvault serve` on the local network (mDNS `_chatvault._tcp`).
package org.chatvault.android

import android.content.Context
import android.net.nsd.NsdManager
import android.net.nsd.NsdServiceInfo
import android.net.wifi.WifiManager
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.callbackFlow

/** A PC offering to receive backups. */
data class DiscoveredPc(val name: String, val host: String, val port: Int, val fingerprint: String?)

/**
 * Discovers receivers while collected, holding a Wi-Fi multicast lock (without it many
 * phones drop mDNS replies). Guest Wi-Fi and hotspots often isolate clients: if nothing is
 * found, offer manual address entry.
 */
fun discoverPcs(context: Context): Flow<DiscoveredPc> = callbackFlow {
    val wifi = context.applicationContext.getSystemService(WifiManager::class.java)
    val lock = wifi.createMulticastLock("chatvault-discovery").apply { setReferenceCounted(false); acquire() }
    val nsd = context.getSystemService(NsdManager::class.java)
    val listener = object : NsdManager.DiscoveryListener {
        override fun onServiceFound(info: NsdServiceInfo) {
            @Suppress("DEPRECATION")
            nsd.resolveService(info, object : NsdManager.ResolveListener {
                override fun onServiceResolved(s: NsdServiceInfo) {
                    val fp = s.attributes["fp"]?.let { String(it, Charsets.UTF_8) }
                    @Suppress("DEPRECATION")
                    trySend(DiscoveredPc(s.serviceName, s.host?.hostAddress ?: return, s.port, fp))
                }
                override fun onResolveFailed(s: NsdServiceInfo, errorCode: Int) {}
            })
        }
        override fun onServiceLost(info: NsdServiceInfo) {}
        override fun onDiscoveryStarted(type: String) {}
        override fun onDiscoveryStopped(type: String) {}
        override fun onStartDiscoveryFailed(type: String, errorCode: Int) { close(IllegalStateException("mDNS discovery failed ($errorCode)")) }
        override fun onStopDiscoveryFailed(type: String, errorCode: Int) {}
    }
    nsd.discoverServices("_chatvault._tcp", NsdManager.PROTOCOL_DNS_SD, listener)
    awaitClose {
        runCatching { nsd.stopServiceDiscovery(listener) }
        lock.release()
    }
}
