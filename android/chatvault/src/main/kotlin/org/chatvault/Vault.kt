// The idiomatic Kotlin API over the generated bindings (org.chatvault.ffi).
// Imports nothing from android.*: it compiles and runs on a desktop JVM, where the tests run.
package org.chatvault

import java.io.File
import java.time.Instant
import java.util.Locale
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.channels.BufferOverflow
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.channelFlow
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.chatvault.ffi.ArchivePurge
import org.chatvault.ffi.ChatBackupResult
import org.chatvault.ffi.ChatMessage
import org.chatvault.ffi.ChatSource
import org.chatvault.ffi.ChatSummary
import org.chatvault.ffi.BackupOptions
import org.chatvault.ffi.BackupResult
import org.chatvault.ffi.ChatVault
import org.chatvault.ffi.ChatVaultException
import org.chatvault.ffi.CheckReport
import org.chatvault.ffi.ExportFormat
import org.chatvault.ffi.ExportOptions
import org.chatvault.ffi.ExportResult
import org.chatvault.ffi.DeviceConditions
import org.chatvault.ffi.JobHandle
import org.chatvault.ffi.Logger
import org.chatvault.ffi.Plan
import org.chatvault.ffi.PlanHealth
import org.chatvault.ffi.PlanRun
import org.chatvault.ffi.PlanState
import org.chatvault.ffi.Progress
import org.chatvault.ffi.DestinationResolver
import org.chatvault.ffi.RemoteAccess
import org.chatvault.ffi.ProgressListener
import org.chatvault.ffi.RepoStats
import org.chatvault.ffi.Repository
import org.chatvault.ffi.RestoreSummary
import org.chatvault.ffi.RetentionPolicy
import org.chatvault.ffi.Scheduler
import org.chatvault.ffi.SecretStore
import org.chatvault.ffi.SnapshotInfo
import org.chatvault.ffi.Storage

/**
 * Runs a blocking engine call on [Dispatchers.IO]. Cancelling the calling coroutine calls
 * the job's `cancel()`, which stops the engine within a second; the call then ends with a
 * [CancellationException] (the repository stays valid and the next run resumes).
 */
internal suspend fun <T> runJob(block: (JobHandle) -> T): T = coroutineScope {
    JobHandle().use { handle ->
        var finished = false
        val watcher = launch {
            try {
                awaitCancellation()
            } finally {
                if (!finished) handle.cancel()
            }
        }
        try {
            withContext(Dispatchers.IO) { block(handle) }
        } catch (e: ChatVaultException.Cancelled) {
            throw CancellationException("backup job cancelled").apply { initCause(e) }
        } finally {
            finished = true
            watcher.cancel()
        }
    }
}

/** Progress reports a slow [Repo.backup] collector may lag behind by; older ones are dropped. */
internal const val PROGRESS_BUFFER = 64

/** A progress listener calling a Kotlin function. */
internal class ProgressCallback(private val onProgress: (Progress) -> Unit) : ProgressListener {
    override fun onProgress(progress: Progress) = onProgress.invoke(progress)
}

/** What a backup reports while it runs, then once at the end. */
sealed interface BackupEvent {
    /** The backup is running. */
    data class Running(val progress: Progress) : BackupEvent

    /** The backup finished and wrote a snapshot. */
    data class Done(val result: BackupResult) : BackupEvent
}

/**
 * The library's entry point: one per app. [stateDir] is a private folder for the
 * scheduler's database. Close it when the app no longer needs it.
 */
class Vault(stateDir: File, logger: Logger? = null) : AutoCloseable {
    private val inner = ChatVault(stateDir.path, logger)

    /** Opens the repository in [folder] with a password or the recovery key. */
    suspend fun open(folder: File, password: String): Repo =
        withContext(Dispatchers.IO) { Repo(inner.openLocal(folder.path, password)) }

    /** Creates a repository in [folder]; show [Repo.newRecoveryKey] to the user right after. */
    suspend fun create(folder: File, password: String): Repo =
        withContext(Dispatchers.IO) { Repo(inner.createLocal(folder.path, password)) }

    /** Opens a repository kept in app-provided [storage] (SAF, a cloud drive, …). */
    suspend fun open(storage: Storage, password: String): Repo =
        withContext(Dispatchers.IO) { Repo(inner.openStorage(storage, password)) }

    /** Creates a repository in app-provided [storage]. */
    suspend fun create(storage: Storage, password: String): Repo =
        withContext(Dispatchers.IO) { Repo(inner.createStorage(storage, password)) }

