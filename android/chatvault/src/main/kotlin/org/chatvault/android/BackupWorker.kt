// Scheduled backups on Android: WorkManager calls the engine's scheduler, which decides
// which plans are due and runs them. Android-only (needs the Android SDK to compile).
package org.chatvault.android

import android.app.NotificationChannel
import android.app.NotificationManager
import android.content.Context
import android.content.Intent
import android.content.IntentFilter
import android.content.pm.ServiceInfo
import android.net.ConnectivityManager
import android.net.NetworkCapabilities
import android.os.BatteryManager
import android.os.Build
import android.os.PowerManager
import androidx.core.app.NotificationCompat
import androidx.work.Constraints
import androidx.work.CoroutineWorker
import androidx.work.ExistingPeriodicWorkPolicy
import androidx.work.ForegroundInfo
import androidx.work.NetworkType
import androidx.work.PeriodicWorkRequestBuilder
import androidx.work.WorkManager
import androidx.work.WorkerParameters
import androidx.work.workDataOf
import java.io.File
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.CancellationException
import org.chatvault.Vault
import org.chatvault.ffi.DeviceConditions
import org.chatvault.ffi.RunOutcome

/**
 * Runs the due backup plans. Enqueue it once with [BackupWorker.schedule]; WorkManager then
 * calls it every [intervalMinutes] while the device is on Wi-Fi, charging, with the battery
 * not low. Long runs are promoted to a foreground service of type dataSync. When Android
 * stops the work (constraints lost, or Android 15's 6-hour dataSync limit), the coroutine is
 * cancelled, the engine stops within a second, and the next run resumes where it stopped.
 */
class BackupWorker(context: Context, params: WorkerParameters) : CoroutineWorker(context, params) {

    override suspend fun doWork(): Result {
        // Promotion to a foreground service is best effort: Android 12+ refuses it to a
        // worker started in the background (ForegroundServiceStartNotAllowedException, an
        // IllegalStateException), and Android 15 once the dataSync quota is spent. The run
        // then goes on as ordinary background work instead of failing.
        try {
            setForeground(foregroundInfo("Backing up your chats"))
        } catch (e: IllegalStateException) {
            android.util.Log.i("ChatVault", "backing up without a foreground service: ${e.javaClass.simpleName}")
        }
        val vault = Vault(File(applicationContext.filesDir, "chatvault"))
        return try {
            val destinations = (applicationContext as? DestinationsProvider)?.destinations()
                ?: AndroidDestinations(applicationContext)
            vault.scheduler(KeystoreSecretStore(applicationContext), destinations).use { scheduler ->
                val runs = scheduler.runDue(deviceConditions(applicationContext)) { p ->
                    setProgressAsync(workDataOf("fraction" to p.fraction, "current" to p.current))
                }
                if (runs.any { it.outcome == RunOutcome.FAILED || it.outcome == RunOutcome.INTERRUPTED }) Result.retry() else Result.success()
            }
        } catch (e: CancellationException) {
            throw e
        } finally {
            vault.close()
        }
    }

    override suspend fun getForegroundInfo(): ForegroundInfo = foregroundInfo("Backing up your chats")

    private fun foregroundInfo(text: String): ForegroundInfo {
        val nm = applicationContext.getSystemService(NotificationManager::class.java)
        if (Build.VERSION.SDK_INT >= 26) {
            nm.createNotificationChannel(NotificationChannel(CHANNEL, "Backups", NotificationManager.IMPORTANCE_LOW))
        }
        val notification = NotificationCompat.Builder(applicationContext, CHANNEL)
            .setContentTitle("ChatVault")
            .setContentText(text)
            .setSmallIcon(android.R.drawable.stat_sys_upload)
            .setOngoing(true)
            .build()
        return if (Build.VERSION.SDK_INT >= 29) {
            ForegroundInfo(NOTIFICATION_ID, notification, ServiceInfo.FOREGROUND_SERVICE_TYPE_DATA_SYNC)
        } else {
            ForegroundInfo(NOTIFICATION_ID, notification)
        }
    }

    companion object {
        private const val CHANNEL = "chatvault-backup"
        private const val NOTIFICATION_ID = 4711
        private const val WORK_NAME = "chatvault-scheduled-backups"

        /** Enqueues the periodic check (WorkManager's minimum period is 15 minutes). */
        fun schedule(context: Context, intervalMinutes: Long = 60) {
            val constraints = Constraints.Builder()
                .setRequiredNetworkType(NetworkType.UNMETERED)
                .setRequiresCharging(true)
                .setRequiresBatteryNotLow(true)
                .build()
            val request = PeriodicWorkRequestBuilder<BackupWorker>(intervalMinutes.coerceAtLeast(15), TimeUnit.MINUTES)
                .setConstraints(constraints)
                .build()
            WorkManager.getInstance(context).enqueueUniquePeriodicWork(WORK_NAME, ExistingPeriodicWorkPolicy.UPDATE, request)
        }

        /** What the engine's plans check their constraints against. */
        fun deviceConditions(context: Context): DeviceConditions {
            val cm = context.getSystemService(ConnectivityManager::class.java)
            val caps = cm.getNetworkCapabilities(cm.activeNetwork)
            val metered = caps?.hasCapability(NetworkCapabilities.NET_CAPABILITY_NOT_METERED) != true
            val battery = context.registerReceiver(null, IntentFilter(Intent.ACTION_BATTERY_CHANGED))
            val status = battery?.getIntExtra(BatteryManager.EXTRA_STATUS, -1) ?: -1
            val charging = status == BatteryManager.BATTERY_STATUS_CHARGING || status == BatteryManager.BATTERY_STATUS_FULL
            val level = battery?.getIntExtra(BatteryManager.EXTRA_LEVEL, 100) ?: 100
            val scale = battery?.getIntExtra(BatteryManager.EXTRA_SCALE, 100) ?: 100
            val batteryLow = level * 100 / scale.coerceAtLeast(1) < 15
            val pm = context.getSystemService(PowerManager::class.java)
            val idle = Build.VERSION.SDK_INT >= 23 && pm.isDeviceIdleMode || !pm.isInteractive
            return DeviceConditions(metered = metered, charging = charging, batteryLow = batteryLow, idle = idle)
        }
    }
}
