// Host JVM tests of the Kotlin library against the real native engine (no Android device).
// Run by scripts/test-kotlin.sh: kotlinc from npm, JNA from Debian, the debug cdylib.
package org.chatvault

import java.io.File
import java.nio.file.Files
import java.util.Locale
import java.util.Random
import kotlin.system.exitProcess
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.delay
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import org.chatvault.ffi.BackupOptions
import org.chatvault.ffi.ChatSource
import org.chatvault.ffi.ChatVaultException
import org.chatvault.ffi.DestinationResolver
import org.chatvault.ffi.DeviceConditions
import org.chatvault.ffi.ExportFormat
import org.chatvault.ffi.ExportOptions
import org.chatvault.ffi.Frequency
import org.chatvault.ffi.Phase
import org.chatvault.ffi.Plan
import org.chatvault.ffi.RemoteAccess
import org.chatvault.ffi.Progress
import org.chatvault.ffi.ProgressListener
import org.chatvault.ffi.RetentionPolicy
import org.chatvault.ffi.RunOutcome
import org.chatvault.ffi.SecretStore
import org.chatvault.ffi.ObjectKind
import org.chatvault.ffi.Storage

private const val PASSWORD = "kotlin test password"

private fun check(condition: Boolean, message: () -> String) {
    if (!condition) throw AssertionError(message())
}

/** Folders the tests made; removed when the run ends. */
private val madeDirs = mutableListOf<File>()

private fun tempDir(prefix: String): File =
    Files.createTempDirectory(prefix).toFile().also { synchronized(madeDirs) { madeDirs.add(it) } }

/** A chat-export-like tree: unicode names, nested folders, an empty file, random media. */
private fun makeTree(root: File, files: Int, size: Int, seed: Long): File {
    val rnd = Random(seed)
    val names = listOf("微信", "Ünïcødé", "emoji 😀", "plain")
    root.mkdirs()
    File(root, "empty.txt").writeBytes(ByteArray(0))
    File(root, "聊天记录.txt").writeText("你好 👋 hello\n".repeat(500))
    for (i in 0 until files) {
        val dir = File(root, names[i % names.size] + "/sub${i % 3}")
        dir.mkdirs()
        val data = ByteArray(size).also { rnd.nextBytes(it) }
        File(dir, "media-$i.jpg").writeBytes(data)
    }
    return root
}

private fun assertSameTree(expected: File, actual: File) {
    val a = expected.walkTopDown().filter { it.isFile }.map { it.relativeTo(expected).path }.sorted().toList()
    val b = actual.walkTopDown().filter { it.isFile }.map { it.relativeTo(actual).path }.sorted().toList()
    check(a == b) { "file lists differ:\n$a\n$b" }
    for (rel in a) {
        val x = File(expected, rel)
        val y = File(actual, rel)
        check(x.readBytes().contentEquals(y.readBytes())) { "content differs: $rel" }
        check(x.lastModified() == y.lastModified()) { "mtime differs: $rel" }
    }
}

private suspend fun backupAndRestoreByteIdentical() {
    val work = tempDir("cv-kt")
    val source = makeTree(File(work, "export"), 12, 50_000, 1)
    Vault(File(work, "state")).use { vault ->
        vault.create(File(work, "repo"), PASSWORD).use { repo ->
            val events = repo.backup(listOf(source)).toList()
            val done = events.last() as BackupEvent.Done
            check(done.result.snapshot.files == 14uL) { "files: ${done.result.snapshot.files}" }
            // Progress arrives in order and ends at 100 %.
            val progress = events.filterIsInstance<BackupEvent.Running>().map { it.progress }
            check(progress.isNotEmpty()) { "no progress" }
            val backup = progress.filter { it.phase == Phase.BACKUP }
            check(backup.zipWithNext().all { (x, y) -> y.bytesDone >= x.bytesDone }) { "progress went backwards" }
            check(progress.last().phase == Phase.FINISHED && progress.last().fraction == 1.0) { "last progress: ${progress.last()}" }
            check(progress.last().bytesDone == progress.last().bytesTotal) { "ended short of the total" }

            val target = File(work, "restored")
            repo.restore("latest", target)
            assertSameTree(source, File(target, "export"))
            check(repo.snapshots().size == 1) { "snapshots" }
            val report = repo.check(readDataPercent = 100.0)
            check(report.errors.isEmpty() && report.packsRead > 0uL) { "check: $report" }
            // Forget by id: an unknown id removes nothing; the real one goes, with its data.
            try {
                repo.forgetSnapshots(listOf("ffffffff"))
                throw AssertionError("an unknown id was accepted")
            } catch (e: ChatVaultException.InvalidArgument) {}
            val id = repo.snapshots().single().id
            check(repo.forgetSnapshots(listOf(id.take(8))) == listOf(id)) { "forgetSnapshots" }
            check(repo.snapshots().isEmpty()) { "snapshots after forget" }
        }
    }
}