    /**
     * Opens a repository in the cloud without a computer: S3-compatible storage
     * (`s3://BUCKET/PREFIX?endpoint=https://…&region=…`) or WebDAV
     * (`webdav+https://HOST/PATH`), with [access] from the Keystore. Throws
     * [ChatVaultException.AccessDenied] for wrong credentials and
     * [ChatVaultException.Unreachable] when the server cannot be reached.
     */
    suspend fun openRemote(location: String, access: RemoteAccess, password: String): Repo =
        withContext(Dispatchers.IO) { Repo(inner.openRemote(location, access, password)) }

    /** Creates a repository at a cloud [location] (the S3 bucket must exist). */
    suspend fun createRemote(location: String, access: RemoteAccess, password: String): Repo =
        withContext(Dispatchers.IO) { Repo(inner.createRemote(location, access, password)) }

    /** Opens this phone's repository on a paired PC ([LanPairing.location] from [PcPairing]). */
    suspend fun openOnPc(location: String, identityPem: String, password: String): Repo =
        openRemote(location, RemoteAccess(lanIdentityPem = identityPem), password)

    /** Creates this phone's repository on a paired PC. */
    suspend fun createOnPc(location: String, identityPem: String, password: String): Repo =
        createRemote(location, RemoteAccess(lanIdentityPem = identityPem), password)

    /**
     * The backup scheduler; plan passwords go to [secrets] (the Android Keystore). Plans'
     * destinations are opened through [destinations] (a folder the user picked through the
     * Storage Access Framework, network credentials from the keystore); without it they are
     * paths.
     */
    fun scheduler(secrets: SecretStore, destinations: DestinationResolver? = null): BackupScheduler =
        BackupScheduler(inner.scheduler(secrets, destinations))

    override fun close() = inner.close()
}

/** An open repository. Close it when done. */
class Repo internal constructor(private val inner: Repository) : AutoCloseable {
    /**
     * Backs up [paths]: a cold [Flow] of [BackupEvent.Running] reports (oldest dropped when
     * the collector is slow), then exactly one [BackupEvent.Done]. Cancelling the collector
     * cancels the backup.
     */
    fun backup(paths: List<File>, options: BackupOptions = BackupOptions()): Flow<BackupEvent> = backup(paths, options, PROGRESS_BUFFER)

    /** [backup] with [progressBuffer] reports held for a slow collector (tests use a small one). */
    internal fun backup(paths: List<File>, options: BackupOptions, progressBuffer: Int): Flow<BackupEvent> = channelFlow {
        // The engine's thread never waits for the collector: progress goes through a
        // conflating-by-age buffer (the oldest reports are dropped when it is full), and the
        // one Done is sent with suspension after the engine returned, so it is never dropped.
        val progress = Channel<Progress>(progressBuffer, BufferOverflow.DROP_OLDEST)
        val forward = launch { for (p in progress) send(BackupEvent.Running(p)) }
        val result = try {
            runJob { job ->
                inner.backup(paths.map { it.path }, options, ProgressCallback { progress.trySend(it) }, job)
            }
        } finally {
            progress.close()
        }
        forward.join()
        send(BackupEvent.Done(result))
    }.buffer(Channel.RENDEZVOUS)

    /** Backs up [paths] and returns the result; [onProgress] is called from a worker thread. */
    suspend fun backupNow(paths: List<File>, options: BackupOptions = BackupOptions(), onProgress: (Progress) -> Unit = {}): BackupResult =
        runJob { job -> inner.backup(paths.map { it.path }, options, ProgressCallback(onProgress), job) }

    /**
     * Backs up a chat app's data at [from] (a WeChat, WhatsApp or Telegram export or backup
     * folder, or any folder): reads it into a searchable index and stores it exactly as it is.
     * Throws [ChatVaultException.WrongDatabaseKey] when WeChat's database opens with none of
     * the keys tried (ask for the key or the IMEI), [ChatVaultException.SourceUnreadable]
     * when the data is damaged; nothing is written then.
     */
    suspend fun backupChats(
        from: File,
        source: ChatSource = ChatSource(),
        options: BackupOptions = BackupOptions(),
        onProgress: (Progress) -> Unit = {},
    ): ChatBackupResult =
        runJob { job -> inner.backupSource(from.path, source, options, ProgressCallback(onProgress), job) }

    /** The conversations in [snapshot] (read from the snapshot alone), or null if it is not of a chat export. */
    suspend fun chats(snapshot: String = "latest"): ChatSummary? = withContext(Dispatchers.IO) { inner.chats(snapshot) }

    /** Messages of [snapshot] containing [query] (any script, emoji too), newest first. */
    suspend fun search(
        query: String,
        snapshot: String = "latest",
        conversation: String? = null,
        limit: Int = 50,
        workDir: File? = null,
    ): List<ChatMessage> =
        withContext(Dispatchers.IO) { inner.search(snapshot, query, conversation, limit.toUInt(), workDir?.path) }

