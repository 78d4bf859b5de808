// A Storage over java.nio files: a repository in any folder a JVM can write
// (desktop apps, tests). Android apps use SafStorage for folders picked by the user.
package org.chatvault

import java.io.IOException
import java.io.RandomAccessFile
import java.nio.file.Files
import java.nio.file.NoSuchFileException
import java.nio.file.Path
import java.nio.file.StandardCopyOption
import java.nio.file.StandardOpenOption
import java.util.UUID
import org.chatvault.ffi.ChatVaultException
import org.chatvault.ffi.ObjectEntry
import org.chatvault.ffi.ObjectKind
import org.chatvault.ffi.Storage

/** Repository objects as files under [root], laid out like the engine's own local storage. */
class FileStorage(private val root: Path) : Storage {
    private fun dir(kind: ObjectKind): Path = when (kind) {
        ObjectKind.CONFIG -> root
        ObjectKind.KEY -> root.resolve("keys")
        ObjectKind.SNAPSHOT -> root.resolve("snapshots")
        ObjectKind.INDEX -> root.resolve("index")
        ObjectKind.PACK -> root.resolve("data")
        ObjectKind.LOCK -> root.resolve("locks")
    }

    private fun path(kind: ObjectKind, name: String): Path =
        if (kind == ObjectKind.PACK) dir(kind).resolve(name.take(2)).resolve(name) else dir(kind).resolve(name)

    private inline fun <T> io(what: String, block: () -> T): T = try {
        block()
    } catch (e: IOException) {
        throw ChatVaultException.Storage("$what: $e")
    }

    override fun location(): String = root.toString()

    override fun put(kind: ObjectKind, name: String, data: ByteArray) = io("put $name") {
        val target = path(kind, name)
        Files.createDirectories(target.parent)
        val tmp = target.resolveSibling(".tmp-" + UUID.randomUUID())
        Files.newByteChannel(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE).use { ch ->
            ch.write(java.nio.ByteBuffer.wrap(data))
            (ch as java.nio.channels.FileChannel).force(true)
        }
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING)
        Unit
    }

    override fun get(kind: ObjectKind, name: String): ByteArray? = io("get $name") {
        try {
            Files.readAllBytes(path(kind, name))
        } catch (e: NoSuchFileException) {
            null
        }
    }

    override fun getRange(kind: ObjectKind, name: String, offset: ULong, length: ULong): ByteArray? = io("get $name") {
        val p = path(kind, name)
        if (!Files.exists(p)) return@io null
        RandomAccessFile(p.toFile(), "r").use { f ->
            val buf = ByteArray(length.toInt())
            f.seek(offset.toLong())
            f.readFully(buf)
            buf
        }
    }

    override fun size(kind: ObjectKind, name: String): ULong? = io("stat $name") {
        val p = path(kind, name)
        if (Files.exists(p)) Files.size(p).toULong() else null
    }

    override fun list(kind: ObjectKind): List<ObjectEntry> = io("list $kind") {
        val d = dir(kind)
        if (!Files.isDirectory(d)) return@io emptyList()
        val files = if (kind == ObjectKind.PACK) {
            Files.list(d).use { subs -> subs.filter { Files.isDirectory(it) }.toList() }.flatMap { sub -> Files.list(sub).use { it.toList() } }
        } else if (kind == ObjectKind.CONFIG) {
            listOf(d.resolve("config")).filter { Files.exists(it) }
        } else {
            Files.list(d).use { it.toList() }
        }
        files.filter { Files.isRegularFile(it) && !it.fileName.toString().startsWith(".tmp-") }
            .map { ObjectEntry(it.fileName.toString(), Files.size(it).toULong()) }
    }

    override fun delete(kind: ObjectKind, name: String) = io("delete $name") {
        Files.deleteIfExists(path(kind, name))
        Unit
    }
}