private suspend fun wrongPasswordIsTyped() {
    val work = tempDir("cv-kt")
    Vault(File(work, "state")).use { vault ->
        vault.create(File(work, "repo"), PASSWORD).close()
        try {
            vault.open(File(work, "repo"), "not the password").close()
            throw AssertionError("opened with a wrong password")
        } catch (e: ChatVaultException.WrongPassword) {
            // expected
        }
        try {
            vault.open(File(work, "nothing-here"), PASSWORD).close()
            throw AssertionError("opened a missing repository")
        } catch (e: ChatVaultException.RepositoryNotFound) {
            check(e.location.contains("nothing-here")) { e.location }
        }
    }
}

private suspend fun cancellingTheCoroutineCancelsTheEngine() {
    val work = tempDir("cv-kt")
    val source = makeTree(File(work, "big"), 120, 1_000_000, 2)
    Vault(File(work, "state")).use { vault ->
        vault.create(File(work, "repo"), PASSWORD).use { repo ->
            var outcome: Throwable? = null
            var lastProgress: Progress? = null
            // The engine is held at its first progress report until the test has cancelled:
            // the job is certainly running when it is cancelled, however fast the machine.
            val midway = kotlinx.coroutines.CompletableDeferred<Unit>()
            val release = java.util.concurrent.CountDownLatch(1)
            val started = System.nanoTime()
            val job = kotlinx.coroutines.coroutineScope {
                val j = launch {
                    try {
                        repo.backupNow(listOf(source)) {
                            lastProgress = it
                            if (it.bytesDone > 0uL && midway.complete(Unit)) {
                                release.await(10, java.util.concurrent.TimeUnit.SECONDS)
                            }
                        }
                    } catch (e: Throwable) {
                        outcome = e
                        throw e
                    }
                }
                kotlinx.coroutines.withTimeout(10_000) { midway.await() }
                // Other calls do not wait for the running backup.
                val listed = kotlinx.coroutines.withTimeout(2000) { repo.snapshots() }
                check(listed.isEmpty() && j.isActive) { "snapshots() during a backup" }
                val cancelAt = System.nanoTime()
                j.cancel()
                release.countDown()
                j.join()
                val latencyMs = (System.nanoTime() - cancelAt) / 1_000_000
                println("  cancellation reached Rust and returned in $latencyMs ms (after ${(cancelAt - started) / 1_000_000} ms, at ${lastProgress?.bytesDone} bytes)")
                check(latencyMs < 1000) { "cancellation took $latencyMs ms" }
                j
            }
            check(job.isCancelled) { "job not cancelled" }
            check(outcome is CancellationException) { "outcome: $outcome" }
            check(repo.snapshots().isEmpty()) { "a cancelled backup wrote a snapshot" }
            val report = repo.check(readDataPercent = 100.0)
            check(report.errors.isEmpty()) { "check after cancel: ${report.errors}" }
            // The next run completes.
            val result = repo.backupNow(listOf(source))
            check(result.snapshot.files == 122uL) { "files ${result.snapshot.files}" }
        }
    }
}

private suspend fun aStorageWrittenInKotlinIsARealDestination() {
    val work = tempDir("cv-kt")
    val source = makeTree(File(work, "export"), 8, 30_000, 3)
    val root = File(work, "kotlin-storage").toPath()
    Vault(File(work, "state")).use { vault ->
        vault.create(FileStorage(root), PASSWORD).use { repo ->
            repo.backupNow(listOf(source), BackupOptions(tags = listOf("kotlin")))
        }
        check(Files.exists(root.resolve("config")) && Files.isDirectory(root.resolve("data"))) { "objects were not written through FileStorage" }
        // Reopen through Kotlin storage and restore; and the same folder opens natively too.
        vault.open(FileStorage(root), PASSWORD).use { repo ->
            val target = File(work, "restored")
            repo.restore("latest", target)
            assertSameTree(source, File(target, "export"))
            check(repo.snapshots().single().tags == listOf("kotlin")) { "tags" }
        }
        vault.open(root.toFile(), PASSWORD).use { repo -> check(repo.check(100.0).errors.isEmpty()) { "native check" } }
    }
}

private suspend fun anExceptionInACallbackDoesNotCrashTheEngine() {
    val work = tempDir("cv-kt")
    val source = makeTree(File(work, "export"), 3, 10_000, 4)
    Vault(File(work, "state")).use { vault ->
        vault.create(File(work, "repo"), PASSWORD).use { repo ->
            val calls = java.util.concurrent.atomic.AtomicInteger()
            val result = repo.backupNow(listOf(source)) {
                calls.incrementAndGet()
                throw IllegalStateException("listener bug")
            }
            check(result.snapshot.files == 5uL) { "files" }
            // The listener really was called (and threw) each time the engine reported.
            check(calls.get() > 1) { "the throwing listener was called ${calls.get()} times" }
            println("  the throwing listener was called ${calls.get()} times; the backup completed")
        }
    }
}