    /**
     * Writes the chats of [snapshot] into [out] (new, empty, or an earlier export) as a static
     * HTML site that opens in any browser without a network (or JSON, or text, by
     * [ExportOptions.format]), with the photos and videos it shows copied beside it. The
     * site speaks the device's language ([Locale.getDefault]) unless [ExportOptions.locale]
     * names another.
     */
    suspend fun exportChats(
        out: File,
        snapshot: String = "latest",
        options: ExportOptions = ExportOptions(format = ExportFormat.HTML),
        onProgress: (Progress) -> Unit = {},
    ): ExportResult {
        val localized = if (options.locale == null) options.copy(locale = Locale.getDefault().toLanguageTag()) else options
        return runJob { job -> inner.exportChats(snapshot, out.path, localized, ProgressCallback(onProgress), job) }
    }

    /** All snapshots, oldest first. */
    suspend fun snapshots(): List<SnapshotInfo> = withContext(Dispatchers.IO) { inner.snapshots() }

    /** Restores [snapshot] (an id, id prefix or "latest") into [target]. */
    suspend fun restore(snapshot: String, target: File, include: List<String> = emptyList(), onProgress: (Progress) -> Unit = {}): RestoreSummary =
        runJob { job -> inner.restore(snapshot, target.path, include, ProgressCallback(onProgress), job) }

    /** Verifies the repository, reading back [readDataPercent] % of the data. */
    suspend fun check(readDataPercent: Double = 0.0, onProgress: (Progress) -> Unit = {}): CheckReport =
        runJob { job -> inner.check(readDataPercent, ProgressCallback(onProgress), job) }

    /** Applies [policy] and deletes data no snapshot needs. Returns snapshots removed. */
    suspend fun forgetAndPrune(policy: RetentionPolicy): UInt = runJob { job -> inner.forgetAndPrune(policy, job) }

    /**
     * Removes the snapshots named by [ids] (ids or unique prefixes; a damaged snapshot too),
     * then deletes data nothing uses. Nothing is removed when one id matches no snapshot.
     * Returns the ids removed.
     */
    suspend fun forgetSnapshots(ids: List<String>): List<String> = runJob { job -> inner.forgetSnapshots(ids, job) }

    /**
     * Removes [conversation]'s archived messages (those the phone no longer has, kept by
     * earlier backups) sent before [beforeMs] (ms since the epoch; null: all of them) and the
     * media only they used, from every snapshot, then deletes their data. With [dryRun], only
     * counts. Messages a snapshot's backed-up export still holds stay: the result's
     * `heldByExports` names those snapshots (forgetting them removes those messages).
     */
    suspend fun purgeArchive(
        conversation: String,
        beforeMs: Long? = null,
        dryRun: Boolean = false,
        workDir: File? = null,
    ): ArchivePurge = runJob { job -> inner.purgeArchive(conversation, beforeMs, dryRun, workDir?.path, job) }

    /** Sizes and ratios. */
    suspend fun stats(): RepoStats = withContext(Dispatchers.IO) { inner.stats() }

    /** Replaces the password this repository was opened with. */
    suspend fun changePassword(newPassword: String) = withContext(Dispatchers.IO) { inner.changePassword(newPassword) }

    /** A new recovery key, to show the user once. */
    suspend fun newRecoveryKey(): String = withContext(Dispatchers.IO) { inner.newRecoveryKey() }

    override fun close() = inner.close()
}

/** Backup plans, and the runner a WorkManager worker calls. */
class BackupScheduler internal constructor(private val inner: Scheduler) : AutoCloseable {
    /** Adds [plan]; its repository [password] goes to the secret store. Returns the plan id. */
    suspend fun add(plan: Plan, password: String, now: Instant = Instant.now()): Long =
        withContext(Dispatchers.IO) { inner.addPlan(plan, password, now.toEpochMilli()) }

    /** All plans with their state. */
    suspend fun plans(): List<PlanState> = withContext(Dispatchers.IO) { inner.plans() }

    /** Removes a plan by name. */
    suspend fun remove(name: String) = withContext(Dispatchers.IO) { inner.removePlan(name) }

    /** Runs every due plan whose [conditions] hold; cancelling stops the current run (it resumes next time). */
    suspend fun runDue(conditions: DeviceConditions, now: Instant = Instant.now(), onProgress: (Progress) -> Unit = {}): List<PlanRun> =
        runJob { job -> inner.runDue(now.toEpochMilli(), conditions, ProgressCallback(onProgress), job) }

    /** Every plan's health: warnings to show, last errors, sizes. */
    suspend fun health(now: Instant = Instant.now()): List<PlanHealth> = withContext(Dispatchers.IO) { inner.health(now.toEpochMilli()) }

    /** A plan's history, newest first. */
    suspend fun history(plan: String, limit: Int = 50): List<PlanRun> = withContext(Dispatchers.IO) { inner.history(plan, limit.toUInt()) }

    override fun close() = inner.close()
}