/** A [FileStorage] that tells when the engine removes a lock: it is done with the repository. */
private class LockWatchingStorage(root: java.nio.file.Path) : Storage by FileStorage(root) {
    private val inner = FileStorage(root)
    val locksRemoved = java.util.concurrent.atomic.AtomicInteger()
    val lockRemoved = Channel<Unit>(Channel.UNLIMITED)
    override fun delete(kind: ObjectKind, name: String) {
        inner.delete(kind, name)
        if (kind == ObjectKind.LOCK) {
            locksRemoved.incrementAndGet()
            lockRemoved.trySend(Unit)
        }
    }
}

private suspend fun aSlowCollectorLosesTheOldestProgressNotTheEnd() {
    val work = tempDir("cv-kt")
    val source = makeTree(File(work, "big"), 60, 1_000_000, 8)
    val buffer = 1
    Vault(File(work, "state")).use { vault ->
        // How many reports this backup makes (the engine reports at most every 100 ms),
        // counted by a listener that keeps up.
        val reports = java.util.concurrent.atomic.AtomicInteger()
        vault.create(File(work, "counted"), PASSWORD).use { repo -> repo.backupNow(listOf(source)) { reports.incrementAndGet() } }
        check(reports.get() > buffer + 2) { "only ${reports.get()} progress reports: too few to overflow the buffer" }
        val storage = LockWatchingStorage(File(work, "repo").toPath())
        vault.create(storage, PASSWORD).use { repo ->
            // The collector stalls on the first event until the engine has finished (it
            // removes its lock right after its final report): every report made meanwhile
            // overflows the buffer. Observed through the storage, never a fixed sleep.
            val locksBefore = storage.locksRemoved.get()
            val received = mutableListOf<BackupEvent>()
            kotlinx.coroutines.withTimeout(120_000) {
                repo.backup(listOf(source), BackupOptions(), buffer).collect { event ->
                    if (received.isEmpty()) {
                        while (storage.locksRemoved.get() <= locksBefore) storage.lockRemoved.receive()
                    }
                    received += event
                }
            }
            val running = received.filterIsInstance<BackupEvent.Running>().map { it.progress }
            println("  ${reports.get()} progress reports (unstalled run); a stalled collector with a buffer of $buffer received ${running.size}, the last ${running.last().phase}")
            check(received.last() is BackupEvent.Done) { "the last event is not Done: ${received.last()}" }
            check(running.size <= buffer + 2) { "received ${running.size} reports, more than the buffer holds" }
            val last = running.last()
            check(last.phase == Phase.FINISHED && last.fraction == 1.0) { "the final report was dropped; last received: $last" }
            check(running.zipWithNext().all { (x, y) -> y.bytesDone >= x.bytesDone }) { "progress out of order" }
        }
    }
}

private suspend fun cancellingTheCollectorCancelsTheBackup() {
    val work = tempDir("cv-kt")
    val source = makeTree(File(work, "big"), 60, 1_000_000, 6)
    // The first pack's upload waits until the collector has let go, so the backup is
    // certainly running when it is cancelled, however fast the machine.
    val letGo = java.util.concurrent.CountDownLatch(1)
    val storage = object : Storage by FileStorage(File(work, "repo").toPath()) {
        override fun put(kind: ObjectKind, name: String, data: ByteArray) {
            if (kind == ObjectKind.PACK) letGo.await(30, java.util.concurrent.TimeUnit.SECONDS)
            FileStorage(File(work, "repo").toPath()).put(kind, name, data)
        }
    }
    Vault(File(work, "state")).use { vault ->
        vault.create(storage, PASSWORD).use { repo ->
            // The collector stops at the first report (the engine reports each phase's start
            // at once, before any pack is uploaded): the flow is cancelled.
            val first = repo.backup(listOf(source)).first {
                val stop = it is BackupEvent.Running
                if (stop) letGo.countDown()
                stop
            }
            check(first is BackupEvent.Running) { "first: $first" }
            check(repo.snapshots().isEmpty()) { "a cancelled backup wrote a snapshot" }
            check(repo.check(readDataPercent = 100.0).errors.isEmpty()) { "check after a cancelled collector" }
            val done = repo.backup(listOf(source)).toList().last()
            check(done is BackupEvent.Done && done.result.snapshot.files == 62uL) { "the next backup: $done" }
        }
    }
}

private suspend fun aThrowingStorageIsATypedErrorAndLeavesTheRepositoryValid() {
    val work = tempDir("cv-kt")
    val source = makeTree(File(work, "export"), 6, 200_000, 10)
    val root = File(work, "repo").toPath()
    var failPuts = true
    val storage = object : Storage by FileStorage(root) {
        override fun put(kind: ObjectKind, name: String, data: ByteArray) {
            if (failPuts && kind == ObjectKind.PACK) throw ChatVaultException.Storage("the SD card was removed")
            FileStorage(root).put(kind, name, data)
        }
    }
    Vault(File(work, "state")).use { vault ->
        vault.create(storage, PASSWORD).use { repo ->
            try {
                repo.backupNow(listOf(source))
                throw AssertionError("a backup whose storage fails completed")
            } catch (e: ChatVaultException.Storage) {
                check(e.details.contains("SD card")) { e.details }
            }
            check(repo.snapshots().isEmpty()) { "a failed backup wrote a snapshot" }
            failPuts = false
            check(repo.backupNow(listOf(source)).snapshot.files == 8uL) { "the next backup" }
            check(repo.check(100.0).errors.isEmpty()) { "check after a failed backup" }
        }
    }
}

private suspend fun aThrowingSecretStoreFailsThePlanNotTheApp() {
    val work = tempDir("cv-kt")
    val source = makeTree(File(work, "export"), 2, 10_000, 11)
    val secrets = object : SecretStore {
        val map = mutableMapOf<String, String>()
        var broken = false
        override fun get(key: String): String? = if (broken) throw ChatVaultException.Internal("keystore unavailable") else map[key]
        override fun put(key: String, value: String) { map[key] = value }
        override fun delete(key: String) { map.remove(key) }
    }
    Vault(File(work, "state")).use { vault ->
        vault.create(File(work, "repo"), PASSWORD).close()
        vault.scheduler(secrets).use { scheduler ->
            scheduler.add(Plan(name = "nightly", source = source.path, destination = File(work, "repo").path, frequency = Frequency.Daily, retention = RetentionPolicy()), PASSWORD)
            secrets.broken = true
            val wifi = DeviceConditions(metered = false, charging = true, batteryLow = false, idle = true)
            val run = scheduler.runDue(wifi).single()
            println("  a broken secret store: the run is ${run.outcome}: ${run.error}")
            check(run.outcome == RunOutcome.FAILED && run.error?.contains("keystore unavailable") == true) { "$run" }
            secrets.broken = false
            val later = java.time.Instant.now().plus(java.time.Duration.ofDays(2))
            val ok = scheduler.runDue(wifi, later).single()
            check(ok.outcome == RunOutcome.SUCCESS) { "after the store recovered: $ok" }
        }
    }
}

private class MemorySecrets : SecretStore {
    val map = mutableMapOf<String, String>()
    override fun get(key: String): String? = map[key]
    override fun put(key: String, value: String) { map[key] = value }
    override fun delete(key: String) { map.remove(key) }
}

private suspend fun theSchedulerRunsADuePlan() {
    val work = tempDir("cv-kt")
    val source = makeTree(File(work, "export"), 3, 10_000, 5)
    val secrets = MemorySecrets()
    Vault(File(work, "state")).use { vault ->
        vault.create(File(work, "repo"), PASSWORD).close()
        vault.scheduler(secrets).use { scheduler ->
            val plan = Plan(name = "nightly", source = source.path, destination = File(work, "repo").path, frequency = Frequency.Daily, retention = RetentionPolicy())
            scheduler.add(plan, PASSWORD)
            check(secrets.map["plan:nightly"] == PASSWORD) { "password not in the secret store" }
            val onData = DeviceConditions(metered = true, charging = true, batteryLow = false, idle = true)
            val skipped = scheduler.runDue(onData).single()
            check(skipped.outcome == RunOutcome.SKIPPED && skipped.reason == "the network is metered") { "$skipped" }
            val wifi = DeviceConditions(metered = false, charging = true, batteryLow = false, idle = true)
            val ran = scheduler.runDue(wifi).single()
            check(ran.outcome == RunOutcome.SUCCESS && ran.snapshotId != null) { "$ran" }
            val health = scheduler.health().single()
            check(health.warning == null && health.lastError == null) { "$health" }
            check(scheduler.history("nightly").map { it.outcome } == listOf(RunOutcome.SUCCESS, RunOutcome.SKIPPED)) { "history" }
        }
    }
}

/**
 * A plan whose destination is storage the app provides (here a [Storage] written in Kotlin,
 * as a folder picked through the Storage Access Framework would be): the scheduler opens it
 * through the app's [DestinationResolver], and the backup lands there. A resolver that
 * throws fails that plan's run with its message, not the app.
 */
private suspend fun aScheduledPlanBacksUpToStorageTheAppProvides() {
    val work = tempDir("cv-kt")
    val source = makeTree(File(work, "export"), 3, 10_000, 21)
    val folder = File(work, "picked-folder").toPath()
    val asked = mutableListOf<String>()
    var broken = false
    val destinations = object : DestinationResolver {
        override fun storage(destination: String): Storage? {
            asked += destination
            if (broken) throw ChatVaultException.Internal("the folder's permission was revoked")
            return if (destination == "content://picked") FileStorage(folder) else null
        }
        override fun remoteAccess(destination: String): RemoteAccess? = null
    }
    val secrets = MemorySecrets()
    Vault(File(work, "state")).use { vault ->
        vault.create(FileStorage(folder), PASSWORD).close()
        vault.scheduler(secrets, destinations).use { scheduler ->
            scheduler.add(Plan(name = "to-picked", source = source.path, destination = "content://picked", frequency = Frequency.Daily, retention = RetentionPolicy()), PASSWORD)
            val wifi = DeviceConditions(metered = false, charging = true, batteryLow = false, idle = true)
            val ran = scheduler.runDue(wifi).single()
            check(ran.outcome == RunOutcome.SUCCESS && ran.snapshotId != null) { "$ran" }
            check("content://picked" in asked) { "the resolver was not asked: $asked" }
            broken = true
            val later = java.time.Instant.now().plus(java.time.Duration.ofDays(2))
            val failed = scheduler.runDue(wifi, later).single()
            check(failed.outcome == RunOutcome.FAILED && failed.error?.contains("permission was revoked") == true) { "$failed" }
        }
        vault.open(FileStorage(folder), PASSWORD).use { repo ->
            check(repo.snapshots().size == 1) { "one snapshot in the app's storage" }
        }
    }
}

/**
 * A German WhatsApp export from iOS (`_chat.txt`, a fixture of tests/fixtures/whatsapp), read
 * through Kotlin: the owner is named with [ChatSource.whatsappMe], the German placeholders
 * are understood, and text the reader cannot place is kept and counted, not dropped.
 */
private suspend fun aGermanWhatsAppExportIsReadWithItsOwner() {
    val fixture = File("tests/fixtures/whatsapp/de/ios")
    check(fixture.isDirectory) { "run from the repository root" }
    val work = tempDir("cv-kt-wa")
    val export = File(work, "export")
    fixture.copyRecursively(export)
    // A line before the first message (as some tools add): kept as an "unparsed" message.
    val chat = File(export, "_chat.txt")
    chat.writeText("Exportiert am 1.2.2023\r\n" + chat.readText())
    Vault(File(work, "state")).use { vault ->
        vault.create(File(work, "repo"), PASSWORD).use { repo ->
            val done = repo.backupChats(export, ChatSource(whatsappMe = "Lea", workDir = work.path))
            val chats = done.chats ?: throw AssertionError("no chat summary")
            check(chats.app == "whatsapp" && chats.messages == 11uL && chats.unparsed == 1uL) { "$chats" }
            check(chats.localTime) { "WhatsApp times are wall clock" }
            val hits = repo.search("Nachricht wurde gelöscht", workDir = work)
            check(hits.size == 1 && hits.single().kind == "revoke" && !hits.single().fromMe) { "search: $hits" }
            val mine = repo.search("line one", workDir = work)
            check(mine.single().fromMe) { "the owner's message: $mine" }
        }
    }
}

/** A WhatsApp text export of days [from]..[to] of January 2024, a message a day. */
private fun whatsAppDays(dir: File, from: Int, to: Int) {
    dir.deleteRecursively()
    dir.mkdirs()
    val text = (from..to).joinToString("") { d -> "%02d/01/2024, 09:00 - Ann: note of day %d 你好\n".format(d, d) }
    File(dir, "WhatsApp Chat with Ann.txt").writeText(text)
}

/**
 * The archive through Kotlin: messages the phone deleted between two backups stay listed,
 * counted and found by search, marked with when they left the phone; purgeArchive removes the
 * ones it names (a dry run only counts) and says which snapshot's export still holds some.
 */
private suspend fun theArchiveKeepsWhatThePhoneDeletedUntilPurged() {
    val work = tempDir("cv-kt-archive")
    val export = File(work, "WhatsApp Ann")
    Vault(File(work, "state")).use { vault ->
        vault.create(File(work, "repo"), PASSWORD).use { repo ->
            whatsAppDays(export, 1, 20)
            repo.backupChats(export, ChatSource(workDir = work.path))
            whatsAppDays(export, 11, 25)
            val second = repo.backupChats(export, ChatSource(workDir = work.path))
            val chats = second.chats ?: throw AssertionError("no chat summary")
            check(chats.messages == 25uL && chats.archived == 10uL) { "$chats" }
            val chat = chats.conversations.single()
            check(chat.archived == 10uL) { "$chat" }
            val gone = repo.search("note of day 3 ", workDir = work).single()
            check(gone.goneSinceMs != null) { "not marked as gone: $gone" }
            check(repo.search("note of day 12 ", workDir = work).single().goneSinceMs == null) { "on the phone" }

            val dry = repo.purgeArchive(chat.id, dryRun = true, workDir = work)
            check(dry.messages == 10uL && dry.snapshots.isEmpty()) { "dry run: $dry" }
            val before = java.time.LocalDateTime.of(2024, 1, 6, 0, 0)
                .atZone(java.time.ZoneId.systemDefault()).toInstant().toEpochMilli()
            val purged = repo.purgeArchive(chat.id, beforeMs = before, workDir = work)
            check(purged.messages == 5uL && purged.snapshots.size == 1 && purged.heldByExports.size == 1) { "$purged" }
            val after = repo.chats()
            check(after?.archived == 5uL) { "archived after purge: $after" }
            check(repo.search("note of day 3 ", workDir = work).isEmpty()) { "a purged message was found" }
            check(repo.search("note of day 7 ", workDir = work).size == 1) { "an archived message not named was lost" }
            try {
                repo.purgeArchive("nobody", workDir = work)
                throw AssertionError("an unknown conversation was accepted")
            } catch (e: ChatVaultException.InvalidArgument) {}
        }
    }
}

/** Runs [command] in [dir], failing with its output if it fails. */
private fun run(dir: File, vararg command: String) {
    val p = ProcessBuilder(*command).directory(dir).redirectErrorStream(true).start()
    val out = p.inputStream.bufferedReader().readText()
    check(p.waitFor() == 0) { "${command.first()} failed: $out" }
}

/**
 * WhatsApp's own Android backup as the phone keeps it (`WhatsApp/Databases/msgstore.db.crypt15`,
 * encrypted by an independent implementation, PyPI wa-crypt-tools), read through Kotlin with
 * the 64-digit key an app keeps in the keystore: every chat; a wrong key is the typed
 * exception, never shown, and writes nothing.
 */
private suspend fun whatsAppsOwnBackupIsReadWithThe64DigitKey() {
    val key = "8a1f3c5e7b9d2f4a6c8e0b1d3f5a7c9e2b4d6f8a0c2e4b6d8f0a1c3e5b7d9f2a"
    val genExport = File(System.getProperty("chatvault.cli")).resolveSibling("gen-export")
    check(genExport.canExecute()) { "no $genExport: cargo build --workspace makes it" }
    val work = tempDir("cv-kt-wadb")
    val wa = File(work, "WhatsApp")
    run(work, genExport.path, "--kind", "whatsapp-db", "--messages", "64", "--out", wa.path)
    val dbs = File(wa, "Databases")
    run(dbs, "waencrypt", key, "msgstore.db", "msgstore.db.crypt15")
    check(File(dbs, "msgstore.db").delete())
    Vault(File(work, "state")).use { vault ->
        vault.create(File(work, "repo"), PASSWORD).use { repo ->
            val wrong = key.replace('8', '9')
            try {
                repo.backupChats(wa, ChatSource(whatsappKey = wrong, workDir = work.path))
                throw AssertionError("read with a wrong key")
            } catch (e: ChatVaultException.WrongDatabaseKey) {
                check(!e.details.contains(wrong) && e.details.contains("msgstore.db.crypt15")) { e.details }
            }
            check(repo.snapshots().isEmpty()) { "a failed read wrote a snapshot" }
            val done = repo.backupChats(wa, ChatSource(whatsappKey = key, workDir = work.path))
            val chats = done.chats ?: throw AssertionError("no chat summary")
            check(chats.app == "whatsapp-db" && chats.messages == 64uL && done.backup.warnings.isEmpty()) { "$chats ${done.backup.warnings}" }
            check(chats.openedWith?.contains("crypt15") == true) { "opened with ${chats.openedWith}" }
            val listed = repo.chats() ?: throw AssertionError("snapshot lists no chats")
            check(listed.conversations.any { it.name == "Family 🏠" && it.kind == "group" }) { "group" }
            check(work.walkTopDown().none { it.name == "msgstore.db" }) { "a decrypted copy was left behind" }
        }
    }
}

/** The shared WeChat fixture (SQLCipher-encrypted EnMicroMsg.db), read through Kotlin. */
private suspend fun aWeChatExportIsReadListedAndSearched() {
    val fixture = File("tests/fixtures/wechat-android-small")
    check(fixture.isDirectory) { "run from the repository root" }
    val work = tempDir("cv-kt-wx")
    Vault(File(work, "state")).use { vault ->
        vault.create(File(work, "repo"), PASSWORD).use { repo ->
            val done = repo.backupChats(fixture, ChatSource(workDir = work.path))
            val chats = done.chats ?: throw AssertionError("no chat summary")
            check(chats.app == "wechat-android" && chats.messages == 240uL) { "$chats" }
            check(chats.openedWith?.contains("uin 1122334455") == true) { "opened with ${chats.openedWith}" }
            val listed = repo.chats() ?: throw AssertionError("snapshot lists no chats")
            check(listed.conversations.size == 9) { "conversations: ${listed.conversations.size}" }
            check(listed.conversations.any { it.name == "家庭群 👨‍👩‍👧" && it.kind == "group" }) { "group name" }
            check(repo.snapshots().single().sourceKind == "wechat-android") { "source kind" }
            val hits = repo.search("明天见", workDir = work)
            check(hits.isNotEmpty() && hits.all { it.text.contains("明天见") }) { "search: $hits" }
            // Exported as a site to read on the PC: one page per conversation, the list first.
            val site = File(work, "site")
            // In the device's language: a phone set to Chinese gets a Chinese site.
            val deviceLocale = Locale.getDefault()
            Locale.setDefault(Locale.SIMPLIFIED_CHINESE)
            val exported = try {
                repo.exportChats(site, options = ExportOptions(format = ExportFormat.HTML, workDir = work.path))
            } finally {
                Locale.setDefault(deviceLocale)
            }
            check(exported.conversations == 9uL && exported.messages == 240uL) { "$exported" }
            val index = File(exported.entry).readText()
            check(File(exported.entry) == File(site, "index.html") && index.contains("家庭群 👨‍👩‍👧")) { exported.entry }
            check(index.contains("<html lang=\"zh-CN\">") && index.contains("9 个会话")) { "not in Chinese: ${index.take(800)}" }
            val english = repo.exportChats(File(work, "site-en"), options = ExportOptions(format = ExportFormat.HTML, workDir = work.path, locale = "en-US"))
            check(File(english.entry).readText().contains("9 conversations")) { "not in English" }
            val json = repo.exportChats(File(work, "json"), options = ExportOptions(format = ExportFormat.JSON, conversations = listOf("2100@chatroom"), workDir = work.path))
            check(json.conversations == 1uL && json.messages == 31uL) { "$json" }
            // A wrong key, with no uin to derive one from: the typed exception, nothing written.
            val noPrefs = File(work, "export")
            fixture.copyRecursively(noPrefs)
            File(noPrefs, "shared_prefs").deleteRecursively()
            try {
                repo.backupChats(noPrefs, ChatSource(wechatKey = "0000000"))
                throw AssertionError("read with a wrong key")
            } catch (e: ChatVaultException.WrongDatabaseKey) {
                check(e.details.contains("wrong key") && !e.details.contains("0000000")) { e.details }
            }
            check(repo.snapshots().size == 1) { "a failed read wrote a snapshot" }
        }
    }
}

/** A real WebDAV server (rclone, from Debian) on loopback, stopped when [block] returns. */
private suspend fun withWebDavServer(block: suspend (location: String) -> Unit) {
    val root = tempDir("cv-kt-dav")
    val port = java.net.ServerSocket(0).use { it.localPort }
    val server = ProcessBuilder(
        "rclone", "serve", "webdav", root.path, "--addr", "127.0.0.1:$port", "--user", "phone", "--pass", "dav pw",
    ).redirectErrorStream(true).redirectOutput(File(tempDir("cv-kt-dav-log"), "rclone.log")).start()
    try {
        var up = false
        for (i in 0 until 200) {
            up = runCatching { java.net.Socket("127.0.0.1", port).close() }.isSuccess
            if (up) break
            delay(50)
        }
        check(up) { "rclone did not start (install the Debian package rclone)" }
        block("webdav+http://127.0.0.1:$port/backups/phone")
    } finally {
        server.destroyForcibly().waitFor()
    }
}

private suspend fun aWebDavServerIsADestinationWithoutAComputer() = withWebDavServer { location ->
    val work = tempDir("cv-kt-remote")
    val source = makeTree(File(work, "export"), 8, 40_000, 4)
    val access = RemoteAccess(webdavUser = "phone", webdavPassword = "dav pw")
    Vault(File(work, "state")).use { vault ->
        vault.createRemote(location, access, PASSWORD).use { repo ->
            val done = repo.backup(listOf(source)).toList().last() as BackupEvent.Done
            check(done.result.snapshot.files == 10uL) { "files: ${done.result.snapshot.files}" }
        }
        vault.openRemote(location, access, PASSWORD).use { repo ->
            val target = File(work, "restored")
            repo.restore("latest", target)
            assertSameTree(source, File(target, "export"))
            check(repo.check(readDataPercent = 100.0).errors.isEmpty()) { "check" }
        }
        try {
            vault.openRemote(location, access.copy(webdavPassword = "not-the-dav-pw"), PASSWORD).close()
            throw AssertionError("opened with a wrong WebDAV password")
        } catch (e: ChatVaultException.AccessDenied) {
            check(!e.details.contains("not-the-dav-pw")) { "the password is never shown: ${e.details}" }
        }
    }
}

/**
 * A real receiver: the `chatvault` binary (`-Dchatvault.cli`, built by cargo) serving on
 * loopback, stopped when [block] returns. [block] gets its pairing URI and address.
 */
private suspend fun withPcReceiver(block: suspend (uri: String, address: String) -> Unit) {
    val cli = File(System.getProperty("chatvault.cli") ?: "target/debug/chatvault")
    check(cli.canExecute()) { "${cli.path} missing: build it with cargo build -p chatvault" }
    val dir = tempDir("cv-kt-pc")
    val uriFile = File(dir, "pair.uri")
    val port = java.net.ServerSocket(0).use { it.localPort }
    val server = ProcessBuilder(
        cli.path, "serve", "--dir", File(dir, "received").path, "--listen", "127.0.0.1:$port",
        "--no-mdns", "--pair-uri-file", uriFile.path,
    ).redirectErrorStream(true).redirectOutput(File(dir, "serve.log")).start()
    try {
        for (i in 0 until 200) {
            if (uriFile.exists() && uriFile.length() > 0) break
            delay(50)
        }
        check(uriFile.exists()) { "chatvault serve did not start: ${File(dir, "serve.log").readText()}" }
        block(uriFile.readText().trim(), "127.0.0.1:$port")
    } finally {
        server.destroyForcibly().waitFor()
    }
}

private suspend fun aPhonePairsWithAPcAndBacksUpOverTheLan() = withPcReceiver { uri, address ->
    val work = tempDir("cv-kt-lan")
    val source = makeTree(File(work, "export"), 6, 50_000, 5)
    val identity = PcPairing.newIdentity("Kotlin phone")
    check(PcPairing.fingerprint(identity).length == 64)
    val pairing = PcPairing.pairByQr(uri, identity, "Kotlin phone")
    check(pairing.folder == "kotlin-phone") { "folder ${pairing.folder}" }
    check(pairing.location.startsWith("lan://$address?pin=${pairing.receiverFingerprint}")) { pairing.location }
    Vault(File(work, "state")).use { vault ->
        vault.createOnPc(pairing.location, identity, PASSWORD).use { repo ->
            val done = repo.backup(listOf(source)).toList().last() as BackupEvent.Done
            check(done.result.snapshot.files == 8uL) { "files: ${done.result.snapshot.files}" }
        }
        vault.openOnPc(pairing.location, identity, PASSWORD).use { repo ->
            val target = File(work, "restored")
            repo.restore("latest", target)
            assertSameTree(source, File(target, "export"))
            check(repo.check(readDataPercent = 100.0).errors.isEmpty()) { "check" }
        }
        // Another phone's identity, never paired: refused, typed.
        try {
            vault.openOnPc(pairing.location, PcPairing.newIdentity("stranger"), PASSWORD).close()
            throw AssertionError("an unpaired identity reached the repository")
        } catch (e: ChatVaultException.AccessDenied) {
            check(e.details.contains("pair")) { e.details }
        }
    }
    // The QR code's secret was used: it does not pair again; a wrong code is refused too.
    try {
        PcPairing.pairByQr(uri, PcPairing.newIdentity("second"), "second")
        throw AssertionError("a used pairing secret paired again")
    } catch (e: ChatVaultException.AccessDenied) {
        check(e.details.contains("already used")) { e.details }
    }
    try {
        PcPairing.pairByCode(address, "000000", PcPairing.newIdentity("third"), "third")
        throw AssertionError("a wrong code paired")
    } catch (e: ChatVaultException.AccessDenied) {
        check(e.details.contains("code")) { e.details }
    }
}

fun main() {
    val tests: List<Pair<String, suspend () -> Unit>> = listOf(
        "back up a chat export and restore it byte-identical; progress in order to 100 %" to ::backupAndRestoreByteIdentical,
        "a wrong password raises the typed exception" to ::wrongPasswordIsTyped,
        "cancelling the coroutine cancels the Rust job within a second" to ::cancellingTheCoroutineCancelsTheEngine,
        "a Storage written in Kotlin is a real backup destination" to ::aStorageWrittenInKotlinIsARealDestination,
        "an exception in a Kotlin callback does not crash the engine" to ::anExceptionInACallbackDoesNotCrashTheEngine,
        "a slow Flow collector loses the oldest progress reports, never the final one" to ::aSlowCollectorLosesTheOldestProgressNotTheEnd,
        "a cancelled Flow collector cancels the backup; the next one completes" to ::cancellingTheCollectorCancelsTheBackup,
        "a throwing Storage is ChatVaultException.Storage; the repository stays valid" to ::aThrowingStorageIsATypedErrorAndLeavesTheRepositoryValid,
        "a throwing SecretStore fails the plan's run, not the app; the next run succeeds" to ::aThrowingSecretStoreFailsThePlanNotTheApp,
        "the scheduler skips on a metered network and runs on Wi-Fi" to ::theSchedulerRunsADuePlan,
        "a scheduled plan backs up to storage the app provides; a throwing resolver fails the run, not the app" to ::aScheduledPlanBacksUpToStorageTheAppProvides,
        "a WeChat export is read, listed, searched and exported; a wrong key raises the typed exception" to ::aWeChatExportIsReadListedAndSearched,
        "a German WhatsApp export is read with its owner; a line it cannot place is kept and counted" to ::aGermanWhatsAppExportIsReadWithItsOwner,
        "the archive keeps what the phone deleted, marked, until purgeArchive removes what it names" to ::theArchiveKeepsWhatThePhoneDeletedUntilPurged,
        "WhatsApp's own crypt15 backup is read with the 64-digit key; a wrong key raises the typed exception" to ::whatsAppsOwnBackupIsReadWithThe64DigitKey,
        "a WebDAV server is a destination without a computer; a wrong password raises AccessDenied" to ::aWebDavServerIsADestinationWithoutAComputer,
        "a phone pairs with a PC by its QR code and backs up over the LAN; strangers and used codes raise AccessDenied" to ::aPhonePairsWithAPcAndBacksUpOverTheLan,
    )
    var failed = 0
    for ((name, test) in tests) {
        try {
            runBlocking { test() }
            println("PASS $name")
        } catch (e: Throwable) {
            failed++
            println("FAIL $name: $e")
            e.printStackTrace()
        }
    }
    synchronized(madeDirs) { madeDirs.forEach { it.deleteRecursively() } }
    println("${tests.size - failed} passed, $failed failed")
    exitProcess(if (failed == 0) 0 else 1)
}
